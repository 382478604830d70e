#include "passes/cse.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ir/printer.h"
#include "passes/canonicalize/rewriting.h"

namespace rnnc::passes {
namespace {

/// The bits of `value` in hex, so that equal keys mean bitwise-equal doubles.
std::string bits_text(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  char text[20];
  std::snprintf(text, sizeof text, "%llx", static_cast<unsigned long long>(bits));
  return text;
}

std::string attribute_text(const ir::AttrValue& value) {
  std::string text;
  switch (ir::attr_value_kind(value)) {
    case ir::AttrKind::Int:
      return "i" + std::to_string(std::get<int64_t>(value));
    case ir::AttrKind::Float:
      return "f" + bits_text(std::get<double>(value));
    case ir::AttrKind::Ints:
      text = "I";
      for (int64_t v : std::get<std::vector<int64_t>>(value)) text += std::to_string(v) + ",";
      return text;
    case ir::AttrKind::Floats:
      text = "F";
      for (double v : std::get<std::vector<double>>(value)) text += bits_text(v) + ",";
      return text;
    case ir::AttrKind::Str: {
      const std::string& str = std::get<std::string>(value);
      return "s" + std::to_string(str.size()) + ":" + str;
    }
    case ir::AttrKind::DType:
      return "d" + std::string(ir::dtype_name(std::get<ir::DType>(value)));
  }
  return "?";
}

/// Everything that decides what `node` computes, given value numbers for its operands.
std::string node_key(const ir::Node& node,
                     const std::unordered_map<const ir::Value*, size_t>& numbers) {
  std::vector<size_t> operands;
  for (const ir::Value* operand : node.operands()) operands.push_back(numbers.at(operand));
  if (node.info().has(ir::kCommutative)) std::sort(operands.begin(), operands.end());
  std::string key(node.info().name);
  key += "(";
  for (size_t number : operands) key += std::to_string(number) + ",";
  key += "){";
  for (const auto& [name, value] : node.attrs().values())
    key += name + "=" + attribute_text(value) + ";";
  key += "}:";
  for (size_t i = 0; i < node.num_results(); ++i) key += node.result(i)->type().to_string();
  for (const auto& body : node.bodies()) key += "\n" + ir::print_graph(*body);
  return key;
}

}  // namespace

bool eliminate_common_subexpressions(ir::Graph& graph, const PassContext& context) {
  bool changed = rewriting::run_on_bodies(graph, eliminate_common_subexpressions, context);
  std::unordered_map<const ir::Value*, size_t> numbers;
  std::unordered_map<std::string, ir::Node*> first_with_key;
  rewriting::Replacements replacements;
  std::unordered_set<const ir::Value*> used = rewriting::used_values(graph);
  for (const auto& owned : graph.nodes()) {
    ir::Node& node = *owned;
    replacements.rewrite_operands(node);
    for (size_t i = 0; i < node.num_results(); ++i) numbers.emplace(node.result(i), numbers.size());
    if (node.kind() == ir::OpKind::Input || node.kind() == ir::OpKind::Parameter) continue;
    auto [it, fresh] = first_with_key.emplace(node_key(node, numbers), &node);
    // An unused duplicate is left for dce: redirecting nothing is no change.
    if (fresh || !rewriting::has_uses(node, used)) continue;
    for (size_t i = 0; i < node.num_results(); ++i)
      replacements.add(node.result(i), it->second->result(i));
    changed = true;
  }
  replacements.finish(graph, /*appended=*/false);
  return changed;
}

}  // namespace rnnc::passes
