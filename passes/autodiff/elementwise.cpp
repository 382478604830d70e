// Gradient rules of the elementwise ops. Operands and result share one shape, so every
// adjoint is an elementwise expression of the result adjoint g, the operands and the result y.
#include "ir/builder.h"
#include "passes/autodiff/rules.h"

namespace rnnc::passes::autodiff {

namespace build = ir::build;
using ir::Value;

namespace {

Value* operand(const ir::Node& node, size_t i) { return node.operand(i); }
Value* result(const ir::Node& node) { return node.result(); }

}  // namespace

OperandGradients neg_gradient(const ir::Node&, Value* grad) { return {build::neg(grad)}; }

OperandGradients abs_gradient(const ir::Node& node, Value* grad) {
  return {build::mul(grad, build::sign(operand(node, 0)))};
}

OperandGradients exp_gradient(const ir::Node& node, Value* grad) {
  return {build::mul(grad, result(node))};
}

OperandGradients log_gradient(const ir::Node& node, Value* grad) {
  return {build::div(grad, operand(node, 0))};
}

OperandGradients sqrt_gradient(const ir::Node& node, Value* grad) {
  Value* half = build::full_like(grad, 0.5);
  return {build::div(build::mul(grad, half), result(node))};
}

OperandGradients tanh_gradient(const ir::Node& node, Value* grad) {
  Value* y = result(node);
  Value* one = build::full_like(y, 1.0);
  return {build::mul(grad, build::sub(one, build::mul(y, y)))};
}

OperandGradients sigmoid_gradient(const ir::Node& node, Value* grad) {
  Value* y = result(node);
  Value* one = build::full_like(y, 1.0);
  return {build::mul(build::mul(grad, y), build::sub(one, y))};
}

OperandGradients relu_gradient(const ir::Node& node, Value* grad) {
  Value* x = operand(node, 0);
  Value* positive = build::greater(x, build::full_like(x, 0.0));
  return {build::mul(grad, positive)};
}

OperandGradients cast_gradient(const ir::Node& node, Value* grad) {
  Value* x = operand(node, 0);
  if (!ir::is_float(x->dtype()) || !ir::is_float(grad->dtype())) return {nullptr};
  if (x->dtype() == grad->dtype()) return {grad};
  return {build::cast(grad, x->dtype())};
}

OperandGradients add_gradient(const ir::Node&, Value* grad) { return {grad, grad}; }

OperandGradients sub_gradient(const ir::Node&, Value* grad) { return {grad, build::neg(grad)}; }

OperandGradients mul_gradient(const ir::Node& node, Value* grad) {
  return {build::mul(grad, operand(node, 1)), build::mul(grad, operand(node, 0))};
}

OperandGradients div_gradient(const ir::Node& node, Value* grad) {
  Value* b = operand(node, 1);
  // d(a/b)/db = -a/b^2 = -y/b.
  return {build::div(grad, b), build::neg(build::div(build::mul(grad, result(node)), b))};
}

OperandGradients pow_gradient(const ir::Node& node, Value* grad) {
  Value* a = operand(node, 0);
  Value* b = operand(node, 1);
  // a^(b-1) rather than y/a keeps the base's adjoint finite at a = 0.
  Value* b_minus_one = build::sub(b, build::full_like(b, 1.0));
  Value* grad_a = build::mul(grad, build::mul(b, build::pow(a, b_minus_one)));
  Value* grad_b = build::mul(build::mul(grad, result(node)), build::log(a));
  return {grad_a, grad_b};
}

OperandGradients max_min_gradient(const ir::Node& node, Value* grad) {
  Value* a = operand(node, 0);
  Value* b = operand(node, 1);
  // The second operand is selected only where it is strictly better.
  Value* b_selected = node.kind() == ir::OpKind::Max ? build::less(a, b) : build::greater(a, b);
  Value* grad_b = build::mul(grad, b_selected);
  return {build::sub(grad, grad_b), grad_b};
}

OperandGradients select_gradient(const ir::Node& node, Value* grad) {
  Value* condition = operand(node, 0);
  Value* zero = build::full_like(grad, 0.0);
  return {nullptr, build::select(condition, grad, zero), build::select(condition, zero, grad)};
}

}  // namespace rnnc::passes::autodiff
