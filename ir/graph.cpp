#include "ir/graph.h"

#include <algorithm>
#include <cassert>
#include <unordered_set>

#include "ir/error.h"
#include "ir/shape_inference.h"

namespace rnnc::ir {

bool is_valid_name(std::string_view name) {
  if (name.empty()) return false;
  auto is_alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!is_alpha(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return is_alpha(c) || is_digit(c) || c == '.'; });
}

namespace {

std::string describe(std::string_view result_name, OpKind kind,
                     const std::vector<Value*>& operands) {
  std::string text = "%" + std::string(result_name) + " = " + std::string(op_info(kind).name) + "(";
  for (size_t i = 0; i < operands.size(); ++i) {
    if (i) text += ", ";
    text += "%" + operands[i]->name() + ": " + operands[i]->type().to_string();
  }
  return text + ")";
}

}  // namespace

std::string describe_node(const Node& node) {
  std::string results;
  for (size_t i = 0; i < node.num_results(); ++i)
    results += (i ? ", %" : "") + node.result(i)->name();
  return describe(node.num_results() ? results : "?", node.kind(), node.operands());
}

Graph::Graph(std::string name) : name_(std::move(name)) {}
Graph::~Graph() = default;

std::string Graph::unique_name(std::string_view hint) {
  std::string base(hint.empty() ? "v" : hint);
  if (!values_by_name_.count(base)) return base;
  int64_t& counter = name_counters_[base];
  std::string candidate;
  do {
    candidate = base + "_" + std::to_string(++counter);
  } while (values_by_name_.count(candidate));
  return candidate;
}

Node* Graph::add_node(OpKind kind, std::vector<Value*> operands, Attributes attrs,
                      std::vector<TensorType> declared, std::vector<std::string> names,
                      std::vector<std::unique_ptr<Graph>> bodies) {
  const OpInfo& info = op_info(kind);
  std::string first_name =
      names.empty() || names[0].empty() ? unique_name(info.name) : unique_name(names[0]);
  for (Value* operand : operands) {
    assert(operand && "null operand");
    if (operand->producer()->owner() != this)
      throw Error("node " + describe(first_name, kind, operands) + ": operand %" + operand->name() +
                  " belongs to another graph");
  }
  std::vector<TensorType> types;
  try {
    if (info.arity >= 0 && static_cast<int>(operands.size()) != info.arity)
      throw Error("expects " + std::to_string(info.arity) + " operand(s), got " +
                  std::to_string(operands.size()));
    if (info.arity < 0 && operands.empty()) throw Error("expects at least one operand");
    complete_attributes(info, attrs);
    if (info.has(kHasBody) != !bodies.empty())
      throw Error(info.has(kHasBody) ? "needs a body graph" : "takes no body graph");
    types = infer_result_types(kind, operands, attrs, declared, bodies);
  } catch (const Error& error) {
    throw Error("node " + describe(first_name, kind, operands) + ": " + error.what());
  }

  auto node = std::make_unique<Node>();
  node->kind_ = kind;
  node->operands_ = std::move(operands);
  node->attrs_ = std::move(attrs);
  node->owner_ = this;
  node->bodies_ = std::move(bodies);
  for (auto& body : node->bodies_) body->parent_ = node.get();
  for (size_t i = 0; i < types.size(); ++i) {
    auto value = std::make_unique<Value>();
    value->type_ = types[i];
    if (i == 0) {
      value->name_ = first_name;
    } else {
      value->name_ = unique_name(i < names.size() && !names[i].empty() ? names[i] : first_name);
    }
    if (!is_valid_name(value->name_))
      throw Error("invalid value name '" + value->name_ + "' (use letters, digits, _ and .)");
    value->producer_ = node.get();
    value->index_ = i;
    values_by_name_[value->name_] = value.get();
    node->results_.push_back(std::move(value));
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

Value* Graph::add(OpKind kind, std::vector<Value*> operands, Attributes attrs, std::string name) {
  Node* node = add_node(kind, std::move(operands), std::move(attrs), {}, {std::move(name)});
  return node->result();
}

namespace {
void require_free_name(const Graph& graph, const std::string& name, const char* what) {
  if (!is_valid_name(name))
    throw Error(std::string("invalid ") + what + " name '" + name +
                "' (use letters, digits, _ and .)");
  if (graph.find(name)) throw Error(std::string(what) + " name '" + name + "' is already used");
}
}  // namespace

Value* Graph::add_input(const std::string& name, TensorType type) {
  require_free_name(*this, name, "input");
  return add_node(OpKind::Input, {}, {}, {std::move(type)}, {name})->result();
}

Value* Graph::add_parameter(const std::string& name, TensorType type, const std::string& init,
                            int64_t seed, const std::string& role) {
  require_free_name(*this, name, "parameter");
  Attributes attrs{{"init", init}, {"seed", seed}, {"role", role}};
  return add_node(OpKind::Parameter, {}, std::move(attrs), {std::move(type)}, {name})->result();
}

Value* Graph::add_constant(TensorType type, std::vector<double> values, std::string name) {
  Attributes attrs{{"value", std::move(values)}};
  return add_node(OpKind::Constant, {}, std::move(attrs), {std::move(type)},
                  {name.empty() ? "c" : std::move(name)})
      ->result();
}

std::vector<Node*> Graph::nodes_of(OpKind kind) const {
  std::vector<Node*> found;
  for (const auto& node : nodes_)
    if (node->kind() == kind) found.push_back(node.get());
  return found;
}

Value* Graph::find(std::string_view name) const {
  auto it = values_by_name_.find(std::string(name));
  return it == values_by_name_.end() ? nullptr : it->second;
}

void Graph::add_output(const std::string& name, Value* value) {
  if (!is_valid_name(name))
    throw Error("invalid output name '" + name + "' (use letters, digits, _ and .)");
  if (output(name)) throw Error("output name '" + name + "' is already used");
  assert(value->producer()->owner() == this);
  outputs_.push_back({name, value});
}

Value* Graph::output(std::string_view name) const {
  for (const GraphOutput& out : outputs_)
    if (out.name == name) return out.value;
  return nullptr;
}

void Graph::add_update(Value* parameter, Value* new_value) {
  if (parameter->producer()->kind() != OpKind::Parameter)
    throw Error("update target %" + parameter->name() + " is not a parameter");
  if (parameter->type() != new_value->type())
    throw Error("update of %" + parameter->name() + " (" + parameter->type().to_string() +
                ") with %" + new_value->name() + " of type " + new_value->type().to_string());
  for (const GraphUpdate& update : updates_)
    if (update.parameter == parameter)
      throw Error("parameter %" + parameter->name() + " is updated twice");
  updates_.push_back({parameter, new_value});
}

void Graph::rebuild_node(Node& node, std::vector<Value*> operands, Attributes attrs,
                         std::vector<std::unique_ptr<Graph>> bodies,
                         const std::vector<std::string>& new_result_names) {
  assert(node.owner_ == this);
  const OpInfo& info = node.info();
  std::vector<TensorType> types;
  try {
    complete_attributes(info, attrs);
    types = infer_result_types(node.kind_, operands, attrs, {}, bodies);
    if (types.size() < node.results_.size()) throw Error("the rebuilt node has fewer results");
    for (size_t i = 0; i < node.results_.size(); ++i)
      if (types[i] != node.results_[i]->type_)
        throw Error("rebuilding changes result %" + node.results_[i]->name_ + " from " +
                    node.results_[i]->type_.to_string() + " to " + types[i].to_string());
  } catch (const Error& error) {
    throw Error("node " + describe_node(node) + ": " + error.what());
  }
  node.operands_ = std::move(operands);
  node.attrs_ = std::move(attrs);
  node.bodies_ = std::move(bodies);
  for (auto& body : node.bodies_) body->parent_ = &node;
  for (size_t i = node.results_.size(), hint = 0; i < types.size(); ++i, ++hint) {
    auto value = std::make_unique<Value>();
    value->type_ = types[i];
    value->name_ = unique_name(hint < new_result_names.size() ? new_result_names[hint]
                                                              : node.results_[0]->name_);
    value->producer_ = &node;
    value->index_ = i;
    values_by_name_[value->name_] = value.get();
    node.results_.push_back(std::move(value));
  }
}

void Graph::replace_all_uses(Value* from, Value* to) {
  for (auto& node : nodes_)
    for (Value*& operand : node->operands_)
      if (operand == from) operand = to;
  for (GraphOutput& out : outputs_)
    if (out.value == from) out.value = to;
  for (GraphUpdate& update : updates_)
    if (update.new_value == from) update.new_value = to;
}

void Graph::erase_nodes_if(const std::function<bool(const Node&)>& dead) {
  auto middle = std::stable_partition(nodes_.begin(), nodes_.end(),
                                      [&](const std::unique_ptr<Node>& n) { return !dead(*n); });
  for (auto it = middle; it != nodes_.end(); ++it)
    for (auto& value : (*it)->results_) values_by_name_.erase(value->name_);
  nodes_.erase(middle, nodes_.end());
}

void Graph::reorder(const std::vector<Node*>& order) {
  assert(order.size() == nodes_.size());
  std::unordered_map<Node*, std::unique_ptr<Node>> owned;
  for (auto& node : nodes_) owned[node.get()] = std::move(node);
  nodes_.clear();
  for (Node* node : order) {
    auto it = owned.find(node);
    assert(it != owned.end() && it->second && "reorder: not a permutation");
    nodes_.push_back(std::move(it->second));
  }
}

}  // namespace rnnc::ir
