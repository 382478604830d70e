#include "passes/dce.h"

#include <unordered_set>

#include "ir/graph_algorithms.h"

namespace rnnc::passes {

bool eliminate_dead_code(ir::Graph& graph, const PassContext& context) {
  std::vector<ir::Node*> live = ir::live_nodes(graph);
  std::unordered_set<const ir::Node*> keep(live.begin(), live.end());
  auto is_dead = [&](const ir::Node& node) {
    bool interface = node.kind() == ir::OpKind::Input || node.kind() == ir::OpKind::Parameter;
    return !interface && !keep.count(&node);
  };
  bool changed = false;
  for (const auto& node : graph.nodes()) changed = changed || is_dead(*node);
  if (changed) graph.erase_nodes_if(is_dead);
  for (const auto& node : graph.nodes())
    for (const auto& body : node->bodies())
      changed = eliminate_dead_code(*body, context) || changed;
  return changed;
}

}  // namespace rnnc::passes
