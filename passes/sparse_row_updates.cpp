#include "passes/sparse_row_updates.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "ir/builder.h"
#include "ir/graph_algorithms.h"

namespace rnnc::passes {
namespace {

namespace build = ir::build;
using ir::Node;
using ir::OpKind;
using ir::Value;

/// What a value holds in the rows where the gradient's row is zero.
struct RowClass {
  enum Kind { zero, same, other } kind = other;
  const Value* source = nullptr;  ///< same: the value whose row it equals

  bool operator==(const RowClass&) const = default;
};

const RowClass kZero{RowClass::zero};
const RowClass kOther{RowClass::other};

/// The class of elementwise `node`'s result from its operands' classes (see the header for
/// the liberty taken with 0 * x and 0 / x).
RowClass classify(OpKind kind, const std::vector<RowClass>& in) {
  auto is_zero = [&](size_t i) { return in[i] == kZero; };
  switch (kind) {
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Sqrt:
    case OpKind::Tanh:
    case OpKind::Relu:
    case OpKind::Cast:  // of zero; a cast of another row is another row
      return is_zero(0) ? kZero : kOther;
    case OpKind::Mul:
      return is_zero(0) || is_zero(1) ? kZero : kOther;
    case OpKind::Div:
      return is_zero(0) ? kZero : kOther;
    case OpKind::Add:
      if (is_zero(0)) return in[1];
      return is_zero(1) ? in[0] : kOther;
    case OpKind::Sub:
      return is_zero(1) ? in[0] : kOther;
    case OpKind::Select:
      return in[1] == in[2] ? in[1] : kOther;
    default:
      return kOther;
  }
}

/// One scatter_add gradient and everything the rewrite computes from it.
struct Cone {
  Node* gradient = nullptr;
  std::vector<Node*> nodes;  ///< elementwise nodes computed from it, in graph order
  std::vector<Node*> sums;   ///< full reduce_sums of zero-class cone values
  std::map<const Value*, RowClass> classes;
  std::set<const Value*> members;  ///< the gradient's and the cone nodes' results
};

bool reduces_all_axes(const Node& node) {
  std::vector<int64_t> axes = node.attrs().get_ints("axes");
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != static_cast<int64_t>(i)) return false;
  return static_cast<int64_t>(axes.size()) == node.operand(0)->type().rank();
}

/// A value outside the cone that a cone node reads: uniform over rows (a single-value
/// constant, or a broadcast that stretches over the row axis) or a table of rows.
bool row_uniform(const Value* value, int64_t rank) {
  const Node& producer = *value->producer();
  if (producer.kind() == OpKind::Constant) return producer.attrs().get_floats("value").size() == 1;
  if (producer.kind() != OpKind::Broadcast) return false;
  const ir::Shape& from = producer.operand(0)->shape();
  return static_cast<int64_t>(from.size()) < rank || from.at(0) == 1;
}

/// The cone of `gradient`, or nothing when the rewrite does not apply.
std::optional<Cone> find_cone(const ir::Graph& graph, Node* gradient) {
  Cone cone;
  cone.gradient = gradient;
  const ir::TensorType& table = gradient->result()->type();
  const int64_t rank = table.rank();
  cone.members.insert(gradient->result());
  cone.classes[gradient->result()] = kZero;
  bool started = false;
  for (const auto& owned : graph.nodes()) {
    Node* node = owned.get();
    if (node == gradient) {
      started = true;
      continue;
    }
    if (!started) continue;
    bool reads = false;
    for (const Value* operand : node->operands()) reads = reads || cone.members.count(operand);
    if (!reads) continue;
    if (node->kind() == OpKind::ReduceSum && reduces_all_axes(*node)) {
      if (!(cone.classes.at(node->operand(0)) == kZero)) return std::nullopt;
      cone.sums.push_back(node);
      continue;
    }
    if (!node->info().has(ir::kElementwise) || node->result()->shape() != table.shape)
      return std::nullopt;
    std::vector<RowClass> in;
    for (const Value* operand : node->operands()) {
      if (cone.members.count(operand))
        in.push_back(cone.classes.at(operand));
      else if (row_uniform(operand, rank))
        in.push_back(kOther);
      else
        in.push_back({RowClass::same, operand});
    }
    cone.nodes.push_back(node);
    cone.members.insert(node->result());
    cone.classes[node->result()] = classify(node->kind(), in);
  }
  for (const ir::GraphOutput& output : graph.outputs())
    if (cone.members.count(output.value)) return std::nullopt;
  bool updates = false;
  for (const ir::GraphUpdate& update : graph.updates()) {
    if (!cone.members.count(update.new_value)) continue;
    if (!(cone.classes.at(update.new_value) == RowClass{RowClass::same, update.parameter}))
      return std::nullopt;
    updates = true;
  }
  if (!updates) return std::nullopt;
  return cone;
}

/// Rebuilds `cone` on the rows its gradient's indices name; redirects its sums and updates.
void rewrite(ir::Graph& graph, const Cone& cone) {
  Value* indices = cone.gradient->operand(0);
  Value* updates = cone.gradient->operand(1);
  const ir::TensorType& table = cone.gradient->result()->type();
  const int64_t positions = indices->type().num_elements();
  ir::Shape rows_shape = table.shape;
  rows_shape[0] = positions;
  Value* flat = indices->type().rank() == 1 ? indices : build::reshape(indices, {positions});
  Value* flat_updates = build::reshape(updates, rows_shape);
  std::map<const Value*, Value*> sparse;
  sparse[cone.gradient->result()] = build::coalesce_rows(flat, flat_updates, table.shape[0]);
  auto operand_rows = [&](Value* operand) -> Value* {
    auto found = sparse.find(operand);
    if (found != sparse.end()) return found->second;
    // A row-uniform operand is rebuilt at the rows' shape, any other gathered at the indices.
    Value* rows = nullptr;
    const Node& producer = *operand->producer();
    if (!row_uniform(operand, table.rank()))
      rows = build::gather(operand, flat);
    else if (producer.kind() == OpKind::Constant)
      rows =
          graph.add_constant({operand->dtype(), rows_shape}, producer.attrs().get_floats("value"));
    else
      rows = build::broadcast(producer.operand(0), rows_shape);
    sparse[operand] = rows;
    return rows;
  };
  for (Node* node : cone.nodes) {
    std::vector<Value*> operands;
    for (Value* operand : node->operands()) operands.push_back(operand_rows(operand));
    sparse[node->result()] = graph.add(node->kind(), operands, node->attrs());
  }
  for (Node* sum : cone.sums)
    graph.replace_all_uses(sum->result(), build::reduce_sum(sparse.at(sum->operand(0)),
                                                            sum->attrs().get_ints("axes")));
  std::vector<ir::GraphUpdate> redirected;
  for (const ir::GraphUpdate& update : graph.updates())
    if (cone.members.count(update.new_value)) redirected.push_back(update);
  for (const ir::GraphUpdate& update : redirected)
    graph.replace_all_uses(
        update.new_value, build::scatter_rows(update.parameter, flat, sparse.at(update.new_value)));
}

}  // namespace

bool sparse_row_updates(ir::Graph& graph, const PassContext&) {
  bool changed = false;
  for (Node* gradient : graph.nodes_of(OpKind::ScatterAdd)) {
    const ir::TensorType& table = gradient->result()->type();
    if (2 * gradient->operand(0)->type().num_elements() > table.shape.at(0)) continue;
    std::optional<Cone> cone = find_cone(graph, gradient);
    if (!cone) continue;
    rewrite(graph, *cone);
    ir::sort_topologically(graph);  // the redirected sums and updates are read early
    changed = true;
  }
  return changed;
}

}  // namespace rnnc::passes
