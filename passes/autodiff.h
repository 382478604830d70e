#pragma once
#include <vector>

#include "ir/graph.h"

namespace rnnc::passes {

/// Appends to `graph` the symbolic gradient of the scalar float value `loss` with respect
/// to each value in `wrt` (parameters, inputs or any float value of the graph), built from
/// the same primitives as the forward graph (reverse-mode accumulation over the nodes in
/// reverse order). Returns one gradient per `wrt` entry, of that entry's type; an entry
/// the loss does not depend on gets a zero constant. Gradient values are named
/// "grad_<name>". A forward Scan whose backward reads residuals is rebuilt in place to also
/// stack them (extra results after its own): pointers to forward values stay valid. Throws
/// rnnc::Error when `loss` is not a float scalar, a `wrt` value is not a float, or either
/// belongs to another graph.
std::vector<ir::Value*> append_gradients(ir::Graph& graph, ir::Value* loss,
                                         const std::vector<ir::Value*>& wrt);

}  // namespace rnnc::passes
