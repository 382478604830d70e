#pragma once
#include <memory>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

/// Copying nodes and graphs, for rules that build new loop bodies from old ones (the scan
/// rule copies a body to differentiate it, then copies parts of the result into new bodies).
namespace rnnc::passes::autodiff {

/// Values of a source graph -> the values standing for them in a graph being built.
using ValueMap = std::unordered_map<const ir::Value*, ir::Value*>;

/// Appends to `into` a copy of `node` (kind, attributes, body graphs deep-copied) reading
/// `operands` (values of `into`), its results named like `node`'s where the names are free.
ir::Node* copy_node(const ir::Node& node, ir::Graph& into, std::vector<ir::Value*> operands);

/// A deep copy of `graph`: nodes in order, body graphs, outputs and updates, names kept. When
/// `map` is given it receives every value of `graph` -> its copy.
std::unique_ptr<ir::Graph> clone_graph(const ir::Graph& graph, ValueMap* map = nullptr);

}  // namespace rnnc::passes::autodiff
