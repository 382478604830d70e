#include "passes/canonicalize.h"

#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/fold_constants.h"
#include "passes/simplify.h"

namespace rnnc::passes {
namespace {

/// Every round strictly shrinks or simplifies the graph, so a fixed point comes quickly; the
/// bound only guards against a rule pair that would undo each other.
constexpr int kMaxRounds = 64;

}  // namespace

bool canonicalize(ir::Graph& graph, const PassContext& context) {
  bool changed = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    bool round_changed = eliminate_dead_code(graph, context);
    round_changed = simplify_algebra(graph, context) || round_changed;
    round_changed = fold_constants(graph, context) || round_changed;
    round_changed = eliminate_common_subexpressions(graph, context) || round_changed;
    round_changed = eliminate_dead_code(graph, context) || round_changed;
    if (!round_changed) break;
    changed = true;
  }
  return changed;
}

}  // namespace rnnc::passes
