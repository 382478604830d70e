#include "codegen/interp/fused.h"

#include <cassert>

#include "codegen/interp/interpreter.h"

namespace rnnc::interp {

std::vector<Tensor> run_fused(const ir::Node& fused, const std::vector<const Tensor*>& operands) {
  assert(fused.kind() == ir::OpKind::Fused);
  const ir::Graph& body = fused.body();
  std::vector<ir::Node*> inputs = body.nodes_of(ir::OpKind::Input);
  assert(inputs.size() == operands.size());
  Bindings bound;
  for (size_t i = 0; i < inputs.size(); ++i) bound[inputs[i]->result()->name()] = *operands[i];
  Bindings no_state;
  Bindings produced = Interpreter(body).run(bound, no_state);
  std::vector<Tensor> results;
  for (const ir::GraphOutput& output : body.outputs())
    results.push_back(std::move(produced.at(output.name)));
  return results;
}

}  // namespace rnnc::interp
