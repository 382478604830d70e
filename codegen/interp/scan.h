#pragma once
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

namespace rnnc::interp {

/// Runs a Scan node with the interpreter: its body once per time step, in the scan's
/// direction, honouring per-row lengths (rows past their length keep their state and get
/// zero outputs). Returns the final carries, then the stacked per-step outputs. Throws
/// rnnc::Error for a length outside [1, T].
std::vector<Tensor> run_scan(const ir::Node& scan, const std::vector<const Tensor*>& operands);

}  // namespace rnnc::interp
