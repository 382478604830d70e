#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Row-sparse optimizer steps for gathered tables (embeddings). The gradient of a gather is
/// G = scatter_add(indices, updates) into a table of V rows, zero outside the N << V rows the
/// indices name; a dense optimizer step then reads and writes every row of the table and its
/// state. Where everything computed from G (top-level graph only) is
///   - elementwise over G's shape, from G, other values of that shape, constants and
///     row-uniform broadcasts (clipping factors, learning rates),
///   - ending in graph updates whose new value equals the updated parameter's own row
///     wherever G's row is zero (SGD: p - lr g; AdaGrad: s + g*g and p - lr g / (sqrt(s) + eps);
///     clipping by a global norm), and in sums over all axes that are zero where G's row is
///     (the squared norm g*g),
/// the pass computes all of it on N rows: the update rows coalesced at the first position of
/// each index (coalesce_rows), the other operands gathered at the indices, the sums over
/// those rows, and each update as scatter_rows of its parameter (written in place by
/// plan-memory). Momentum, decay or anything else that changes rows without gradient
/// (Adam, weight decay) is left dense, as is G when anything else reads it (an output).
///
/// Numbers: the same rows get the same values, except that rows the step does not touch keep
/// theirs where the dense step would turn them into NaN (0 * Inf from an infinite clipping
/// factor, 0 / 0 with a zero epsilon and state): the rewrite treats 0 * x and 0 / x as 0. Sums
/// add the same terms in another order. Applied when N is at most V / 2. Returns true when a
/// gradient was rewritten; the dense nodes are left unused, for dce.
bool sparse_row_updates(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
