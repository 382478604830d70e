#pragma once
#include <string>

#include "ir/graph.h"

namespace rnnc::ir {

/// The Graphviz (DOT) text of `graph`, for `dot -Tsvg`: one box per node labelled with its
/// results, op, attributes (long lists shortened) and types; an edge per operand use,
/// labelled with the operand's position when the node has several; inputs, parameters and
/// constants drawn as ellipses; outputs and updates as their own shapes. A node's body
/// graphs (a loop's body) are nested as clusters beside it, joined to it by a dashed edge.
std::string print_dot(const Graph& graph);

}  // namespace rnnc::ir
