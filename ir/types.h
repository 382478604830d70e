#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rnnc::ir {

/// Element types of tensors. i32 is the index type (labels, token ids, lengths).
enum class DType { f32, f64, i32 };

/// "f32", "f64", "i32".
std::string_view dtype_name(DType dtype);
/// The dtype named `name`, or nothing.
std::optional<DType> parse_dtype(std::string_view name);
/// Bytes per element.
int64_t dtype_size(DType dtype);
/// True for f32 and f64.
bool is_float(DType dtype);

/// A static shape: row-major dimensions; a scalar has none.
using Shape = std::vector<int64_t>;

/// Number of elements of `shape` (1 for a scalar).
int64_t num_elements(const Shape& shape);
/// "[2, 3]" style text of a shape.
std::string shape_to_string(const Shape& shape);
/// Row-major strides, in elements.
std::vector<int64_t> row_major_strides(const Shape& shape);

/// The type of every IR value: element type and static shape.
struct TensorType {
  DType dtype = DType::f32;
  Shape shape;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t num_elements() const { return ir::num_elements(shape); }
  bool operator==(const TensorType&) const = default;
  /// "f32[2, 3]" (the text IR spelling).
  std::string to_string() const;
};

}  // namespace rnnc::ir
