#pragma once
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"

/// Helpers shared by the canonicalization passes (simplify, fold-constants, cse, dce): use
/// sets, deferred replacement of values, and questions about constants. Internal to passes/.
namespace rnnc::passes::rewriting {

/// Every value of `graph` that some node, output or update uses.
std::unordered_set<const ir::Value*> used_values(const ir::Graph& graph);

/// True when some result of `node` is in `used`.
bool has_uses(const ir::Node& node, const std::unordered_set<const ir::Value*>& used);

/// Replacements collected while walking a graph in order: each node's operands are rewritten
/// through the map before the node is looked at (so chains collapse in one walk), and
/// finish() rewrites outputs and updates and restores topological order when new nodes were
/// appended.
class Replacements {
 public:
  /// From now on, uses of `from` read `to`.
  void add(ir::Value* from, ir::Value* to);
  /// `value` after every replacement.
  ir::Value* resolve(ir::Value* value) const;
  /// Rewrites `node`'s operands through the map.
  void rewrite_operands(ir::Node& node) const;
  /// Rewrites `graph`'s outputs and updates through the map and, when `appended` (nodes were
  /// added at the end during the walk), sorts the graph topologically again.
  void finish(ir::Graph& graph, bool appended) const;
  bool empty() const { return map_.empty(); }

 private:
  std::unordered_map<ir::Value*, ir::Value*> map_;
};

/// True for Constant and Iota nodes: sources whose values are known at compile time.
bool is_constant(const ir::Node& node);

/// The single value every element of `value` has when it is a Constant whose elements are
/// all bitwise equal (a splat), or nothing.
std::optional<double> splat_value(const ir::Value* value);

/// The Constant whose elements `value` holds, possibly moved by broadcasts, reshapes and
/// transposes (which keep the set of element values), or null.
const ir::Node* underlying_constant(const ir::Value* value);

/// True when `value` is a Constant (or a broadcast, reshape or transpose of one) whose every
/// element equals `number` (numerically: -0 and +0 both equal 0).
bool is_constant_equal_to(const ir::Value* value, double number);

/// The elements of a Constant node, one per element (a splat expanded).
std::vector<double> constant_elements(const ir::Node& constant);

/// True when `a` and `b` hold the same bits (so -0 differs from 0 and equal NaNs match).
bool same_bits(double a, double b);

/// Runs `pass` on every body graph of `graph`'s nodes; true when any changed.
template <typename Pass, typename Context>
bool run_on_bodies(ir::Graph& graph, Pass pass, const Context& context) {
  bool changed = false;
  for (const auto& node : graph.nodes())
    for (const auto& body : node->bodies()) changed = pass(*body, context) || changed;
  return changed;
}

}  // namespace rnnc::passes::rewriting
