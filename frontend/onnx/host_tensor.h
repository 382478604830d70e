#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/types.h"
#include "runtime/tensor.h"

namespace onnx {
class TensorProto;
}

namespace rnnc::onnx_import {

/// Largest number of elements of any tensor the importer accepts (dimensions beyond this
/// are "absurd": a corrupt or hostile file, not a recurrent network).
constexpr int64_t kMaxElements = int64_t{1} << 31;
/// Largest tensor the importer computes on the host while folding constants.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 24;

/// A tensor whose values the importer knows: an initializer, a Constant, a graph input fixed
/// at import, or the result of folding. Integers (ONNX's int64 index type, int32, bool) keep
/// 64 bits here; they become i32 only when they enter the IR, with a range check.
struct HostTensor {
  bool is_int = false;
  /// The IR dtype the tensor becomes: f32 or f64 for floats, i32 for integers.
  ir::DType dtype = ir::DType::f32;
  ir::Shape shape;
  std::vector<double> floats;  ///< the elements, when !is_int
  std::vector<int64_t> ints;   ///< the elements, when is_int

  int64_t size() const { return ir::num_elements(shape); }
  ir::TensorType type() const { return {dtype, shape}; }
  /// Element `i` as a double (ints converted).
  double get(int64_t i) const;

  /// An integer tensor of `shape` holding `values`.
  static HostTensor of_ints(ir::Shape shape, std::vector<int64_t> values);
  /// A float tensor of `dtype` and `shape` holding `values`.
  static HostTensor of_floats(ir::DType dtype, ir::Shape shape, std::vector<double> values);
};

/// The IR dtype of ONNX element type `elem_type`, or throws rnnc::Error ("`what`: element
/// type NAME is not supported").
ir::DType dtype_of_onnx(int elem_type, bool& is_int, const std::string& what);

/// The number of elements of `dims`, checked: every dimension >= 0 and the product at most
/// kMaxElements; throws rnnc::Error naming `what` otherwise.
int64_t checked_num_elements(const std::vector<int64_t>& dims, const std::string& what);

/// Decodes `proto`. External data is read from `base_dir` (which must be non-empty) and
/// never from outside it. `what` names the tensor in errors.
HostTensor decode_tensor(const onnx::TensorProto& proto, const std::string& base_dir,
                         const std::string& what);

/// `tensor` as a runtime Tensor (integers narrowed to i32, checked: `what` names it).
Tensor to_runtime_tensor(const HostTensor& tensor, const std::string& what);
/// A runtime Tensor as a HostTensor.
HostTensor from_runtime_tensor(const Tensor& tensor);

/// Elements of `source` picked by flat `index` (one per element of `shape`): the common
/// form of every data-movement op when folded on the host.
HostTensor take(const HostTensor& source, ir::Shape shape, const std::vector<int64_t>& index);

}  // namespace rnnc::onnx_import
