#pragma once
#include <string>

#include "ir/graph.h"

namespace rnnc::ir {

/// The text IR of `graph` (see docs/text-ir.md). parse_graph of this text gives a graph that
/// prints identically.
std::string print_graph(const Graph& graph);

}  // namespace rnnc::ir
