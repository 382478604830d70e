#include "codegen/interp/constant_evaluator.h"

#include <cassert>

#include "codegen/interp/kernels.h"

namespace rnnc::interp {

std::vector<double> KernelConstantEvaluator::evaluate(
    const ir::Node& node, const std::vector<std::vector<double>>& operands) const {
  if (node.kind() == ir::OpKind::Constant || node.kind() == ir::OpKind::Iota)
    return evaluate_constant(node).to_doubles();
  assert(node.bodies().empty() && "nodes with bodies are not folded");
  assert(operands.size() == node.operands().size());
  std::vector<Tensor> tensors;
  tensors.reserve(operands.size());
  for (size_t i = 0; i < operands.size(); ++i) {
    const ir::TensorType& type = node.operand(i)->type();
    tensors.push_back(Tensor::from_doubles(type.dtype, type.shape, operands[i]));
  }
  std::vector<const Tensor*> pointers;
  for (const Tensor& tensor : tensors) pointers.push_back(&tensor);
  return evaluate_node(node, pointers).to_doubles();
}

passes::PassContext pass_context_with_kernels() {
  static const KernelConstantEvaluator evaluator;
  passes::PassContext context;
  context.evaluator = &evaluator;
  return context;
}

}  // namespace rnnc::interp
