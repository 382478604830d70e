#pragma once
#include <cstdint>
#include <vector>

#include "ir/graph.h"

/// Batching over time for hoist-scan-invariants: one node of a scan body, whose operands are
/// per-step slices or loop invariants, computed for all T steps at once outside the loop.
namespace rnnc::passes::hoist {

/// True when `node` (of a scan body) can be computed for every step at once, given which of
/// its operands vary per step (`per_step`; the others are loop invariants). Nodes that cannot
/// (a scatter-add, a nested scan, a gather from a per-step table, a matmul whose per-step
/// operand cannot be flattened over time) stay in the loop.
bool can_batch(const ir::Node& node, const std::vector<bool>& per_step);

/// Appends to `graph` the nodes computing `node` for all `steps` steps: the stacked [T, ...]
/// value whose row t is the node's result at step t. `operands` are values of `graph`: for
/// per-step operands their stack [T, ...], for the others the invariant value itself
/// (broadcast over time where the op needs it). Requires can_batch(node, per_step).
ir::Value* build_batched(ir::Graph& graph, const ir::Node& node,
                         const std::vector<ir::Value*>& operands, const std::vector<bool>& per_step,
                         int64_t steps);

/// sum over t of op_a(a_t) op_b(b_t) (a matmul with rank-2 operands, transposed as the flags
/// say) as one matmul of the time-flattened stacks `a_stack` [T, ...] and `b_stack` [T, ...]
/// (values of `graph`): the contraction runs over time and the original inner dimension.
ir::Value* summed_matmul(ir::Value* a_stack, ir::Value* b_stack, bool transpose_a,
                         bool transpose_b);

}  // namespace rnnc::passes::hoist
