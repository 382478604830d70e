#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "ir/graph.h"
#include "runtime/tensor.h"

/// The ONNX importer: reads a .onnx model (ONNX's protobuf ModelProto, opsets 7 to 17) into
/// an ir::Graph. RNN, LSTM and GRU become scans whose bodies are the cells built from
/// primitives; the ops PyTorch emits around them become primitives; Shape-driven subgraphs
/// fold to constants at import (the IR is static-shaped). See docs/onnx.md for what is
/// supported. Every problem in a file (malformed bytes, a cycle, a missing initializer, an
/// unsupported op or attribute value, an opset outside the range, absurd dimensions,
/// external data outside the model's folder) is an rnnc::Error naming the node or value.
namespace rnnc {

/// How to import a model.
struct OnnxImportOptions {
  /// Shapes of graph inputs whose ONNX type has symbolic or unknown dimensions (the IR needs
  /// static shapes); an input with a static shape must agree with its entry.
  std::map<std::string, ir::Shape> input_shapes;
  /// Graph inputs whose values are fixed at import: they become constants, so that the
  /// subgraphs reading them (a Reshape's shape, a Slice's bounds) fold. Typed as the input.
  Bindings constant_inputs;
};

/// An imported model: the graph and the values of its parameters.
struct OnnxModel {
  /// Inputs and outputs are named as the ONNX graph's (characters the IR does not allow in a
  /// name become '_'); int64 inputs become i32. Every floating-point initializer is a
  /// trainable parameter (role "weight", named as the initializer).
  std::unique_ptr<ir::Graph> graph;
  /// The initializers' values, by parameter name: bind them as the executable's state.
  Bindings parameters;
};

/// Imports the model in file `path`. External data files are read only from `path`'s
/// folder and below. Throws rnnc::Error naming the file and the node or value at fault.
OnnxModel import_onnx_file(const std::string& path, const OnnxImportOptions& options = {});

/// Imports a model from serialized bytes (what the fuzzer feeds); `label` names the source
/// in errors. External data is refused (there is no folder to read it from).
OnnxModel import_onnx_bytes(const void* data, size_t size, const std::string& label = "<bytes>",
                            const OnnxImportOptions& options = {});

/// Reads a serialized ONNX TensorProto (.pb, as the ONNX backend tests store their inputs
/// and outputs) into a Tensor: float -> f32, double -> f64, int32 and int64 -> i32 (int64
/// values outside the i32 range are an error). When `name` is given it receives the name the
/// tensor carries (the backend tests name each after its graph input or output). Throws
/// rnnc::Error naming the file.
Tensor read_onnx_tensor(const std::string& path, std::string* name = nullptr);

}  // namespace rnnc
