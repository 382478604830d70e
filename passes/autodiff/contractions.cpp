// Gradient rules of matmul, gather, scatter_add, coalesce_rows and scatter_rows.
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

OperandGradients coalesce_rows_gradient(const ir::Node& node, Value* grad) {
  // Update row k lands at the first position of its index, so its adjoint is g at that
  // position: scatter_rows puts g's first-position row at each index, gather reads it back.
  Value* indices = node.operand(0);
  const ir::TensorType& updates = node.operand(1)->type();
  ir::Shape table_shape{node.attrs().get_int("rows")};
  table_shape.insert(table_shape.end(), updates.shape.begin() + indices->type().rank(),
                     updates.shape.end());
  Value* zeros = build::full(*grad->producer()->owner(), {updates.dtype, table_shape}, 0.0);
  return {nullptr, build::gather(build::scatter_rows(zeros, indices, grad), indices)};
}

OperandGradients scatter_rows_gradient(const ir::Node& node, Value* grad) {
  // The table keeps the rows no index writes; each written row comes from the first position
  // of its index (the positions where coalescing ones leaves a non-zero count).
  Value* indices = node.operand(1);
  const ir::TensorType& rows = node.operand(2)->type();
  ir::Graph& graph = *grad->producer()->owner();
  Value* table_grad = build::scatter_rows(grad, indices, build::full(graph, rows, 0.0));
  Value* counts =
      build::coalesce_rows(indices, build::full(graph, {rows.dtype, indices->shape()}, 1.0),
                           node.operand(0)->shape()[0]);
  Value* first = build::greater(counts, build::full(graph, counts->type(), 0.0));
  ir::Shape first_shape = indices->shape();
  first_shape.resize(rows.rank(), 1);
  Value* first_rows = build::broadcast(build::reshape(first, first_shape), rows.shape);
  Value* rows_grad =
      build::select(first_rows, build::gather(grad, indices), build::full(graph, rows, 0.0));
  return {table_grad, nullptr, rows_grad};
}

}  // namespace rnnc::passes::autodiff
