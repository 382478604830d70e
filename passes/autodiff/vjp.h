#pragma once
#include <unordered_set>
#include <vector>

#include "ir/graph.h"

/// The general entry of the symbolic backward pass (passes/autodiff.h builds on it): adjoints
/// seeded at several values instead of a scalar loss's 1. The scan rule uses it on a copy of a
/// loop body, whose outputs (next carries, per-step outputs) get their adjoints from the loop.
namespace rnnc::passes::autodiff {

/// A given adjoint of one value: the product starts from these.
struct Seed {
  ir::Value* value;    ///< a float value of the graph
  ir::Value* adjoint;  ///< of `value`'s type, in the same graph
};

/// What append_vector_jacobian_product appended.
struct VectorJacobianProduct {
  /// Per `wrt` entry: the sum over seeds of adjoint^T * d value / d wrt, or null where no
  /// seeded value depends on it.
  std::vector<ir::Value*> grads;
  /// The nodes that are not part of the product: those the graph held before (seed adjoints
  /// included; a forward scan rebuilt to stack its residuals is still the same node).
  std::unordered_set<const ir::Node*> forward_nodes;
};

/// Appends to `graph` the vector-Jacobian product of `seeds` with respect to each value of
/// `wrt` (float values of `graph`), by reverse-mode accumulation over the nodes in reverse
/// order, removing appended nodes no gradient uses. Several seeds of one value add up. Scan
/// nodes may be rebuilt in place to stack residuals (see RuleContext::rebuild_forward):
/// pointers to their results stay valid.
VectorJacobianProduct append_vector_jacobian_product(ir::Graph& graph,
                                                     const std::vector<Seed>& seeds,
                                                     const std::vector<ir::Value*>& wrt);

}  // namespace rnnc::passes::autodiff
