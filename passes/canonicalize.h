#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Brings a graph to a canonical form: repeats simplify_algebra, fold_constants,
/// eliminate_common_subexpressions and eliminate_dead_code (passes/simplify.h,
/// fold_constants.h, cse.h, dce.h say what each does) until a round changes nothing, so that
/// running it again changes nothing. Works inside body graphs too, never changing the number
/// or order of a body's inputs and outputs, nor the graph's inputs, parameters, outputs and
/// updates. The numbers the graph computes stay the same (signed zeros aside, see
/// simplify_algebra). Constant folding needs context.evaluator. Returns true when anything
/// changed.
bool canonicalize(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
