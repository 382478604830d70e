#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Constant folding: a node whose operands are all constants (Constant or Iota) becomes a
/// Constant holding its value, computed by context.evaluator (the interpreter's kernels; see
/// ConstantEvaluator for why they come through an interface). Nodes with body graphs are not
/// folded. Limits keep huge constants out of the graph: a node is folded only when its result
/// and each operand have at most context.fold_limit_elements elements, except where every
/// operand is a splat (all elements equal) and the op is elementwise or only moves data
/// (broadcast, reshape, transpose, slice, concat): then the result is a splat, computed once
/// and stored as one value whatever its size. Constants whose elements are all bitwise equal
/// are rewritten as splats, so that equal constants look equal to cse. When the evaluator
/// reports bad data (an index out of range, an integer division by zero) the node is left
/// for run time to report. Runs inside body graphs too; the folded nodes are left unused,
/// for dce. Without an evaluator only the splat rewriting of constants happens.
bool fold_constants(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
