// Gradient rules of the data movement ops: each adjoint moves g back to where the operand's
// elements came from (summing where one element was copied to several places).
#include <cassert>

#include "ir/builder.h"
#include "passes/autodiff/rules.h"

namespace rnnc::passes::autodiff {

namespace build = ir::build;
using ir::Shape;
using ir::Value;

OperandGradients broadcast_gradient(const ir::Node& node, Value* grad) {
  const Shape& in = node.operand(0)->shape();
  const Shape& out = grad->shape();
  size_t offset = out.size() - in.size();
  std::vector<int64_t> axes;
  for (size_t axis = 0; axis < offset; ++axis) axes.push_back(static_cast<int64_t>(axis));
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] != out[offset + i]) axes.push_back(static_cast<int64_t>(offset + i));
  if (axes.empty()) return {grad};
  Value* summed = build::reduce_sum(grad, axes);
  // Stretched size-1 dimensions vanished in the reduction: put them back.
  if (summed->shape() != in) summed = build::reshape(summed, in);
  return {summed};
}

OperandGradients reshape_gradient(const ir::Node& node, Value* grad) {
  return {build::reshape(grad, node.operand(0)->shape())};
}

OperandGradients transpose_gradient(const ir::Node& node, Value* grad) {
  const std::vector<int64_t>& perm = node.attrs().get_ints("perm");
  std::vector<int64_t> inverse(perm.size());
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) {
    inverse[perm[i]] = static_cast<int64_t>(i);
    identity = identity && perm[i] == static_cast<int64_t>(i);
  }
  if (identity) return {grad};
  return {build::transpose(grad, inverse)};
}

OperandGradients slice_gradient(const ir::Node& node, Value* grad) {
  const Shape& in = node.operand(0)->shape();
  const std::vector<int64_t>& starts = node.attrs().get_ints("starts");
  const std::vector<int64_t>& ends = node.attrs().get_ints("ends");
  std::vector<int64_t> high(in.size());
  for (size_t i = 0; i < in.size(); ++i) high[i] = in[i] - ends[i];
  return {build::pad(grad, starts, high)};
}

OperandGradients pad_gradient(const ir::Node& node, Value* grad) {
  const Shape& in = node.operand(0)->shape();
  const std::vector<int64_t>& low = node.attrs().get_ints("low");
  std::vector<int64_t> ends(in.size());
  for (size_t i = 0; i < in.size(); ++i) ends[i] = low[i] + in[i];
  return {build::slice(grad, low, ends)};
}

OperandGradients concat_gradient(const ir::Node& node, Value* grad) {
  int64_t axis = node.attrs().get_int("axis");
  std::vector<int64_t> starts(grad->shape().size(), 0);
  std::vector<int64_t> ends = grad->shape();
  OperandGradients grads;
  int64_t position = 0;
  for (Value* part : node.operands()) {
    starts[axis] = position;
    position += part->shape()[axis];
    ends[axis] = position;
    grads.push_back(node.operands().size() == 1 ? grad : build::slice(grad, starts, ends));
  }
  assert(position == grad->shape()[axis]);
  return grads;
}

}  // namespace rnnc::passes::autodiff
