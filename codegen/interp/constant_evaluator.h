#pragma once
#include <vector>

#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::interp {

/// Constant folding with the interpreter's kernels (evaluate_node, evaluate_constant): what
/// a PassContext's evaluator should be, so that a folded constant holds exactly the numbers
/// the interpreter would compute at run time. Lives here because passes/ may not include
/// codegen/.
class KernelConstantEvaluator final : public passes::ConstantEvaluator {
 public:
  std::vector<double> evaluate(const ir::Node& node,
                               const std::vector<std::vector<double>>& operands) const override;
};

/// A PassContext whose evaluator is a KernelConstantEvaluator living as long as the program.
passes::PassContext pass_context_with_kernels();

}  // namespace rnnc::interp
