#pragma once
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pass_manager.h"

/// Elementwise fusion: maximal groups of elementwise ops (and the broadcasts that stretch
/// their operands to the group's shape) become single Fused nodes (ir/ops.def), whose body is
/// the group's expression. Backends compile each Fused node as one kernel.
namespace rnnc::passes {

/// Rewrites `graph` and its Scan bodies, recursively (not the bodies of Fused nodes).
///
/// Candidates are the nodes with trait kElementwise and the Broadcast nodes. Walking the
/// graph in order, each candidate joins, one after another, the groups of its operands'
/// producers that are candidates of its result shape, whenever the union would not create a
/// cycle (no path leaves the union and comes back through nodes or groups outside it).
/// So every group computes over one index space, the shape of all its results. Then groups of
/// one shape that read a common value other than a constant (siblings: a backward step's gate
/// gradients all read dh) join, in graph order, under the same rule: one kernel reads the
/// value once, and the parts a concat joins come from one node.
///
/// A group becomes a Fused node when it holds at least two nodes, one of them elementwise
/// (a single op gains nothing from a body around it; a broadcast fused with its user is no
/// longer materialized), when some value of it is used outside it, and when it reads some
/// value other than a splat constant (a group of constants is fold-constants' business, and a
/// Fused node needs an operand). The node's operands are the values the group reads from
/// outside, in order of first use; splat constants (one value for every element) move into
/// the body instead, and are removed from the graph when nothing else reads them. Its results
/// are the group's values used outside it (by other nodes, outputs or updates), in graph
/// order. The graph is then put in a stable topological order (the earliest ready node
/// first). Deterministic; a second run changes nothing. Returns true when it changed the
/// graph.
bool fuse_elementwise(ir::Graph& graph, const PassContext& context);

/// Appends to `graph` a Fused node reading `operands`, whose body `expression` builds from
/// the body inputs (one per operand, of its type, in order) and returns the body outputs
/// (all of one shape). Throws rnnc::Error when the body is not a valid fused expression.
/// For tests and hand-built graphs.
ir::Node* add_fused_node(
    ir::Graph& graph, const std::vector<ir::Value*>& operands,
    const std::function<std::vector<ir::Value*>(const std::vector<ir::Value*>&)>& expression,
    const std::string& body_name = "fused");

}  // namespace rnnc::passes
