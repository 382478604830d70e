#pragma once
#include "ir/graph.h"

namespace rnnc::ir {

/// Checks every invariant of `graph` (and of its nodes' body graphs): operands defined by
/// earlier nodes of the same graph, result types equal to shape inference, attributes
/// complete and well kinded, names valid and unique, outputs and updates referring to the
/// graph's own values, updates targeting parameters with equal types, once each. Throws
/// rnnc::Error naming the graph and the node at fault.
void verify(const Graph& graph);

}  // namespace rnnc::ir
