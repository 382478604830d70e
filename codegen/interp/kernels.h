#pragma once
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

namespace rnnc::interp {

/// Computes `node` (not a source) from its operands' tensors. Throws rnnc::Error on bad data
/// (an index out of range, an integer division by zero).
Tensor evaluate_node(const ir::Node& node, const std::vector<const Tensor*>& operands);

/// The value of a Constant or Iota node.
Tensor evaluate_constant(const ir::Node& node);

}  // namespace rnnc::interp
