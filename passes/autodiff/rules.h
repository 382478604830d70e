#pragma once
#include <functional>
#include <vector>

#include "ir/graph.h"

/// Gradient rules of the symbolic backward pass (passes/autodiff.h): for one forward node and
/// the adjoint of its result, the adjoints of its operands, built from IR primitives appended
/// to the node's graph. One file per op family; `operand_gradients` dispatches.
namespace rnnc::passes::autodiff {

/// Operand adjoints of one node: one entry per operand, each of that operand's type, or null
/// where no gradient flows (integer operands, non-differentiable ops). Rules may compute
/// adjoints of operands the caller does not need; the caller removes nodes left unused.
using OperandGradients = std::vector<ir::Value*>;

/// What the backward pass tells a rule beyond its node and result adjoints, and what it lets a
/// rule do to the forward graph. Only the scan rule needs it: a loop's backward pays for every
/// adjoint it carries, and it reads residuals that the forward scan must be changed to stack.
struct RuleContext {
  /// Per operand of the node: whether the pass uses its adjoint (a rule may skip the others).
  std::vector<bool> operand_needed;
  /// Rebuilds the forward node in place (ir::Graph::rebuild_node) so that it computes what it
  /// did plus extra results appended after its own: every pointer to its results stays
  /// valid. The pass restores topological order when it finishes (the new operands may be
  /// appended nodes).
  std::function<void(const ir::Node& node, std::vector<ir::Value*> operands, ir::Attributes attrs,
                     std::vector<std::unique_ptr<ir::Graph>> bodies,
                     const std::vector<std::string>& new_result_names)>
      rebuild_forward;
};

/// The adjoints of `node`'s operands given `result_grads`, one adjoint per result of `node`
/// (null for a result the loss does not depend on; at least one is set). The only switch
/// over ir::OpKind of the backward pass.
OperandGradients operand_gradients(const ir::Node& node,
                                   const std::vector<ir::Value*>& result_grads,
                                   const RuleContext& context);

// Each rule below takes the node and the adjoint `grad` of its (single) result, of the
// result's type, and returns the operand adjoints.

// Elementwise (elementwise.cpp).
/// neg: -g.
OperandGradients neg_gradient(const ir::Node& node, ir::Value* grad);
/// abs: g * sign(x).
OperandGradients abs_gradient(const ir::Node& node, ir::Value* grad);
/// exp: g * y.
OperandGradients exp_gradient(const ir::Node& node, ir::Value* grad);
/// log: g / x.
OperandGradients log_gradient(const ir::Node& node, ir::Value* grad);
/// sqrt: g * 0.5 / y.
OperandGradients sqrt_gradient(const ir::Node& node, ir::Value* grad);
/// tanh: g * (1 - y^2).
OperandGradients tanh_gradient(const ir::Node& node, ir::Value* grad);
/// sigmoid: g * y * (1 - y).
OperandGradients sigmoid_gradient(const ir::Node& node, ir::Value* grad);
/// relu: g * greater(x, 0).
OperandGradients relu_gradient(const ir::Node& node, ir::Value* grad);
/// cast between float types: g cast back; none when either side is an integer type.
OperandGradients cast_gradient(const ir::Node& node, ir::Value* grad);
/// add: g, g.
OperandGradients add_gradient(const ir::Node& node, ir::Value* grad);
/// sub: g, -g.
OperandGradients sub_gradient(const ir::Node& node, ir::Value* grad);
/// mul: g * b, g * a.
OperandGradients mul_gradient(const ir::Node& node, ir::Value* grad);
/// div: g / b, -g * y / b.
OperandGradients div_gradient(const ir::Node& node, ir::Value* grad);
/// pow: g * b * a^(b - 1), g * y * log(a).
OperandGradients pow_gradient(const ir::Node& node, ir::Value* grad);
/// max and min: g goes to the operand the op selected (the first one on ties, as the
/// interpreter's std::max/std::min do).
OperandGradients max_min_gradient(const ir::Node& node, ir::Value* grad);
/// select(c, a, b): none for c, select(c, g, 0), select(c, 0, g).
OperandGradients select_gradient(const ir::Node& node, ir::Value* grad);

// Layout (layout.cpp).
/// broadcast: reduce_sum over the broadcast axes, reshaped to the operand's shape.
OperandGradients broadcast_gradient(const ir::Node& node, ir::Value* grad);
/// reshape: g reshaped to the operand's shape.
OperandGradients reshape_gradient(const ir::Node& node, ir::Value* grad);
/// transpose: g transposed by the inverse permutation.
OperandGradients transpose_gradient(const ir::Node& node, ir::Value* grad);
/// slice: g padded with zeros back to the operand's shape.
OperandGradients slice_gradient(const ir::Node& node, ir::Value* grad);
/// pad: the slice of g that the operand occupies.
OperandGradients pad_gradient(const ir::Node& node, ir::Value* grad);
/// concat: the slice of g each part occupies.
OperandGradients concat_gradient(const ir::Node& node, ir::Value* grad);

// Reductions (reductions.cpp).
/// reduce_sum: g broadcast back over the reduced axes.
OperandGradients reduce_sum_gradient(const ir::Node& node, ir::Value* grad);
/// reduce_mean: g / count broadcast back over the reduced axes.
OperandGradients reduce_mean_gradient(const ir::Node& node, ir::Value* grad);
/// reduce_max: g routed to the positions equal to the maximum, shared evenly among ties
/// (so the adjoint sums to g, a valid subgradient).
OperandGradients reduce_max_gradient(const ir::Node& node, ir::Value* grad);

// Contractions and indexing (contractions.cpp).
/// matmul, any transpose flags and batch dimensions: two matmuls with adjusted flags.
OperandGradients matmul_gradient(const ir::Node& node, ir::Value* grad);
/// gather: scatter_add of g into the table's shape; none for the indices.
OperandGradients gather_gradient(const ir::Node& node, ir::Value* grad);
/// scatter_add: none for the indices, gather of g at the indices for the updates.
OperandGradients scatter_add_gradient(const ir::Node& node, ir::Value* grad);
/// coalesce_rows: none for the indices; for the updates, g's first-position row of each
/// index (scatter_rows into zeros, then gather).
OperandGradients coalesce_rows_gradient(const ir::Node& node, ir::Value* grad);
/// scatter_rows: the table's adjoint is g with the written rows zeroed; a row's adjoint is g
/// at its index where it is its index's first position, zero elsewhere; none for the indices.
OperandGradients scatter_rows_gradient(const ir::Node& node, ir::Value* grad);

// Recurrence (scan.cpp).
/// scan: a scan in the opposite direction over the vector-Jacobian product of the body, reading
/// the residuals the forward scan stacks (the forward node is replaced through
/// `context.replace_forward` by one that stacks them). Takes one adjoint per result (null where
/// none flows). See scan.cpp for the construction and the handling of lengths.
OperandGradients scan_gradient(const ir::Node& node, const std::vector<ir::Value*>& result_grads,
                               const RuleContext& context);

// Fusion (fused.cpp).
/// fused: the vector-Jacobian product of the body (seeded at the results with an adjoint),
/// inlined into the node's graph with the body inputs read from the operands and the body
/// outputs from the node's results. Takes one adjoint per result (null where none flows).
OperandGradients fused_gradient(const ir::Node& node, const std::vector<ir::Value*>& result_grads,
                                const RuleContext& context);

}  // namespace rnnc::passes::autodiff
