#include "passes/canonicalize/rewriting.h"

#include <cstring>

#include "ir/graph_algorithms.h"

namespace rnnc::passes::rewriting {

std::unordered_set<const ir::Value*> used_values(const ir::Graph& graph) {
  std::unordered_set<const ir::Value*> used;
  for (const auto& node : graph.nodes())
    for (const ir::Value* operand : node->operands()) used.insert(operand);
  for (const ir::GraphOutput& output : graph.outputs()) used.insert(output.value);
  for (const ir::GraphUpdate& update : graph.updates()) {
    used.insert(update.parameter);
    used.insert(update.new_value);
  }
  return used;
}

bool has_uses(const ir::Node& node, const std::unordered_set<const ir::Value*>& used) {
  for (size_t i = 0; i < node.num_results(); ++i)
    if (used.count(node.result(i))) return true;
  return false;
}

void Replacements::add(ir::Value* from, ir::Value* to) {
  if (from != to) map_[from] = to;
}

ir::Value* Replacements::resolve(ir::Value* value) const {
  for (auto it = map_.find(value); it != map_.end(); it = map_.find(value)) value = it->second;
  return value;
}

void Replacements::rewrite_operands(ir::Node& node) const {
  if (map_.empty()) return;
  for (size_t i = 0; i < node.operands().size(); ++i) {
    ir::Value* resolved = resolve(node.operand(i));
    if (resolved != node.operand(i)) node.set_operand(i, resolved);
  }
}

void Replacements::finish(ir::Graph& graph, bool appended) const {
  if (!map_.empty()) {
    std::vector<std::pair<ir::Value*, ir::Value*>> pending;
    for (const ir::GraphOutput& output : graph.outputs())
      if (map_.count(output.value)) pending.emplace_back(output.value, resolve(output.value));
    for (const ir::GraphUpdate& update : graph.updates())
      if (map_.count(update.new_value))
        pending.emplace_back(update.new_value, resolve(update.new_value));
    for (const auto& [from, to] : pending) graph.replace_all_uses(from, to);
  }
  // Roots are visited in graph order, so nodes already in order keep their places (body
  // inputs stay first, in order) and appended nodes move before their first user.
  if (appended) ir::sort_topologically(graph);
}

bool is_constant(const ir::Node& node) {
  return node.kind() == ir::OpKind::Constant || node.kind() == ir::OpKind::Iota;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::optional<double> splat_value(const ir::Value* value) {
  const ir::Node& node = *value->producer();
  if (node.kind() != ir::OpKind::Constant) return std::nullopt;
  const std::vector<double>& values = node.attrs().get_floats("value");
  if (values.empty()) return std::nullopt;
  for (double v : values)
    if (!same_bits(v, values[0])) return std::nullopt;
  return values[0];
}

const ir::Node* underlying_constant(const ir::Value* value) {
  const ir::Node* node = value->producer();
  while (node->kind() == ir::OpKind::Broadcast || node->kind() == ir::OpKind::Reshape ||
         node->kind() == ir::OpKind::Transpose)
    node = node->operand(0)->producer();
  return node->kind() == ir::OpKind::Constant ? node : nullptr;
}

bool is_constant_equal_to(const ir::Value* value, double number) {
  const ir::Node* constant = underlying_constant(value);
  if (!constant) return false;
  for (double v : constant->attrs().get_floats("value"))
    if (v != number) return false;
  return true;
}

std::vector<double> constant_elements(const ir::Node& constant) {
  const std::vector<double>& values = constant.attrs().get_floats("value");
  int64_t count = constant.result()->type().num_elements();
  if (static_cast<int64_t>(values.size()) == count) return values;
  return std::vector<double>(count, values[0]);
}

}  // namespace rnnc::passes::rewriting
