#include "runtime/tensor.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "ir/error.h"

namespace rnnc {

Tensor::Tensor(TensorType type)
    : type_(std::move(type)), bytes_(type_.num_elements() * ir::dtype_size(type_.dtype), 0) {}

Tensor Tensor::from_doubles(DType dtype, Shape shape, const std::vector<double>& values) {
  Tensor tensor(dtype, std::move(shape));
  assert(static_cast<int64_t>(values.size()) == tensor.num_elements());
  for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, values[i]);
  return tensor;
}

Tensor Tensor::from_floats(Shape shape, const std::vector<float>& values) {
  Tensor tensor(DType::f32, std::move(shape));
  assert(static_cast<int64_t>(values.size()) == tensor.num_elements());
  std::copy(values.begin(), values.end(), tensor.data<float>());
  return tensor;
}

Tensor Tensor::from_ints(Shape shape, const std::vector<int32_t>& values) {
  Tensor tensor(DType::i32, std::move(shape));
  assert(static_cast<int64_t>(values.size()) == tensor.num_elements());
  std::copy(values.begin(), values.end(), tensor.data<int32_t>());
  return tensor;
}

Tensor Tensor::scalar(DType dtype, double value) { return from_doubles(dtype, {}, {value}); }

double Tensor::get(int64_t i) const {
  switch (type_.dtype) {
    case DType::f32:
      return data<float>()[i];
    case DType::f64:
      return data<double>()[i];
    case DType::i32:
      return data<int32_t>()[i];
  }
  return 0;
}

void Tensor::set(int64_t i, double value) {
  switch (type_.dtype) {
    case DType::f32:
      data<float>()[i] = static_cast<float>(value);
      return;
    case DType::f64:
      data<double>()[i] = value;
      return;
    case DType::i32:
      data<int32_t>()[i] = static_cast<int32_t>(value);
      return;
  }
}

std::vector<double> Tensor::to_doubles() const {
  std::vector<double> values(num_elements());
  for (int64_t i = 0; i < num_elements(); ++i) values[i] = get(i);
  return values;
}

Tensor Tensor::cast(DType dtype) const {
  Tensor out(dtype, shape());
  for (int64_t i = 0; i < num_elements(); ++i) out.set(i, get(i));
  return out;
}

Tensor Tensor::reshaped(Shape shape) const {
  assert(ir::num_elements(shape) == num_elements());
  Tensor out = *this;
  out.type_.shape = std::move(shape);
  return out;
}

double max_relative_difference(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw Error("comparing tensors of shapes " + ir::shape_to_string(a.shape()) + " and " +
                ir::shape_to_string(b.shape()));
  double worst = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    double x = a.get(i), y = b.get(i);
    if (std::isnan(x) != std::isnan(y)) return INFINITY;
    if (std::isnan(x)) continue;
    worst = std::max(worst, std::abs(x - y) / std::max(1.0, std::abs(y)));
  }
  return worst;
}

}  // namespace rnnc
