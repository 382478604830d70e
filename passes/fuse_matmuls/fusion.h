#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ir/graph.h"

/// Internals of the fuse-matmuls pass (passes/fuse_matmuls.h): what one sweep over one graph
/// knows about it, and the two rewrites. Internal to passes/.
namespace rnnc::passes::fusion {

/// Axes of a matmul's operands: A is [..., M, K] ([..., K, M] when transposed), B is
/// [..., K, N] ([..., N, K] when transposed); the result is [..., M, N].
int64_t m_axis(int64_t rank, bool transpose_a);
int64_t k_axis_of_a(int64_t rank, bool transpose_a);
int64_t k_axis_of_b(int64_t rank, bool transpose_b);
int64_t n_axis(int64_t rank, bool transpose_b);

/// The transpose flags of a MatMul node.
bool transpose_a(const ir::Node& matmul);
bool transpose_b(const ir::Node& matmul);

/// What one sweep of a rewrite over one graph knows about it, computed when the sweep
/// starts: node positions, use counts, which values change from step to step of an enclosing
/// loop, and concatenations already built (reused instead of built twice). Rewrites append
/// new nodes and retire the nodes they replace; finish() erases the retired nodes and
/// restores topological order.
class Sweep {
 public:
  explicit Sweep(ir::Graph& graph);

  ir::Graph& graph() const { return graph_; }
  /// The position of `node` in the graph when the sweep started (nodes added since: -1).
  int64_t position(const ir::Node* node) const;
  /// How many operands, outputs and updates read `value` (as the sweep started).
  int64_t uses(const ir::Value* value) const;
  /// True when `value` depends on a carried state of the loop whose body this graph is: a
  /// product that does not is computable for all steps at once (hoist-scan-invariants moves
  /// it out of the loop), so it is never fused with one that does. False at the top level.
  bool carry_dependent(const ir::Value* value) const;
  /// True when `value` is computed from parameters, constants and (in a loop body) the
  /// loop's invariants only: it is the same at every step of a loop, and concatenating such
  /// values is work that moves out of loops (or is small next to the products it feeds).
  bool weight_like(const ir::Value* value) const;
  /// True when `value` (in a loop body) depends on a carried state and is read only as
  /// per-step outputs of the loop: a product of such a value with a weight-like operand is
  /// computed for all steps after the loop (hoist-scan-invariants), so it is never fused with
  /// a product the loop itself needs. False at the top level.
  bool output_only(const ir::Value* value) const;

  /// concat(parts, axis) (axis >= 0), reusing an equal concatenation already in the graph or
  /// built earlier in this sweep.
  ir::Value* concat(const std::vector<ir::Value*>& parts, int64_t axis);
  /// matmul(a, b) with the given flags, its result named after `name_hint`.
  ir::Value* matmul(ir::Value* a, ir::Value* b, bool transpose_a, bool transpose_b,
                    const std::string& name_hint);
  /// The part [begin, end) of `value` along `axis` (whole along the other axes), named
  /// after `name_hint`.
  ir::Value* slice(ir::Value* value, int64_t axis, int64_t begin, int64_t end,
                   const std::string& name_hint);
  /// True when one of `values` depends, through operands, on a result of one of `nodes` (the
  /// graph is searched as it is now, new nodes included).
  bool depends_on_any(const std::vector<ir::Value*>& values,
                      const std::unordered_set<const ir::Node*>& nodes) const;

  /// Marks `node` as replaced: its results are no longer used and it is erased by finish().
  void retire(const ir::Node* node) { retired_.insert(node); }
  bool retired(const ir::Node* node) const { return retired_.count(node) != 0; }
  /// Erases the retired nodes and, when anything changed, sorts the graph topologically
  /// (body inputs keep their places). Returns true when anything changed.
  bool finish();

 private:
  ir::Graph& graph_;
  std::unordered_map<const ir::Node*, int64_t> positions_;
  std::unordered_map<const ir::Value*, int64_t> uses_;
  std::unordered_set<const ir::Value*> carry_dependent_;
  std::unordered_set<const ir::Value*> weight_like_;
  std::unordered_map<const ir::Value*, int64_t> per_step_outputs_;  ///< uses as such outputs
  std::map<std::pair<int64_t, std::vector<ir::Value*>>, ir::Value*> concats_;
  std::unordered_set<const ir::Node*> retired_;
  bool appended_ = false;
};

/// Rule 2: a sum (a chain of adds) of products that can be concatenated along K becomes one
/// product; see fuse_matmuls.h for when it applies. Returns true when anything was fused.
bool fuse_sums_of_products(Sweep& sweep);

/// Rule 1: products that share an operand (same side, same flags) become one product of the
/// shared operand with the others concatenated, followed by slices. Returns true when
/// anything was fused.
bool fuse_shared_operands(Sweep& sweep);

}  // namespace rnnc::passes::fusion
