#include "passes/autodiff/graph_copy.h"

#include <cassert>

namespace rnnc::passes::autodiff {

ir::Node* copy_node(const ir::Node& node, ir::Graph& into, std::vector<ir::Value*> operands) {
  std::vector<ir::TensorType> declared;
  std::vector<std::string> names;
  for (size_t i = 0; i < node.num_results(); ++i) {
    if (node.info().has(ir::kSource)) declared.push_back(node.result(i)->type());
    names.push_back(node.result(i)->name());
  }
  std::vector<std::unique_ptr<ir::Graph>> bodies;
  for (const auto& body : node.bodies()) bodies.push_back(clone_graph(*body));
  return into.add_node(node.kind(), std::move(operands), node.attrs(), std::move(declared),
                       std::move(names), std::move(bodies));
}

std::unique_ptr<ir::Graph> clone_graph(const ir::Graph& graph, ValueMap* map) {
  auto copy = std::make_unique<ir::Graph>(graph.name());
  ValueMap local;
  ValueMap& values = map ? *map : local;
  for (const auto& node : graph.nodes()) {
    std::vector<ir::Value*> operands;
    for (const ir::Value* operand : node->operands()) {
      assert(values.count(operand) && "operand defined by an earlier node of the same graph");
      operands.push_back(values.at(operand));
    }
    ir::Node* copied = copy_node(*node, *copy, std::move(operands));
    for (size_t i = 0; i < node->num_results(); ++i) values[node->result(i)] = copied->result(i);
  }
  for (const ir::GraphOutput& output : graph.outputs())
    copy->add_output(output.name, values.at(output.value));
  for (const ir::GraphUpdate& update : graph.updates())
    copy->add_update(values.at(update.parameter), values.at(update.new_value));
  return copy;
}

}  // namespace rnnc::passes::autodiff
