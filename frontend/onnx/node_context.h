#pragma once
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/onnx/host_tensor.h"
#include "ir/error.h"
#include "ir/graph.h"

namespace onnx {
class NodeProto;
class AttributeProto;
class TensorProto;
}  // namespace onnx

namespace rnnc::onnx_import {

/// One ONNX value as the importer holds it: always its type; its IR value once something
/// needs it in the graph; its elements when they are known at import.
struct Entry {
  ir::TensorType type;
  ir::Value* value = nullptr;
  /// Known values: a Constant, a folded result, an integer initializer, a fixed input.
  std::optional<HostTensor> constant;
  /// A parameter's initial values (not folded: the parameter stays trainable), for the ops
  /// that need values at import (a Reshape reading its shape from an initializer).
  const HostTensor* initializer = nullptr;
};

/// What the importer knows while it converts one graph.
struct ImportState {
  ir::Graph* graph = nullptr;
  /// Names the model in errors (its file name).
  std::string label;
  /// The default domain's opset version.
  int64_t opset = 0;
  std::unordered_map<std::string, Entry> values;
  /// The graph's Value for `entry`, materializing a known constant; `name` is a hint.
  ir::Value* materialize(Entry& entry, const std::string& name);
};

/// The view of one node an op handler works with: typed inputs (as IR values or as known
/// constants), checked attributes, outputs, and errors that name the node.
class NodeContext {
 public:
  NodeContext(ImportState& state, const onnx::NodeProto& node);

  const std::string& op() const;
  int64_t opset() const { return state_.opset; }
  ir::Graph& graph() { return *state_.graph; }

  /// Number of input slots (trailing optional inputs may be absent).
  size_t num_inputs() const;
  /// True when slot `i` exists and names a value (an empty name skips an optional input).
  bool has_input(size_t i) const;
  /// Checks that inputs [min, max] are given and the required first `min` are present.
  void expect_inputs(size_t min, size_t max) const;
  const ir::TensorType& input_type(size_t i) const;
  /// Input `i` in the graph (a known constant is added as an IR constant).
  ir::Value* input(size_t i);
  /// Input `i`'s values when known at import (not a trainable parameter), else null.
  const HostTensor* constant(size_t i) const;
  /// Input `i`'s values, which the op needs at import (`what` says why); an initializer's
  /// values count. Throws naming the node when they are computed at run time.
  const HostTensor& constant_input(size_t i, const std::string& what) const;
  /// constant_input as integers (a shape, axes, bounds).
  std::vector<int64_t> ints_input(size_t i, const std::string& what) const;
  /// True when every present input is a known constant: the node folds on the host.
  bool all_constant() const;

  size_t num_outputs() const;
  /// True when output `i` exists and is named (an empty name skips an optional output).
  bool wants_output(size_t i) const;
  void set_output(size_t i, ir::Value* value);
  void set_output(size_t i, HostTensor constant);

  /// Throws naming the node when it has an attribute not in `known`.
  void expect_attributes(std::initializer_list<const char*> known) const;
  bool has_attr(const std::string& name) const;
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  double attr_float(const std::string& name, double fallback) const;
  std::string attr_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& name) const;
  std::vector<double> attr_floats(const std::string& name) const;
  std::vector<std::string> attr_strings(const std::string& name) const;
  /// The tensor attribute `name`, decoded, or nothing.
  std::optional<HostTensor> attr_tensor(const std::string& name) const;

  /// An error "<model>: node 'NAME' (OP): message".
  Error error(const std::string& message) const;
  /// "node 'NAME' (OP)".
  std::string describe() const;
  /// The name of input `i` / output `i`, for messages and IR names.
  const std::string& input_name(size_t i) const;
  const std::string& output_name(size_t i) const;

 private:
  const onnx::AttributeProto* find_attr(const std::string& name, int type) const;
  Entry& entry(size_t i) const;

  ImportState& state_;
  const onnx::NodeProto& node_;
};

/// Converts one node into `context`'s graph.
using OpHandler = void (*)(NodeContext& context);
/// Op handlers by ONNX op type.
using OpTable = std::map<std::string, OpHandler>;

/// Elementwise arithmetic, activations, Gemm, MatMul, Softmax, LogSoftmax.
void add_math_ops(OpTable& table);
/// Shape, Gather, Concat, Slice, Split, Squeeze, Unsqueeze, Transpose, Reshape, Flatten,
/// Expand, ConstantOfShape, Identity, Constant.
void add_shape_ops(OpTable& table);
/// RNN, LSTM, GRU.
void add_recurrent_ops(OpTable& table);

/// An IR-valid value name made from an ONNX name (other characters become '_').
std::string sanitize_name(const std::string& name);
/// `axis` in [-rank, rank) made non-negative; throws `context`'s error otherwise.
int64_t normalize_axis(const NodeContext& context, int64_t axis, int64_t rank,
                       const std::string& what);

}  // namespace rnnc::onnx_import
