// Gradient rule of Fused: the vector-Jacobian product of the body, inlined into the outer
// graph. The body is an elementwise expression, so its product is one too (plus reductions
// for the broadcasts of lower-rank operands); a later fuse-elementwise run fuses it again.
#include <cassert>
#include <unordered_set>

#include "passes/autodiff/graph_copy.h"
#include "passes/autodiff/rules.h"
#include "passes/autodiff/scan_body.h"

namespace rnnc::passes::autodiff {

OperandGradients fused_gradient(const ir::Node& node, const std::vector<ir::Value*>& result_grads,
                                const RuleContext& context) {
  assert(node.kind() == ir::OpKind::Fused);
  ir::Graph& outer = *node.owner();
  std::vector<bool> seeded(result_grads.size());
  for (size_t i = 0; i < result_grads.size(); ++i) seeded[i] = result_grads[i] != nullptr;
  std::vector<bool> wanted = context.operand_needed;
  if (wanted.size() != node.operands().size()) wanted.assign(node.operands().size(), true);
  BodyGradient gradient = differentiate_body(node.body(), seeded, wanted);
  const ir::Graph& product = *gradient.graph;

  // The product's inputs stand for the operands and the result adjoints; its copies of the
  // body outputs are the node's results (computed already, not recomputed).
  ValueMap map;
  for (size_t i = 0; i < gradient.inputs.size(); ++i) map[gradient.inputs[i]] = node.operand(i);
  for (size_t i = 0; i < gradient.output_adjoints.size(); ++i)
    if (gradient.output_adjoints[i]) map[gradient.output_adjoints[i]] = result_grads[i];
  for (size_t i = 0; i < product.outputs().size(); ++i)
    if (!map.count(product.outputs()[i].value)) map[product.outputs()[i].value] = node.result(i);

  // Copy only the nodes the operand adjoints need, in order.
  std::unordered_set<const ir::Node*> needed;
  std::vector<const ir::Value*> pending;
  for (ir::Value* grad : gradient.input_grads)
    if (grad) pending.push_back(grad);
  while (!pending.empty()) {
    const ir::Value* value = pending.back();
    pending.pop_back();
    if (map.count(value) || !needed.insert(value->producer()).second) continue;
    for (const ir::Value* operand : value->producer()->operands()) pending.push_back(operand);
  }
  for (const auto& body_node : product.nodes()) {
    if (!needed.count(body_node.get())) continue;
    assert(body_node->kind() != ir::OpKind::Input);
    std::vector<ir::Value*> operands;
    for (const ir::Value* operand : body_node->operands()) operands.push_back(map.at(operand));
    ir::Node* copy = copy_node(*body_node, outer, std::move(operands));
    for (size_t r = 0; r < copy->num_results(); ++r) map[body_node->result(r)] = copy->result(r);
  }

  OperandGradients grads(node.operands().size(), nullptr);
  for (size_t i = 0; i < grads.size(); ++i)
    if (gradient.input_grads[i]) grads[i] = map.at(gradient.input_grads[i]);
  return grads;
}

}  // namespace rnnc::passes::autodiff
