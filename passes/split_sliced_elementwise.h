#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Computes an elementwise op whose result is only sliced once per slice, on the slices of
/// its operands: slice(f(a, b)) -> f(slice(a), slice(b)), repeated up a chain of such ops. A
/// slice of a broadcast becomes a broadcast of the slice. Top-level graph only; the slices
/// must not overlap (the work never grows). Numbers are unchanged.
///
/// What it removes: a GRU's input projection plus bias, computed for all steps before the
/// loop, was written whole and then copied out gate by gate; now each gate's part is computed
/// straight from the product, whose slices a backend can read in place. Returns true when a
/// node was split.
bool split_sliced_elementwise(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
