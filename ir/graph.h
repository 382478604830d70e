#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/attributes.h"
#include "ir/op.h"
#include "ir/types.h"

namespace rnnc::ir {

class Graph;
class Node;

/// An SSA value: one result of one node. Its name is unique within its graph and is what
/// the text IR prints after '%'.
class Value {
 public:
  const TensorType& type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape& shape() const { return type_.shape; }
  const std::string& name() const { return name_; }
  /// The node that computes this value.
  Node* producer() const { return producer_; }
  /// Which of the producer's results this is.
  size_t result_index() const { return index_; }

 private:
  friend class Graph;
  TensorType type_;
  std::string name_;
  Node* producer_ = nullptr;
  size_t index_ = 0;
};

/// One operation: kind, operands, attributes, results, and optional body graphs (a loop's
/// body is a graph owned by its node).
class Node {
 public:
  OpKind kind() const { return kind_; }
  const OpInfo& info() const { return op_info(kind_); }
  const std::vector<Value*>& operands() const { return operands_; }
  Value* operand(size_t i) const { return operands_.at(i); }
  /// Rewires operand `i`; the caller keeps the graph well typed and ordered.
  void set_operand(size_t i, Value* value) { operands_.at(i) = value; }
  size_t num_results() const { return results_.size(); }
  Value* result(size_t i = 0) const { return results_.at(i).get(); }
  const Attributes& attrs() const { return attrs_; }
  const std::vector<std::unique_ptr<Graph>>& bodies() const { return bodies_; }
  /// Body graph `i`.
  Graph& body(size_t i = 0) const { return *bodies_.at(i); }
  /// The graph this node belongs to.
  Graph* owner() const { return owner_; }

 private:
  friend class Graph;
  OpKind kind_ = OpKind::Input;
  std::vector<Value*> operands_;
  std::vector<std::unique_ptr<Value>> results_;
  Attributes attrs_;
  std::vector<std::unique_ptr<Graph>> bodies_;
  Graph* owner_ = nullptr;
};

/// A named graph output.
struct GraphOutput {
  std::string name;
  Value* value;
};

/// A parameter (or optimizer state) that running the graph overwrites with a new value:
/// this is how one graph expresses a whole training step.
struct GraphUpdate {
  Value* parameter;  ///< result of a Parameter node
  Value* new_value;  ///< same type
};

/// A graph of nodes in topological order (every operand is defined by an earlier node).
/// Inputs, parameters and constants are nodes too.
class Graph {
 public:
  explicit Graph(std::string name = "main");
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  /// The node owning this graph as its body, or null for a top-level graph.
  Node* parent() const { return parent_; }

  /// Appends a node. Result types come from shape inference, except for sources, whose
  /// types are `declared`. `names` are hints for the results' names (default: the op's
  /// name); a hint already taken gets a numeric suffix. Throws rnnc::Error naming the node
  /// and its operands' types when the operands or attributes are invalid.
  /// `bodies` become the node's body graphs (a scan's loop body).
  Node* add_node(OpKind kind, std::vector<Value*> operands, Attributes attrs = {},
                 std::vector<TensorType> declared = {}, std::vector<std::string> names = {},
                 std::vector<std::unique_ptr<Graph>> bodies = {});
  /// add_node for a single-result op; returns its result.
  Value* add(OpKind kind, std::vector<Value*> operands, Attributes attrs = {},
             std::string name = {});

  /// A graph input named `name` (the name must be free).
  Value* add_input(const std::string& name, TensorType type);
  /// A trainable parameter (role "weight") or optimizer state (role "state") named `name`,
  /// initialized by `init` (see runtime/initializers.h) with `seed`.
  Value* add_parameter(const std::string& name, TensorType type, const std::string& init,
                       int64_t seed = 0, const std::string& role = "weight");
  /// A constant: one value per element, or a single value for all.
  Value* add_constant(TensorType type, std::vector<double> values, std::string name = {});

  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  /// Nodes of kind `kind`, in order.
  std::vector<Node*> nodes_of(OpKind kind) const;
  /// The value named `name`, or null.
  Value* find(std::string_view name) const;

  /// Marks `value` as output `name` (names are unique).
  void add_output(const std::string& name, Value* value);
  const std::vector<GraphOutput>& outputs() const { return outputs_; }
  /// The output named `name`, or null.
  Value* output(std::string_view name) const;
  /// Running the graph replaces `parameter` by `new_value`.
  void add_update(Value* parameter, Value* new_value);
  const std::vector<GraphUpdate>& updates() const { return updates_; }

  /// Rebuilds `node` in place with new operands, attributes and bodies (kind unchanged). Its
  /// results keep their Value objects, so pointers to them stay valid, and must keep their
  /// types; results the new form adds are appended, named by `new_result_names` hints. For
  /// rewrites that extend a node (a forward scan that also stacks residuals for the
  /// backward). New operands may be defined after the node: the caller then restores
  /// topological order (ir::sort_topologically). Throws rnnc::Error like add_node.
  void rebuild_node(Node& node, std::vector<Value*> operands, Attributes attrs,
                    std::vector<std::unique_ptr<Graph>> bodies,
                    const std::vector<std::string>& new_result_names = {});
  /// Replaces every use of `from` (operands, outputs, updates) by `to`.
  void replace_all_uses(Value* from, Value* to);
  /// Removes the nodes for which `dead` holds; the caller ensures none of their results is
  /// still used.
  void erase_nodes_if(const std::function<bool(const Node&)>& dead);
  /// Puts the nodes in the order given (a permutation of nodes()).
  void reorder(const std::vector<Node*>& order);

  /// A value name not yet used in this graph, starting from `hint`.
  std::string unique_name(std::string_view hint);

 private:
  std::string name_;
  Node* parent_ = nullptr;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<GraphOutput> outputs_;
  std::vector<GraphUpdate> updates_;
  std::unordered_map<std::string, Value*> values_by_name_;
  std::unordered_map<std::string, int64_t> name_counters_;
};

/// True when `name` can be a value name in the text IR: [A-Za-z_][A-Za-z0-9_.]*.
bool is_valid_name(std::string_view name);

/// "%name = op(%a: f32[2, 3], %b: f32[3])" (every result named): how errors name a node.
std::string describe_node(const Node& node);

}  // namespace rnnc::ir
