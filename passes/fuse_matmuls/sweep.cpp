#include <cassert>

#include "ir/builder.h"
#include "ir/graph_algorithms.h"
#include "passes/fuse_matmuls/fusion.h"

namespace rnnc::passes::fusion {

int64_t m_axis(int64_t rank, bool transpose_a) { return transpose_a ? rank - 1 : rank - 2; }
int64_t k_axis_of_a(int64_t rank, bool transpose_a) { return transpose_a ? rank - 2 : rank - 1; }
int64_t k_axis_of_b(int64_t rank, bool transpose_b) { return transpose_b ? rank - 1 : rank - 2; }
int64_t n_axis(int64_t rank, bool transpose_b) { return transpose_b ? rank - 2 : rank - 1; }

bool transpose_a(const ir::Node& matmul) { return matmul.attrs().get_int("transpose_a") != 0; }
bool transpose_b(const ir::Node& matmul) { return matmul.attrs().get_int("transpose_b") != 0; }

namespace {

/// The role of each body input of `graph`, the body of a loop: carried state, invariant, or
/// neither (a sequence slice). A top-level graph's inputs change with every run but belong to
/// no loop: neither carried nor invariant.
struct InputRoles {
  std::unordered_set<const ir::Node*> carries;
  std::unordered_set<const ir::Node*> invariants;
};

InputRoles input_roles(const ir::Graph& graph) {
  InputRoles roles;
  const ir::Node* loop = graph.parent();
  if (!loop || loop->kind() != ir::OpKind::Scan) return roles;
  const int64_t num_carry = loop->attrs().get_int("num_carry");
  const int64_t first_invariant = num_carry + loop->attrs().get_int("num_sequences");
  std::vector<ir::Node*> inputs = graph.nodes_of(ir::OpKind::Input);
  for (int64_t i = 0; i < static_cast<int64_t>(inputs.size()); ++i) {
    if (i < num_carry) roles.carries.insert(inputs[i]);
    if (i >= first_invariant) roles.invariants.insert(inputs[i]);
  }
  return roles;
}

}  // namespace

Sweep::Sweep(ir::Graph& graph) : graph_(graph) {
  const InputRoles roles = input_roles(graph);
  int64_t position = 0;
  for (const auto& owned : graph.nodes()) {
    const ir::Node& node = *owned;
    positions_[&node] = position++;
    bool carried = roles.carries.count(&node) != 0;
    // Parameters, constants and iotas are weight-like; inputs only when they are the
    // invariants of the enclosing loop; any other node when all its operands are.
    bool weight = node.kind() == ir::OpKind::Input ? roles.invariants.count(&node) != 0 : true;
    for (const ir::Value* operand : node.operands()) {
      ++uses_[operand];
      carried = carried || carry_dependent_.count(operand);
      weight = weight && weight_like_.count(operand);
    }
    for (size_t i = 0; i < node.num_results(); ++i) {
      if (carried) carry_dependent_.insert(node.result(i));
      if (weight) weight_like_.insert(node.result(i));
    }
    if (node.kind() == ir::OpKind::Concat)
      concats_.emplace(std::pair{node.attrs().get_int("axis"), node.operands()}, node.result());
  }
  for (const ir::GraphOutput& output : graph.outputs()) ++uses_[output.value];
  for (const ir::GraphUpdate& update : graph.updates()) ++uses_[update.new_value];
  const ir::Node* loop = graph.parent();
  if (loop && loop->kind() == ir::OpKind::Scan) {
    const size_t num_carry = static_cast<size_t>(loop->attrs().get_int("num_carry"));
    for (size_t i = num_carry; i < graph.outputs().size(); ++i)
      ++per_step_outputs_[graph.outputs()[i].value];
  }
}

int64_t Sweep::position(const ir::Node* node) const {
  auto it = positions_.find(node);
  return it == positions_.end() ? -1 : it->second;
}

int64_t Sweep::uses(const ir::Value* value) const {
  auto it = uses_.find(value);
  return it == uses_.end() ? 0 : it->second;
}

bool Sweep::carry_dependent(const ir::Value* value) const {
  return carry_dependent_.count(value) != 0;
}

bool Sweep::weight_like(const ir::Value* value) const { return weight_like_.count(value) != 0; }

bool Sweep::output_only(const ir::Value* value) const {
  auto it = per_step_outputs_.find(value);
  return carry_dependent(value) && it != per_step_outputs_.end() && it->second == uses(value);
}

ir::Value* Sweep::concat(const std::vector<ir::Value*>& parts, int64_t axis) {
  auto key = std::pair{axis, parts};
  auto it = concats_.find(key);
  if (it != concats_.end()) return it->second;
  ir::Value* joined = ir::build::concat(parts, axis);
  appended_ = true;
  concats_.emplace(std::move(key), joined);
  return joined;
}

ir::Value* Sweep::matmul(ir::Value* a, ir::Value* b, bool transpose_a, bool transpose_b,
                         const std::string& name_hint) {
  appended_ = true;
  ir::Attributes attrs{{"transpose_a", int64_t{transpose_a}},
                       {"transpose_b", int64_t{transpose_b}}};
  return graph_.add(ir::OpKind::MatMul, {a, b}, std::move(attrs), name_hint);
}

ir::Value* Sweep::slice(ir::Value* value, int64_t axis, int64_t begin, int64_t end,
                        const std::string& name_hint) {
  appended_ = true;
  std::vector<int64_t> starts(value->shape().size(), 0);
  std::vector<int64_t> ends = value->shape();
  starts[axis] = begin;
  ends[axis] = end;
  return graph_.add(ir::OpKind::Slice, {value}, {{"starts", starts}, {"ends", ends}}, name_hint);
}

bool Sweep::depends_on_any(const std::vector<ir::Value*>& values,
                           const std::unordered_set<const ir::Node*>& nodes) const {
  if (nodes.empty()) return false;
  std::unordered_set<const ir::Node*> seen;
  std::vector<const ir::Node*> stack;
  for (const ir::Value* value : values) stack.push_back(value->producer());
  while (!stack.empty()) {
    const ir::Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    if (nodes.count(node)) return true;
    for (const ir::Value* operand : node->operands()) stack.push_back(operand->producer());
  }
  return false;
}

bool Sweep::finish() {
  if (retired_.empty() && !appended_) return false;
#ifndef NDEBUG
  for (const auto& node : graph_.nodes()) {
    if (retired_.count(node.get())) continue;
    for (const ir::Value* operand : node->operands())
      assert(!retired_.count(operand->producer()) && "a retired node is still used");
  }
#endif
  graph_.erase_nodes_if([&](const ir::Node& node) { return retired_.count(&node) != 0; });
  ir::sort_topologically(graph_);
  return true;
}

}  // namespace rnnc::passes::fusion
