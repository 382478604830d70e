// Gradient rules of the reductions: the result adjoint is spread back over the reduced axes.
#include "ir/builder.h"
#include "passes/autodiff/rules.h"

namespace rnnc::passes::autodiff {

namespace build = ir::build;
using ir::Shape;
using ir::Value;

namespace {

/// `reduced` (the operand shape with `axes` removed) brought back to the operand's shape
/// `shape`: reshaped to keep the reduced axes as size 1, then broadcast along them.
Value* expand_reduced(Value* reduced, const Shape& shape, const std::vector<int64_t>& axes) {
  if (axes.empty()) return reduced;
  Shape kept = shape;
  for (int64_t axis : axes) kept[axis] = 1;
  Value* expanded = reduced->shape() == kept ? reduced : build::reshape(reduced, kept);
  return kept == shape ? expanded : build::broadcast(expanded, shape);
}

}  // namespace

OperandGradients reduce_sum_gradient(const ir::Node& node, Value* grad) {
  return {expand_reduced(grad, node.operand(0)->shape(), node.attrs().get_ints("axes"))};
}

OperandGradients reduce_mean_gradient(const ir::Node& node, Value* grad) {
  const Shape& shape = node.operand(0)->shape();
  const std::vector<int64_t>& axes = node.attrs().get_ints("axes");
  int64_t count = 1;
  for (int64_t axis : axes) count *= shape[axis];
  Value* scaled = grad;
  if (count != 1) scaled = build::div(grad, build::full_like(grad, static_cast<double>(count)));
  return {expand_reduced(scaled, shape, axes)};
}

OperandGradients reduce_max_gradient(const ir::Node& node, Value* grad) {
  Value* x = node.operand(0);
  const std::vector<int64_t>& axes = node.attrs().get_ints("axes");
  if (axes.empty()) return {grad};
  Value* is_max = build::equal(x, expand_reduced(node.result(), x->shape(), axes));
  Value* ties = build::reduce_sum(is_max, axes);
  Value* share = build::div(grad, ties);
  return {build::mul(expand_reduced(share, x->shape(), axes), is_max)};
}

}  // namespace rnnc::passes::autodiff
