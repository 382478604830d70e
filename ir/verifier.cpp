#include "ir/verifier.h"

#include <unordered_map>
#include <unordered_set>

#include "ir/error.h"
#include "ir/shape_inference.h"

namespace rnnc::ir {
namespace {

/// Checks one graph. Value pointers are only dereferenced once they are known to be results
/// of this graph's nodes: a pass may have left an operand pointing at an erased value.
class Verifier {
 public:
  explicit Verifier(const Graph& graph) : graph_(graph) {
    for (const auto& node : graph.nodes())
      for (size_t i = 0; i < node->num_results(); ++i) own_values_.insert(node->result(i));
  }

  void run() {
    for (const auto& node : graph_.nodes()) check_node(*node);
    check_outputs();
    check_updates();
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error("graph @" + graph_.name() + ": " + message);
  }
  [[noreturn]] void fail(const Node& node, const std::string& message) const {
    fail("node " + describe(node) + ": " + message);
  }

  /// describe_node, with "%?" for operands that are not values of this graph.
  std::string describe(const Node& node) const {
    bool known = true;
    for (Value* operand : node.operands()) known = known && own_values_.count(operand);
    if (known) return describe_node(node);
    std::string text = "%" + (node.num_results() ? node.result()->name() : std::string("?")) +
                       " = " + std::string(node.info().name) + "(";
    for (size_t i = 0; i < node.operands().size(); ++i) {
      Value* operand = node.operand(i);
      if (i) text += ", ";
      text += own_values_.count(operand)
                  ? "%" + operand->name() + ": " + operand->type().to_string()
                  : std::string("%?");
    }
    return text + ")";
  }

  void check_node(const Node& node) {
    if (node.owner() != &graph_) fail(node, "the node's owner is another graph");
    if (node.num_results() == 0) fail(node, "the node has no results");
    for (size_t i = 0; i < node.num_results(); ++i) check_result(node, i);
    check_operands(node);
    check_attributes(node);
    check_types(node);
    for (size_t i = 0; i < node.bodies().size(); ++i) {
      const Graph* body = node.bodies()[i].get();
      if (!body) fail(node, "body " + std::to_string(i) + " is null");
      try {
        verify(*body);
      } catch (const Error& error) {
        fail(node, "body " + std::to_string(i) + ": " + error.what());
      }
    }
    for (size_t i = 0; i < node.num_results(); ++i) defined_.insert(node.result(i));
  }

  void check_result(const Node& node, size_t index) {
    const Value* value = node.result(index);
    const std::string& name = value->name();
    if (value->producer() != &node || value->result_index() != index)
      fail(node, "result %" + name + " does not point back to its node");
    if (!is_valid_name(name))
      fail(node, "invalid value name '" + name + "' (use letters, digits, _ and .)");
    auto [it, fresh] = names_.emplace(name, &node);
    if (!fresh)
      fail(node, "value name %" + name + " is also defined by node " + describe(*it->second));
    if (graph_.find(name) != value)
      fail(node, "result %" + name + " is not the value the graph finds under its name");
  }

  void check_operands(const Node& node) {
    const OpInfo& info = node.info();
    for (size_t i = 0; i < node.operands().size(); ++i) {
      Value* operand = node.operand(i);
      if (!operand) fail(node, "operand " + std::to_string(i) + " is null");
      if (!own_values_.count(operand))
        fail(node, "operand " + std::to_string(i) + " is not a value of graph @" + graph_.name() +
                       " (erased, or from another graph)");
      if (!defined_.count(operand))
        fail(node, "operand %" + operand->name() + " is not defined by an earlier node");
    }
    int count = static_cast<int>(node.operands().size());
    if (info.arity >= 0 && count != info.arity)
      fail(node,
           "expects " + std::to_string(info.arity) + " operand(s), got " + std::to_string(count));
    if (info.arity < 0 && count == 0) fail(node, "expects at least one operand");
  }

  void check_attributes(const Node& node) {
    Attributes completed = node.attrs();
    try {
      complete_attributes(node.info(), completed);
    } catch (const Error& error) {
      fail(node, error.what());
    }
    // complete_attributes only adds defaults and converts ints to floats, so comparing
    // names and kinds finds every difference (values are not compared: NaN != NaN).
    for (const auto& [name, value] : completed.values()) {
      if (!node.attrs().has(name)) fail(node, "attribute '" + name + "' is missing");
      AttrKind kind = attr_value_kind(node.attrs().at(name));
      if (kind != attr_value_kind(value))
        fail(node, "attribute '" + name + "' is of kind " + std::string(attr_kind_name(kind)) +
                       ", not " + std::string(attr_kind_name(attr_value_kind(value))));
    }
  }

  void check_types(const Node& node) {
    std::vector<TensorType> declared;
    if (node.info().has(kSource))
      for (size_t i = 0; i < node.num_results(); ++i) declared.push_back(node.result(i)->type());
    std::vector<TensorType> inferred;
    try {
      inferred =
          infer_result_types(node.kind(), node.operands(), node.attrs(), declared, node.bodies());
    } catch (const Error& error) {
      fail(node, error.what());
    }
    if (inferred.size() != node.num_results())
      fail(node, "has " + std::to_string(node.num_results()) +
                     " result(s), shape inference gives " + std::to_string(inferred.size()));
    for (size_t i = 0; i < inferred.size(); ++i)
      if (node.result(i)->type() != inferred[i])
        fail(node, "result %" + node.result(i)->name() + " has type " +
                       node.result(i)->type().to_string() + ", but shape inference gives " +
                       inferred[i].to_string());
  }

  void check_outputs() const {
    std::unordered_set<std::string> names;
    for (const GraphOutput& output : graph_.outputs()) {
      if (!is_valid_name(output.name))
        fail("invalid output name '" + output.name + "' (use letters, digits, _ and .)");
      if (!names.insert(output.name).second)
        fail("output name '" + output.name + "' is used twice");
      if (!own_values_.count(output.value))
        fail("output '" + output.name + "' is not a value of this graph");
    }
  }

  void check_updates() const {
    std::unordered_set<const Value*> updated;
    for (const GraphUpdate& update : graph_.updates()) {
      if (!own_values_.count(update.parameter))
        fail("an update targets a value that is not in this graph");
      const std::string target = "update of %" + update.parameter->name();
      if (update.parameter->producer()->kind() != OpKind::Parameter)
        fail(target + ": the target is not a parameter");
      if (!own_values_.count(update.new_value))
        fail(target + ": the new value is not a value of this graph");
      if (update.new_value->type() != update.parameter->type())
        fail(target + ": the new value %" + update.new_value->name() + " has type " +
             update.new_value->type().to_string() + ", not " +
             update.parameter->type().to_string());
      if (!updated.insert(update.parameter).second)
        fail(target + ": the parameter is updated twice");
    }
  }

  const Graph& graph_;
  std::unordered_set<const Value*> own_values_;
  std::unordered_set<const Value*> defined_;
  std::unordered_map<std::string, const Node*> names_;
};

}  // namespace

void verify(const Graph& graph) { Verifier(graph).run(); }

}  // namespace rnnc::ir
