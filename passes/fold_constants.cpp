#include "passes/fold_constants.h"

#include <optional>

#include "ir/error.h"
#include "passes/canonicalize/rewriting.h"

namespace rnnc::passes {
namespace {

using ir::OpKind;
using rewriting::same_bits;

/// A Constant of `type` holding `values`, stored as one value when they are all bitwise equal.
ir::Value* add_constant(ir::Graph& graph, const ir::TensorType& type, std::vector<double> values,
                        const std::string& name_hint) {
  bool splat = !values.empty();
  for (double v : values) splat = splat && same_bits(v, values[0]);
  if (splat) values.resize(1);
  return graph.add_constant(type, std::move(values), name_hint);
}

/// True for ops that only move or copy elements, so that a splat operand gives a splat.
bool moves_data_only(OpKind kind) {
  return kind == OpKind::Broadcast || kind == OpKind::Reshape || kind == OpKind::Transpose ||
         kind == OpKind::Slice || kind == OpKind::Concat;
}

/// The splat value of `node`'s result when every operand is a splat and the op maps splats
/// to splats, or nothing. Elementwise ops are evaluated once on scalars.
std::optional<double> fold_splats(const ir::Node& node, const ConstantEvaluator* evaluator) {
  std::vector<double> splats;
  for (const ir::Value* operand : node.operands()) {
    std::optional<double> splat = rewriting::splat_value(operand);
    if (!splat || operand->type().num_elements() == 0) return std::nullopt;
    splats.push_back(*splat);
  }
  if (moves_data_only(node.kind())) {
    for (double v : splats)
      if (!same_bits(v, splats[0])) return std::nullopt;
    return splats[0];
  }
  if (!node.info().has(ir::kElementwise) || !evaluator) return std::nullopt;
  // The same op on scalars of the operands' dtypes: one evaluation, the same rounding.
  ir::Graph scratch("fold");
  std::vector<ir::Value*> operands;
  for (size_t i = 0; i < splats.size(); ++i)
    operands.push_back(scratch.add_constant({node.operand(i)->dtype(), {}}, {splats[i]}));
  ir::Node* scalar = scratch.add_node(node.kind(), operands, node.attrs());
  std::vector<std::vector<double>> values;
  for (double v : splats) values.push_back({v});
  std::vector<double> result = evaluator->evaluate(*scalar, values);
  return result.at(0);
}

/// The folded value of `node` (all operands constants), or null when it is not folded.
ir::Value* fold(ir::Node& node, const PassContext& context) {
  ir::Graph& graph = *node.owner();
  const ir::TensorType& type = node.result()->type();
  const std::string& name = node.result()->name();
  if (std::optional<double> splat = fold_splats(node, context.evaluator))
    return graph.add_constant(type, {*splat}, name);
  if (!context.evaluator || type.num_elements() > context.fold_limit_elements) return nullptr;
  std::vector<std::vector<double>> operands;
  for (const ir::Value* operand : node.operands()) {
    if (operand->type().num_elements() > context.fold_limit_elements) return nullptr;
    const ir::Node& producer = *operand->producer();
    operands.push_back(producer.kind() == OpKind::Constant
                           ? rewriting::constant_elements(producer)
                           : context.evaluator->evaluate(producer, {}));
  }
  std::vector<double> values = context.evaluator->evaluate(node, operands);
  return add_constant(graph, type, std::move(values), name);
}

/// True when `node` is a Constant of several elements that are all bitwise equal.
bool is_unsplatted(const ir::Node& node) {
  if (node.kind() != OpKind::Constant) return false;
  return node.attrs().get_floats("value").size() > 1 && rewriting::splat_value(node.result());
}

}  // namespace

bool fold_constants(ir::Graph& graph, const PassContext& context) {
  bool changed = rewriting::run_on_bodies(graph, fold_constants, context);
  std::unordered_set<const ir::Value*> used = rewriting::used_values(graph);
  rewriting::Replacements replacements;
  bool appended = false;
  size_t count = graph.nodes().size();  // nodes appended below are constants: not revisited
  for (size_t i = 0; i < count; ++i) {
    ir::Node& node = *graph.nodes()[i];
    replacements.rewrite_operands(node);
    if (!rewriting::has_uses(node, used)) continue;
    ir::Value* folded = nullptr;
    if (is_unsplatted(node)) {
      folded = graph.add_constant(node.result()->type(), {*rewriting::splat_value(node.result())},
                                  node.result()->name());
    } else if (!node.info().has(ir::kSource) && node.bodies().empty()) {
      bool all_constant = true;
      for (const ir::Value* operand : node.operands())
        all_constant = all_constant && rewriting::is_constant(*operand->producer());
      if (!all_constant) continue;
      try {
        folded = fold(node, context);
      } catch (const Error&) {
        folded = nullptr;  // bad data: left for run time to report
      }
    }
    if (!folded) continue;
    replacements.add(node.result(), folded);
    appended = changed = true;
  }
  replacements.finish(graph, appended);
  return changed;
}

}  // namespace rnnc::passes
