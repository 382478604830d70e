#include "passes/fuse_elementwise.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace rnnc::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

bool is_candidate(const Node& node) {
  return node.info().has(ir::kElementwise) || node.kind() == OpKind::Broadcast;
}

/// A Constant holding one value for all its elements: it moves into a body as it is.
bool is_splat_constant(const Node& node) {
  return node.kind() == OpKind::Constant && node.attrs().get_floats("value").size() == 1;
}

/// The grouping of one graph's candidates: group[i] is the group (the index of its first
/// node) of node i, or -1 for a node outside every group.
class Partition {
 public:
  explicit Partition(const Graph& graph) : graph_(graph), group_(graph.nodes().size(), -1) {
    for (size_t i = 0; i < graph.nodes().size(); ++i) {
      const Node& node = *graph.nodes()[i];
      for (size_t r = 0; r < node.num_results(); ++r) producer_[node.result(r)] = i;
    }
    users_.resize(graph.nodes().size());
    for (size_t i = 0; i < graph.nodes().size(); ++i)
      for (const Value* operand : graph.nodes()[i]->operands())
        if (producer_.count(operand)) users_[producer_.at(operand)].push_back(i);
  }

  /// Walks the candidates in order, merging each with its operands' groups where legal.
  void build() {
    for (size_t i = 0; i < graph_.nodes().size(); ++i) {
      const Node& node = *graph_.nodes()[i];
      if (!is_candidate(node)) continue;
      group_[i] = static_cast<int64_t>(i);
      members_[group_[i]] = {i};
      for (const Value* operand : node.operands()) {
        auto it = producer_.find(operand);
        if (it == producer_.end() || group_[it->second] < 0) continue;
        if (operand->shape() != node.result()->shape()) continue;
        int64_t other = group_[it->second];
        if (other != group_[i] && can_merge(group_[i], other)) merge(group_[i], other);
      }
    }
  }

  /// Joins groups of one shape that read a common value other than a constant (siblings: a
  /// backward step's gate gradients all read dh), in graph order, whenever the union would not
  /// create a cycle: one kernel then reads the value once, and the parts that a concat joins
  /// come from one step.
  void merge_siblings() {
    // The nodes of groups of each shape reading each value, so far.
    std::map<std::pair<const Value*, ir::Shape>, std::vector<size_t>> readers;
    for (size_t i = 0; i < graph_.nodes().size(); ++i) {
      if (group_[i] < 0) continue;
      for (const Value* operand : graph_.nodes()[i]->operands()) {
        const OpKind source = operand->producer()->kind();
        if (source == OpKind::Constant || source == OpKind::Iota) continue;
        std::vector<size_t>& earlier = readers[std::pair(operand, shape_of(group_[i]))];
        for (size_t reader : earlier) {
          const int64_t a = group_[reader], b = group_[i];
          if (a != b && can_merge(a, b)) merge(a, b);
        }
        earlier.push_back(i);
      }
    }
  }

  /// The groups worth a Fused node, each as its node indices in order, by first node.
  std::vector<std::vector<size_t>> fusible_groups() const {
    std::map<int64_t, std::vector<size_t>> ordered(members_.begin(), members_.end());
    std::vector<std::vector<size_t>> groups;
    for (auto& [id, nodes] : ordered) {
      bool has_elementwise = std::any_of(nodes.begin(), nodes.end(), [&](size_t i) {
        return graph_.nodes()[i]->info().has(ir::kElementwise);
      });
      if (nodes.size() >= 2 && has_elementwise) groups.push_back(std::move(nodes));
    }
    return groups;
  }

 private:
  /// The shape of every result of group `g`.
  const ir::Shape& shape_of(int64_t g) const {
    return graph_.nodes()[members_.at(g).front()]->result()->shape();
  }

  /// The cluster of node i in the graph with every group contracted to one node.
  int64_t cluster(size_t i) const {
    return group_[i] >= 0 ? group_[i] : static_cast<int64_t>(group_.size() + i);
  }

  /// True when contracting groups `a` and `b` into one keeps the contracted graph acyclic:
  /// no cluster outside a ∪ b is reachable from it and reaches back into it.
  bool can_merge(int64_t a, int64_t b) const {
    auto inside = [&](size_t i) { return group_[i] == a || group_[i] == b; };
    std::vector<bool> reached(graph_.nodes().size(), false);
    std::vector<size_t> stack;
    std::unordered_set<int64_t> reached_groups;
    auto reach = [&](size_t i) {
      if (inside(i) || reached[i]) return;
      reached[i] = true;
      stack.push_back(i);
    };
    for (int64_t g : {a, b})
      for (size_t i : members_.at(g))
        for (size_t user : users_[i]) reach(user);
    while (!stack.empty()) {
      size_t i = stack.back();
      stack.pop_back();
      // Reaching one node of a group reaches the whole contracted group.
      if (group_[i] >= 0 && reached_groups.insert(group_[i]).second)
        for (size_t j : members_.at(group_[i])) reach(j);
      for (size_t user : users_[i]) {
        if (inside(user)) return false;
        reach(user);
      }
    }
    return true;
  }

  void merge(int64_t a, int64_t b) {
    int64_t kept = std::min(a, b), gone = std::max(a, b);
    std::vector<size_t>& into = members_.at(kept);
    for (size_t i : members_.at(gone)) {
      group_[i] = kept;
      into.push_back(i);
    }
    std::sort(into.begin(), into.end());
    members_.erase(gone);
  }

  const Graph& graph_;
  std::vector<int64_t> group_;
  std::unordered_map<int64_t, std::vector<size_t>> members_;
  std::unordered_map<const Value*, size_t> producer_;
  std::vector<std::vector<size_t>> users_;
};

/// Replaces the group `members` (nodes of `graph`, in order) by one Fused node appended to
/// `graph`; the members are left unused for the caller to erase.
void fuse_group(Graph& graph, const std::vector<Node*>& members,
                const std::unordered_set<const Value*>& used_outside) {
  std::unordered_set<const Node*> in_group(members.begin(), members.end());
  auto body = std::make_unique<Graph>("fused");
  std::unordered_map<const Value*, Value*> inner;
  std::vector<Value*> operands;
  auto inner_value = [&](Value* outer) -> Value* {
    auto it = inner.find(outer);
    if (it != inner.end()) return it->second;
    const Node& producer = *outer->producer();
    Value* value;
    if (is_splat_constant(producer)) {
      value =
          body->add_constant(outer->type(), producer.attrs().get_floats("value"), outer->name());
    } else {
      value = body->add_input(outer->name(), outer->type());
      operands.push_back(outer);
    }
    inner[outer] = value;
    return value;
  };
  // Inputs and constants first, in order of first use, so that the body reads naturally.
  for (const Node* member : members)
    for (Value* operand : member->operands())
      if (!in_group.count(operand->producer())) inner_value(operand);
  std::vector<Value*> results;
  for (const Node* member : members) {
    std::vector<Value*> member_operands;
    for (Value* operand : member->operands()) member_operands.push_back(inner.at(operand));
    Node* copy = body->add_node(member->kind(), std::move(member_operands), member->attrs(), {},
                                {member->result()->name()});
    inner[member->result()] = copy->result();
    if (used_outside.count(member->result())) {
      body->add_output(member->result()->name(), copy->result());
      results.push_back(member->result());
    }
  }
  std::vector<std::string> names;
  for (Value* result : results) names.push_back(result->name());
  std::vector<std::unique_ptr<Graph>> bodies;
  bodies.push_back(std::move(body));
  Node* fused = graph.add_node(OpKind::Fused, operands, {}, {}, names, std::move(bodies));
  for (size_t k = 0; k < results.size(); ++k) graph.replace_all_uses(results[k], fused->result(k));
}

/// Puts `graph` in topological order, keeping the current order wherever it is valid
/// (Kahn's algorithm taking the earliest ready node first), so the result is deterministic.
void stable_topological_sort(Graph& graph) {
  const auto& nodes = graph.nodes();
  std::unordered_map<const Value*, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (size_t r = 0; r < nodes[i]->num_results(); ++r) producer[nodes[i]->result(r)] = i;
  std::vector<std::vector<size_t>> users(nodes.size());
  std::vector<size_t> pending(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const Value* operand : nodes[i]->operands()) {
      users[producer.at(operand)].push_back(i);
      ++pending[i];
    }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<Node*> order;
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(nodes[i].get());
    for (size_t user : users[i])
      if (--pending[user] == 0) ready.push(user);
  }
  assert(order.size() == nodes.size() && "fusion created a cycle");
  graph.reorder(order);
}

}  // namespace

bool fuse_elementwise(Graph& graph, const PassContext& context) {
  bool changed = false;
  for (const auto& node : graph.nodes())
    if (node->kind() == OpKind::Scan)
      for (const auto& body : node->bodies()) changed = fuse_elementwise(*body, context) || changed;

  Partition partition(graph);
  partition.build();
  partition.merge_siblings();
  std::vector<std::vector<size_t>> groups = partition.fusible_groups();
  if (groups.empty()) return changed;

  std::vector<std::vector<Node*>> members;
  std::unordered_set<const Node*> fused_nodes;
  for (const auto& group : groups) {
    members.emplace_back();
    for (size_t i : group) {
      members.back().push_back(graph.nodes()[i].get());
      fused_nodes.insert(graph.nodes()[i].get());
    }
  }
  // A value is used outside its group when an output, an update or a node of another group
  // (or of none) reads it.
  std::unordered_map<const Node*, size_t> group_of;
  for (size_t g = 0; g < members.size(); ++g)
    for (const Node* member : members[g]) group_of[member] = g;
  std::unordered_set<const Value*> used_outside;
  for (const ir::GraphOutput& output : graph.outputs()) used_outside.insert(output.value);
  for (const ir::GraphUpdate& update : graph.updates()) used_outside.insert(update.new_value);
  for (const auto& node : graph.nodes()) {
    auto user_group = group_of.find(node.get());
    for (const Value* operand : node->operands()) {
      auto producer_group = group_of.find(operand->producer());
      if (user_group == group_of.end() || producer_group == group_of.end() ||
          user_group->second != producer_group->second)
        used_outside.insert(operand);
    }
  }

  std::vector<Node*> splat_constants;
  for (const auto& group : members)
    for (const Node* member : group)
      for (const Value* operand : member->operands())
        if (is_splat_constant(*operand->producer())) splat_constants.push_back(operand->producer());
  bool fused_any = false;
  for (const auto& group : members) {
    std::unordered_set<const Node*> in_group(group.begin(), group.end());
    bool used = std::any_of(group.begin(), group.end(),
                            [&](const Node* node) { return used_outside.count(node->result()); });
    // A group reading only splat constants is a constant: fold-constants' business (and a
    // Fused node needs an operand).
    bool reads_data = std::any_of(group.begin(), group.end(), [&](const Node* node) {
      return std::any_of(node->operands().begin(), node->operands().end(), [&](Value* operand) {
        return !in_group.count(operand->producer()) && !is_splat_constant(*operand->producer());
      });
    });
    if (used && reads_data) {
      fuse_group(graph, group, used_outside);
      fused_any = true;
    } else {
      for (const Node* node : group) fused_nodes.erase(node);  // dead or constant: left as it is
    }
  }

  // Erase the members, then the splat constants nothing reads any more.
  graph.erase_nodes_if([&](const Node& node) { return fused_nodes.count(&node) > 0; });
  std::unordered_set<const Value*> still_used;
  for (const auto& node : graph.nodes())
    for (const Value* operand : node->operands()) still_used.insert(operand);
  for (const ir::GraphOutput& output : graph.outputs()) still_used.insert(output.value);
  for (const ir::GraphUpdate& update : graph.updates()) still_used.insert(update.new_value);
  std::unordered_set<const Node*> absorbed(splat_constants.begin(), splat_constants.end());
  graph.erase_nodes_if(
      [&](const Node& node) { return absorbed.count(&node) && !still_used.count(node.result()); });
  if (!fused_any) return changed;
  stable_topological_sort(graph);
  return true;
}

ir::Node* add_fused_node(
    ir::Graph& graph, const std::vector<ir::Value*>& operands,
    const std::function<std::vector<ir::Value*>(const std::vector<ir::Value*>&)>& expression,
    const std::string& body_name) {
  auto body = std::make_unique<Graph>(body_name);
  std::vector<Value*> inputs;
  for (size_t i = 0; i < operands.size(); ++i)
    inputs.push_back(body->add_input(body->unique_name(operands[i]->name()), operands[i]->type()));
  std::vector<Value*> outputs = expression(inputs);
  std::vector<std::string> names;
  for (size_t i = 0; i < outputs.size(); ++i) {
    body->add_output("out" + std::to_string(i), outputs[i]);
    names.push_back("fused");
  }
  std::vector<std::unique_ptr<Graph>> bodies;
  bodies.push_back(std::move(body));
  return graph.add_node(OpKind::Fused, operands, {}, {}, names, std::move(bodies));
}

}  // namespace rnnc::passes
