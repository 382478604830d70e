#include "ir/error.h"
#include "passes/autodiff/rules.h"

namespace rnnc::passes::autodiff {

OperandGradients scan_gradient(const ir::Node& node, const std::vector<ir::Value*>&) {
  throw Error("node " + ir::describe_node(node) + ": the gradient of scan is not implemented yet");
}

}  // namespace rnnc::passes::autodiff
