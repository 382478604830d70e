#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Dead-code elimination: removes every node none of whose results reaches an output or an
/// update of its graph, then does the same inside the body graphs of the nodes that remain
/// (a body's outputs are its uses). Inputs and parameters are never removed: they are the
/// graph's interface, and a body's inputs are its loop's carries, sequences and invariants,
/// whose number and order stay as they are. Returns true when a node was removed.
bool eliminate_dead_code(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
