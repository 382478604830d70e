#include "codegen/interp/interpreter.h"

#include <unordered_map>

#include "codegen/interp/fused.h"
#include "codegen/interp/kernels.h"
#include "codegen/interp/scan.h"
#include "ir/error.h"

namespace rnnc::interp {

Bindings Interpreter::run(const Bindings& inputs, Bindings& state) {
  check_bindings(graph_, inputs, state);
  std::unordered_map<const ir::Value*, Tensor> values;
  for (const auto& node : graph_.nodes()) {
    const ir::Value* result = node->result();
    if (node->kind() == ir::OpKind::Input) {
      values[result] = inputs.at(result->name());
      continue;
    }
    if (node->kind() == ir::OpKind::Parameter) {
      values[result] = state.at(result->name());
      continue;
    }
    if (node->kind() == ir::OpKind::Constant || node->kind() == ir::OpKind::Iota) {
      values[result] = evaluate_constant(*node);
      continue;
    }
    std::vector<const Tensor*> operands;
    for (const ir::Value* operand : node->operands()) operands.push_back(&values.at(operand));
    try {
      if (node->kind() == ir::OpKind::Scan || node->kind() == ir::OpKind::Fused) {
        std::vector<Tensor> results = node->kind() == ir::OpKind::Scan ? run_scan(*node, operands)
                                                                       : run_fused(*node, operands);
        for (size_t i = 0; i < results.size(); ++i) values[node->result(i)] = std::move(results[i]);
      } else {
        values[result] = evaluate_node(*node, operands);
      }
    } catch (const Error& error) {
      throw Error("node " + ir::describe_node(*node) + ": " + error.what());
    }
  }
  Bindings outputs;
  for (const ir::GraphOutput& output : graph_.outputs())
    outputs[output.name] = values.at(output.value);
  for (const ir::GraphUpdate& update : graph_.updates())
    state[update.parameter->name()] = values.at(update.new_value);
  return outputs;
}

Bindings run_graph(const ir::Graph& graph, const Bindings& inputs, Bindings& state) {
  return Interpreter(graph).run(inputs, state);
}

}  // namespace rnnc::interp
