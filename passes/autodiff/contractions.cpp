// Gradient rules of matmul, gather and scatter_add.
#include "ir/builder.h"
#include "passes/autodiff/rules.h"

namespace rnnc::passes::autodiff {

namespace build = ir::build;
using ir::Value;

OperandGradients matmul_gradient(const ir::Node& node, Value* grad) {
  Value* a = node.operand(0);
  Value* b = node.operand(1);
  bool transpose_a = node.attrs().get_int("transpose_a") != 0;
  bool transpose_b = node.attrs().get_int("transpose_b") != 0;
  // With A' = op(A), B' = op(B) and C = A' B': dA' = G B'^T and dB' = A'^T G; an operand
  // stored transposed takes the transpose of its adjoint, (X Y)^T = Y^T X^T. Batch dimensions
  // are equal on both sides, so nothing is summed over them.
  if (!transpose_a && !transpose_b)
    return {build::matmul(grad, b, false, true), build::matmul(a, grad, true, false)};
  if (!transpose_a && transpose_b)
    return {build::matmul(grad, b, false, false), build::matmul(grad, a, true, false)};
  if (transpose_a && !transpose_b)
    return {build::matmul(b, grad, false, true), build::matmul(a, grad, false, false)};
  return {build::matmul(b, grad, true, true), build::matmul(grad, a, true, true)};
}

OperandGradients gather_gradient(const ir::Node& node, Value* grad) {
  Value* table = node.operand(0);
  return {build::scatter_add(node.operand(1), grad, table->shape()), nullptr};
}

OperandGradients scatter_add_gradient(const ir::Node& node, Value* grad) {
  return {nullptr, build::gather(grad, node.operand(0))};
}

}  // namespace rnnc::passes::autodiff
