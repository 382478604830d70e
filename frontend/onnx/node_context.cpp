#include "frontend/onnx/node_context.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cassert>
#include <limits>

namespace rnnc::onnx_import {

namespace {

/// ONNX's name of attribute type `type`, for messages.
std::string attr_type_name(int type) {
  if (onnx::AttributeProto_AttributeType_IsValid(type))
    return onnx::AttributeProto_AttributeType_Name(
        static_cast<onnx::AttributeProto_AttributeType>(type));
  return "#" + std::to_string(type);
}

}  // namespace

std::string sanitize_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.';
    out += ok ? c : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9') || out[0] == '.') out = "v_" + out;
  return out;
}

int64_t normalize_axis(const NodeContext& context, int64_t axis, int64_t rank,
                       const std::string& what) {
  if (axis < -rank || axis >= rank)
    throw context.error(what + " " + std::to_string(axis) + " is out of range for rank " +
                        std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

ir::Value* ImportState::materialize(Entry& entry, const std::string& name) {
  if (entry.value) return entry.value;
  assert(entry.constant && "an entry without a value is a known constant");
  const HostTensor& constant = *entry.constant;
  std::vector<double> values;
  values.reserve(constant.size());
  for (int64_t i = 0; i < constant.size(); ++i) {
    if (constant.is_int && (constant.ints[i] < std::numeric_limits<int32_t>::min() ||
                            constant.ints[i] > std::numeric_limits<int32_t>::max()))
      throw Error(label + ": value '" + name + "': int64 element " +
                  std::to_string(constant.ints[i]) + " does not fit rnnc's i32 index type");
    values.push_back(constant.get(i));
  }
  bool splat = !values.empty() &&
               std::all_of(values.begin(), values.end(), [&](double v) { return v == values[0]; });
  if (splat) values.resize(1);
  entry.value = graph->add_constant(constant.type(), std::move(values), sanitize_name(name));
  return entry.value;
}

NodeContext::NodeContext(ImportState& state, const onnx::NodeProto& node)
    : state_(state), node_(node) {}

const std::string& NodeContext::op() const { return node_.op_type(); }

size_t NodeContext::num_inputs() const { return static_cast<size_t>(node_.input_size()); }

bool NodeContext::has_input(size_t i) const {
  return i < num_inputs() && !node_.input(static_cast<int>(i)).empty();
}

void NodeContext::expect_inputs(size_t min, size_t max) const {
  if (num_inputs() < min || num_inputs() > max)
    throw error("expects " + std::to_string(min) +
                (max == min ? "" : " to " + std::to_string(max)) + " inputs, got " +
                std::to_string(num_inputs()));
  for (size_t i = 0; i < min; ++i)
    if (!has_input(i)) throw error("required input " + std::to_string(i) + " is missing");
}

const std::string& NodeContext::input_name(size_t i) const {
  return node_.input(static_cast<int>(i));
}

const std::string& NodeContext::output_name(size_t i) const {
  return node_.output(static_cast<int>(i));
}

Entry& NodeContext::entry(size_t i) const {
  assert(has_input(i));
  auto found = state_.values.find(input_name(i));
  // The loader checks that every input is defined before converting the node.
  assert(found != state_.values.end());
  return found->second;
}

const ir::TensorType& NodeContext::input_type(size_t i) const { return entry(i).type; }

ir::Value* NodeContext::input(size_t i) { return state_.materialize(entry(i), input_name(i)); }

const HostTensor* NodeContext::constant(size_t i) const {
  Entry& e = entry(i);
  return e.constant ? &*e.constant : nullptr;
}

const HostTensor& NodeContext::constant_input(size_t i, const std::string& what) const {
  Entry& e = entry(i);
  if (e.constant) return *e.constant;
  if (e.initializer) return *e.initializer;
  throw error(what + " (input '" + input_name(i) +
              "') must be known at import, but it is computed at run time (rnnc's IR is "
              "static-shaped)");
}

std::vector<int64_t> NodeContext::ints_input(size_t i, const std::string& what) const {
  const HostTensor& tensor = constant_input(i, what);
  if (!tensor.is_int) throw error(what + " (input '" + input_name(i) + "') must be integers");
  return tensor.ints;
}

bool NodeContext::all_constant() const {
  for (size_t i = 0; i < num_inputs(); ++i)
    if (has_input(i) && !constant(i)) return false;
  return true;
}

size_t NodeContext::num_outputs() const { return static_cast<size_t>(node_.output_size()); }

bool NodeContext::wants_output(size_t i) const {
  return i < num_outputs() && !output_name(i).empty();
}

void NodeContext::set_output(size_t i, ir::Value* value) {
  if (!wants_output(i)) return;
  Entry entry;
  entry.type = value->type();
  entry.value = value;
  state_.values[output_name(i)] = std::move(entry);
}

void NodeContext::set_output(size_t i, HostTensor constant) {
  if (!wants_output(i)) return;
  if (constant.size() > kMaxFoldedElements)
    throw error("folding gives a constant of " + std::to_string(constant.size()) +
                " elements, more than the importer computes (" +
                std::to_string(kMaxFoldedElements) + ")");
  Entry entry;
  entry.type = constant.type();
  entry.constant = std::move(constant);
  state_.values[output_name(i)] = std::move(entry);
}

void NodeContext::expect_attributes(std::initializer_list<const char*> known) const {
  for (const auto& attr : node_.attribute()) {
    bool found = std::any_of(known.begin(), known.end(),
                             [&](const char* name) { return attr.name() == name; });
    if (!found) throw error("attribute '" + attr.name() + "' is not supported");
  }
}

const onnx::AttributeProto* NodeContext::find_attr(const std::string& name, int type) const {
  for (const auto& attr : node_.attribute()) {
    if (attr.name() != name) continue;
    if (attr.type() != type)
      throw error("attribute '" + name + "' is " + attr_type_name(attr.type()) + ", expected " +
                  attr_type_name(type));
    return &attr;
  }
  return nullptr;
}

bool NodeContext::has_attr(const std::string& name) const {
  return std::any_of(node_.attribute().begin(), node_.attribute().end(),
                     [&](const auto& attr) { return attr.name() == name; });
}

int64_t NodeContext::attr_int(const std::string& name, int64_t fallback) const {
  const auto* attr = find_attr(name, onnx::AttributeProto::INT);
  return attr ? attr->i() : fallback;
}

double NodeContext::attr_float(const std::string& name, double fallback) const {
  const auto* attr = find_attr(name, onnx::AttributeProto::FLOAT);
  return attr ? attr->f() : fallback;
}

std::string NodeContext::attr_string(const std::string& name, const std::string& fallback) const {
  const auto* attr = find_attr(name, onnx::AttributeProto::STRING);
  return attr ? attr->s() : fallback;
}

std::vector<int64_t> NodeContext::attr_ints(const std::string& name) const {
  const auto* attr = find_attr(name, onnx::AttributeProto::INTS);
  if (!attr) return {};
  return {attr->ints().begin(), attr->ints().end()};
}

std::vector<double> NodeContext::attr_floats(const std::string& name) const {
  const auto* attr = find_attr(name, onnx::AttributeProto::FLOATS);
  if (!attr) return {};
  return {attr->floats().begin(), attr->floats().end()};
}

std::vector<std::string> NodeContext::attr_strings(const std::string& name) const {
  const auto* attr = find_attr(name, onnx::AttributeProto::STRINGS);
  if (!attr) return {};
  return {attr->strings().begin(), attr->strings().end()};
}

std::optional<HostTensor> NodeContext::attr_tensor(const std::string& name) const {
  const auto* attr = find_attr(name, onnx::AttributeProto::TENSOR);
  if (!attr) return std::nullopt;
  // A Constant's tensor never reads external data: the node holds it.
  try {
    return decode_tensor(attr->t(), "", "attribute '" + name + "'");
  } catch (const Error& e) {
    throw error(e.what());
  }
}

std::string NodeContext::describe() const {
  std::string name = node_.name();
  if (name.empty() && node_.output_size() > 0) name = "-> " + node_.output(0);
  return "node '" + name + "' (" + node_.op_type() + ")";
}

Error NodeContext::error(const std::string& message) const {
  return Error(state_.label + ": " + describe() + ": " + message);
}

}  // namespace rnnc::onnx_import
