#include <cassert>

#include "passes/autodiff/rules.h"

namespace rnnc::passes::autodiff {

OperandGradients operand_gradients(const ir::Node& node,
                                   const std::vector<ir::Value*>& result_grads,
                                   const RuleContext& context) {
  using ir::OpKind;
  assert(result_grads.size() == node.num_results());
  assert(node.kind() == OpKind::Scan || node.kind() == OpKind::Fused ||
         (node.num_results() == 1 && result_grads[0]));
  ir::Value* grad = result_grads[0];
  OperandGradients none(node.operands().size(), nullptr);
  switch (node.kind()) {
    // Sources have no operands.
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
      return none;
    // Piecewise constant: zero gradient almost everywhere.
    case OpKind::Sign:
    case OpKind::Greater:
    case OpKind::Less:
    case OpKind::Equal:
      return none;
    case OpKind::Neg:
      return neg_gradient(node, grad);
    case OpKind::Abs:
      return abs_gradient(node, grad);
    case OpKind::Exp:
      return exp_gradient(node, grad);
    case OpKind::Log:
      return log_gradient(node, grad);
    case OpKind::Sqrt:
      return sqrt_gradient(node, grad);
    case OpKind::Tanh:
      return tanh_gradient(node, grad);
    case OpKind::Sigmoid:
      return sigmoid_gradient(node, grad);
    case OpKind::Relu:
      return relu_gradient(node, grad);
    case OpKind::Cast:
      return cast_gradient(node, grad);
    case OpKind::Add:
      return add_gradient(node, grad);
    case OpKind::Sub:
      return sub_gradient(node, grad);
    case OpKind::Mul:
      return mul_gradient(node, grad);
    case OpKind::Div:
      return div_gradient(node, grad);
    case OpKind::Pow:
      return pow_gradient(node, grad);
    case OpKind::Max:
    case OpKind::Min:
      return max_min_gradient(node, grad);
    case OpKind::Select:
      return select_gradient(node, grad);
    case OpKind::Broadcast:
      return broadcast_gradient(node, grad);
    case OpKind::Reshape:
      return reshape_gradient(node, grad);
    case OpKind::Transpose:
      return transpose_gradient(node, grad);
    case OpKind::Slice:
      return slice_gradient(node, grad);
    case OpKind::Pad:
      return pad_gradient(node, grad);
    case OpKind::Concat:
      return concat_gradient(node, grad);
    case OpKind::ReduceSum:
      return reduce_sum_gradient(node, grad);
    case OpKind::ReduceMean:
      return reduce_mean_gradient(node, grad);
    case OpKind::ReduceMax:
      return reduce_max_gradient(node, grad);
    case OpKind::MatMul:
      return matmul_gradient(node, grad);
    case OpKind::Gather:
      return gather_gradient(node, grad);
    case OpKind::ScatterAdd:
      return scatter_add_gradient(node, grad);
    case OpKind::CoalesceRows:
      return coalesce_rows_gradient(node, grad);
    case OpKind::ScatterRows:
      return scatter_rows_gradient(node, grad);
    case OpKind::Scan:
      return scan_gradient(node, result_grads, context);
    case OpKind::Fused:
      return fused_gradient(node, result_grads, context);
  }
  assert(false && "unhandled op");
  return none;
}

}  // namespace rnnc::passes::autodiff
