// The importer's driver: parse, check the model as a whole (opsets, names, order, cycles,
// initializers against declared inputs), then convert node by node.
#include "frontend/onnx/onnx_import.h"

#include <onnx/onnx_pb.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "frontend/onnx/node_context.h"

namespace rnnc {

namespace {

using onnx_import::Entry;
using onnx_import::HostTensor;
using onnx_import::ImportState;
using onnx_import::NodeContext;
using onnx_import::sanitize_name;

/// The default domain's opsets rnnc supports.
constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 17;
/// Largest model file read (protobuf's own limit is 2 GiB).
constexpr int64_t kMaxModelBytes = INT_MAX;

const onnx_import::OpTable& op_table() {
  static const onnx_import::OpTable table = [] {
    onnx_import::OpTable t;
    onnx_import::add_math_ops(t);
    onnx_import::add_shape_ops(t);
    onnx_import::add_recurrent_ops(t);
    return t;
  }();
  return table;
}

/// The opset of the default domain; throws when it is missing or out of range.
int64_t default_opset(const onnx::ModelProto& model, const std::string& label) {
  int64_t opset = -1;
  for (const auto& entry : model.opset_import())
    if (entry.domain().empty() || entry.domain() == "ai.onnx") opset = entry.version();
  if (opset < 0) throw Error(label + ": the model imports no opset of the default ONNX domain");
  if (opset < kMinOpset || opset > kMaxOpset)
    throw Error(label + ": opset " + std::to_string(opset) + " is outside the supported range " +
                std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset));
  return opset;
}

/// The static type of a graph input, from its ONNX type or `options`.
ir::TensorType input_type(const onnx::ValueInfoProto& info, const OnnxImportOptions& options,
                          const std::string& label) {
  const std::string what = label + ": input '" + info.name() + "'";
  if (!info.type().has_tensor_type()) throw Error(what + " is not a tensor");
  const auto& tensor = info.type().tensor_type();
  ir::TensorType type;
  bool is_int = false;
  type.dtype = onnx_import::dtype_of_onnx(tensor.elem_type(), is_int, what);
  auto given = options.input_shapes.find(info.name());
  bool complete = tensor.has_shape();
  if (tensor.has_shape())
    for (const auto& dim : tensor.shape().dim()) {
      complete = complete && dim.has_dim_value();
      type.shape.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
    }
  if (given != options.input_shapes.end()) {
    bool agrees = !tensor.has_shape() || given->second.size() == type.shape.size();
    for (size_t i = 0; agrees && i < type.shape.size(); ++i)
      agrees = type.shape[i] < 0 || type.shape[i] == given->second[i];
    if (!agrees)
      throw Error(what + ": the given shape " + ir::shape_to_string(given->second) +
                  " contradicts the model's " + ir::shape_to_string(type.shape));
    type.shape = given->second;
  } else if (!complete) {
    throw Error(what + " has symbolic or unknown dimensions " + ir::shape_to_string(type.shape) +
                " (rnnc's IR is static: give the input's shape when importing)");
  }
  onnx_import::checked_num_elements(type.shape, what);
  return type;
}

/// The nodes in an order where every input is defined first; throws on undefined inputs,
/// values defined twice and cycles.
std::vector<const onnx::NodeProto*> topological_order(const onnx::GraphProto& graph,
                                                      const std::set<std::string>& defined,
                                                      const std::string& label) {
  const int count = graph.node_size();
  std::map<std::string, int> producer;
  auto describe = [&](int i) {
    const auto& node = graph.node(i);
    std::string name = node.name().empty() ? "#" + std::to_string(i) : node.name();
    return "node '" + name + "' (" + node.op_type() + ")";
  };
  for (int i = 0; i < count; ++i)
    for (const std::string& output : graph.node(i).output()) {
      if (output.empty()) continue;
      if (defined.count(output) || !producer.emplace(output, i).second)
        throw Error(label + ": " + describe(i) + ": value '" + output + "' is defined twice");
    }
  std::vector<int> missing(count, 0);
  std::vector<std::vector<int>> users(count);
  for (int i = 0; i < count; ++i)
    for (const std::string& input : graph.node(i).input()) {
      if (input.empty() || defined.count(input)) continue;
      auto found = producer.find(input);
      if (found == producer.end())
        throw Error(label + ": " + describe(i) + ": input '" + input +
                    "' is not defined (no initializer, graph input or node produces it)");
      ++missing[i];
      users[found->second].push_back(i);
    }
  std::vector<const onnx::NodeProto*> order;
  std::vector<int> ready;
  for (int i = count - 1; i >= 0; --i)
    if (missing[i] == 0) ready.push_back(i);
  while (!ready.empty()) {
    int i = ready.back();
    ready.pop_back();
    order.push_back(&graph.node(i));
    for (int user : users[i])
      if (--missing[user] == 0) ready.push_back(user);
  }
  if (static_cast<int>(order.size()) != count)
    for (int i = 0; i < count; ++i)
      if (missing[i] > 0) throw Error(label + ": the graph has a cycle through " + describe(i));
  return order;
}

OnnxModel import_model(const onnx::ModelProto& model, const std::string& label,
                       const std::string& base_dir, const OnnxImportOptions& options) {
  if (!model.has_graph()) throw Error(label + ": the model has no graph");
  const onnx::GraphProto& graph = model.graph();
  OnnxModel result;
  result.graph =
      std::make_unique<ir::Graph>(sanitize_name(graph.name().empty() ? "main" : graph.name()));
  ImportState state;
  state.graph = result.graph.get();
  state.label = label;
  state.opset = default_opset(model, label);
  if (graph.sparse_initializer_size() > 0)
    throw Error(label + ": sparse initializers are not supported");

  // Initializers: floats become trainable parameters, integers known constants.
  std::map<std::string, HostTensor> initial_values;
  std::set<std::string> defined;
  for (const onnx::TensorProto& proto : graph.initializer()) {
    const std::string what = label + ": initializer '" + proto.name() + "'";
    if (proto.name().empty()) throw Error(label + ": an initializer has no name");
    if (!defined.insert(proto.name()).second) throw Error(what + " is defined twice");
    HostTensor value = onnx_import::decode_tensor(proto, base_dir, what);
    Entry entry;
    entry.type = value.type();
    if (value.is_int) {
      entry.constant = std::move(value);
    } else {
      std::string name = result.graph->unique_name(sanitize_name(proto.name()));
      entry.value = result.graph->add_parameter(name, value.type(), "zeros");
      result.parameters[name] = onnx_import::to_runtime_tensor(value, what);
      entry.initializer = &(initial_values[proto.name()] = std::move(value));
    }
    state.values[proto.name()] = std::move(entry);
  }
  // Graph inputs (an input that is also an initializer is the initializer, checked).
  for (const onnx::ValueInfoProto& info : graph.input()) {
    const std::string what = label + ": input '" + info.name() + "'";
    if (info.name().empty()) throw Error(label + ": a graph input has no name");
    auto initializer = state.values.find(info.name());
    if (initializer != state.values.end()) {
      const auto& tensor = info.type().tensor_type();
      bool agrees = !tensor.has_shape() || static_cast<int64_t>(tensor.shape().dim_size()) ==
                                               initializer->second.type.rank();
      for (int i = 0; agrees && i < tensor.shape().dim_size(); ++i)
        agrees = !tensor.shape().dim(i).has_dim_value() ||
                 tensor.shape().dim(i).dim_value() == initializer->second.type.shape[i];
      if (!agrees)
        throw Error(what + ": the declared shape contradicts its initializer " +
                    initializer->second.type.to_string());
      continue;
    }
    if (!defined.insert(info.name()).second) throw Error(what + " is declared twice");
    Entry entry;
    auto fixed = options.constant_inputs.find(info.name());
    if (fixed != options.constant_inputs.end()) {
      entry.constant = onnx_import::from_runtime_tensor(fixed->second);
      entry.type = entry.constant->type();
    } else {
      entry.type = input_type(info, options, label);
      std::string name = sanitize_name(info.name());
      if (result.graph->find(name)) name = result.graph->unique_name(name);
      entry.value = result.graph->add_input(name, entry.type);
    }
    state.values[info.name()] = std::move(entry);
  }

  for (const onnx::NodeProto* node : topological_order(graph, defined, label)) {
    NodeContext context(state, *node);
    if (!node->domain().empty() && node->domain() != "ai.onnx")
      throw context.error("domain '" + node->domain() + "' is not supported");
    auto handler = op_table().find(node->op_type());
    if (handler == op_table().end())
      throw context.error("op " + node->op_type() + " is not supported");
    try {
      handler->second(context);
    } catch (const Error& error) {
      std::string message = error.what();
      if (message.rfind(label + ": ", 0) == 0) throw;
      throw context.error(message);
    }
    for (size_t i = 0; i < context.num_outputs(); ++i) {
      if (!context.wants_output(i)) continue;
      auto produced = state.values.find(context.output_name(i));
      if (produced == state.values.end())
        throw context.error("output '" + context.output_name(i) + "' is not produced");
      try {
        onnx_import::checked_num_elements(produced->second.type.shape,
                                          "output '" + context.output_name(i) + "'");
      } catch (const Error& error) {
        throw context.error(error.what());
      }
    }
  }

  for (const onnx::ValueInfoProto& info : graph.output()) {
    auto found = state.values.find(info.name());
    if (found == state.values.end())
      throw Error(label + ": graph output '" + info.name() + "' is not defined");
    ir::Value* value = state.materialize(found->second, info.name());
    const auto& tensor = info.type().tensor_type();
    bool agrees = !tensor.has_shape() ||
                  static_cast<int64_t>(tensor.shape().dim_size()) == value->type().rank();
    for (int i = 0; agrees && i < tensor.shape().dim_size(); ++i)
      agrees = !tensor.shape().dim(i).has_dim_value() ||
               tensor.shape().dim(i).dim_value() == value->shape()[i];
    if (!agrees)
      throw Error(label + ": graph output '" + info.name() +
                  "' is declared with another shape than " + value->type().to_string() +
                  ", which the graph computes");
    std::string name = sanitize_name(info.name());
    if (result.graph->output(name))
      throw Error(label + ": graph output '" + name + "' is listed twice");
    result.graph->add_output(name, value);
  }
  return result;
}

/// Parses `size` bytes at `data` as a `Message`, or throws naming `label`.
template <class Message>
void parse(Message& message, const void* data, size_t size, const std::string& label,
           const char* what) {
  if (size > static_cast<size_t>(kMaxModelBytes))
    throw Error(label + ": " + std::to_string(size) + " bytes is more than protobuf can parse");
  if (!message.ParseFromArray(data, static_cast<int>(size)))
    throw Error(label + ": not a valid ONNX " + what + " (truncated or corrupt protobuf)");
}

/// The bytes of file `path`.
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read file");
  return std::move(bytes).str();
}

}  // namespace

OnnxModel import_onnx_file(const std::string& path, const OnnxImportOptions& options) {
  std::string bytes = read_file(path);
  onnx::ModelProto model;
  parse(model, bytes.data(), bytes.size(), path, "model");
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  return import_model(model, path, folder.empty() ? "." : folder.string(), options);
}

OnnxModel import_onnx_bytes(const void* data, size_t size, const std::string& label,
                            const OnnxImportOptions& options) {
  onnx::ModelProto model;
  parse(model, data, size, label, "model");
  return import_model(model, label, "", options);
}

Tensor read_onnx_tensor(const std::string& path, std::string* name) {
  std::string bytes = read_file(path);
  onnx::TensorProto proto;
  parse(proto, bytes.data(), bytes.size(), path, "tensor");
  if (name) *name = proto.name();
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  HostTensor value =
      onnx_import::decode_tensor(proto, folder.empty() ? "." : folder.string(), path);
  return onnx_import::to_runtime_tensor(value, path);
}

}  // namespace rnnc
