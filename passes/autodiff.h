#pragma once
#include <vector>

#include "ir/graph.h"

namespace rnnc::passes {

/// Appends to `graph` the symbolic gradient of the scalar float value `loss` with respect
/// to each value in `wrt` (parameters, inputs or any float value of the graph), built from
/// the same primitives as the forward graph (reverse-mode accumulation over the nodes in
/// reverse order). Returns one gradient per `wrt` entry, of that entry's type; an entry
/// the loss does not depend on gets a zero constant. Gradient values are named
/// "grad_<name>". Throws rnnc::Error when `loss` is not a float scalar.
std::vector<ir::Value*> append_gradients(ir::Graph& graph, ir::Value* loss,
                                         const std::vector<ir::Value*>& wrt);

}  // namespace rnnc::passes
