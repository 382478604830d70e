#pragma once
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "ir/types.h"
#include "runtime/host_memory.h"

namespace rnnc {

using ir::DType;
using ir::Shape;
using ir::TensorType;

/// A dense row-major tensor owning its bytes: what backends read and write, what .npy files
/// hold, what users bind to a graph's inputs and parameters.
class Tensor {
 public:
  Tensor() = default;
  /// Zeros of `type`.
  explicit Tensor(TensorType type);
  Tensor(DType dtype, Shape shape) : Tensor(TensorType{dtype, std::move(shape)}) {}

  /// A tensor of `dtype` and `shape` holding `values` (converted; one per element).
  static Tensor from_doubles(DType dtype, Shape shape, const std::vector<double>& values);
  static Tensor from_floats(Shape shape, const std::vector<float>& values);
  static Tensor from_ints(Shape shape, const std::vector<int32_t>& values);
  /// A scalar.
  static Tensor scalar(DType dtype, double value);

  const TensorType& type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape& shape() const { return type_.shape; }
  int64_t num_elements() const { return type_.num_elements(); }
  int64_t num_bytes() const { return static_cast<int64_t>(bytes_.size()); }

  void* raw() { return bytes_.data(); }
  const void* raw() const { return bytes_.data(); }
  template <class T>
  T* data() {
    return reinterpret_cast<T*>(bytes_.data());
  }
  template <class T>
  const T* data() const {
    return reinterpret_cast<const T*>(bytes_.data());
  }

  /// Element `i` (flat, row-major) as a double, whatever the dtype.
  double get(int64_t i) const;
  /// Stores `value` at flat index `i`, converted to the dtype (i32 truncates toward zero).
  void set(int64_t i, double value);
  /// Every element as a double.
  std::vector<double> to_doubles() const;
  /// The same values in another dtype.
  Tensor cast(DType dtype) const;
  /// The same data with another shape of equal element count.
  Tensor reshaped(Shape shape) const;

 private:
  TensorType type_;
  /// On a cache line; from 2 MiB on, on huge pages (runtime/host_memory.h): backends read and
  /// write tensors in place.
  std::vector<unsigned char, HostAllocator<unsigned char>> bytes_;
};

/// Tensors by name: a graph's inputs, outputs, parameters and optimizer state.
using Bindings = std::map<std::string, Tensor>;

/// The largest |a - b| / max(1, |b|) over all elements (shapes must match).
double max_relative_difference(const Tensor& a, const Tensor& b);

}  // namespace rnnc
