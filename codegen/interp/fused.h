#pragma once
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

namespace rnnc::interp {

/// Runs a Fused node with the interpreter: its body once, with the body inputs bound to
/// `operands` in order. Returns one tensor per body output (the node's results).
std::vector<Tensor> run_fused(const ir::Node& fused, const std::vector<const Tensor*>& operands);

}  // namespace rnnc::interp
