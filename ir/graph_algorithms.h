#pragma once
#include <vector>

#include "ir/graph.h"

namespace rnnc::ir {

/// The nodes of `graph` in a topological order of their def-use edges, computed with
/// Boost.Graph. Throws rnnc::Error naming a node on a cycle.
std::vector<Node*> topological_order(const Graph& graph);

/// Reorders `graph`'s nodes topologically (after rewrites that appended or rewired nodes).
void sort_topologically(Graph& graph);

/// The nodes whose results reach an output or an update, in graph order.
std::vector<Node*> live_nodes(const Graph& graph);

}  // namespace rnnc::ir
