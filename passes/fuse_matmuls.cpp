#include "passes/fuse_matmuls.h"

#include "passes/fuse_matmuls/fusion.h"

namespace rnnc::passes {

bool fuse_matmuls(ir::Graph& graph, const PassContext& context) {
  bool changed = false;
  for (const auto& node : graph.nodes())
    for (const auto& body : node->bodies()) changed = fuse_matmuls(*body, context) || changed;
  // Every round removes at least one product, so this ends.
  for (;;) {
    fusion::Sweep sums(graph);
    fusion::fuse_sums_of_products(sums);
    bool round = sums.finish();
    fusion::Sweep shared(graph);
    fusion::fuse_shared_operands(shared);
    round = shared.finish() || round;
    if (!round) break;
    changed = true;
  }
  return changed;
}

}  // namespace rnnc::passes
