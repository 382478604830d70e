#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Moves work out of Scan loops (every scan, nested bodies first; forward and backward scans
/// alike, whatever cell built them). Changes no number beyond the reassociation of sums.
///
/// - Loop-invariant code motion: body nodes that depend only on invariants and constants are
///   computed once before the scan and enter as new invariants.
/// - Batching over time: body values that depend only on sequence slices, invariants and
///   constants are computed for all T steps at once before the loop and enter as new
///   sequences; x_t W becomes one matmul of the sequence flattened to [T * B, E] with W.
///   Values it cannot batch (a scatter-add, a nested scan) stay in the loop. With lengths the
///   batched values are computed for padded steps too: the scan masks only carries and
///   outputs, so nothing changes.
/// - Accumulators out of the loop: a carry whose next value is acc + f_t, acc read nowhere
///   else, becomes acc_init + the sum of the stacked f_t after the loop; matmul terms
///   sum_t a_t^T b_t become one matmul of the time-flattened stacks (the weight gradients of
///   a backward scan), and static slices of such a product (the parts of one fuse-matmuls
///   merged) slices of that matmul. With lengths f_t becomes a masked per-step output and is
///   summed.
/// - Products after the loop: a per-step output that is a product of a carry-dependent value
///   and an invariant, read nowhere else in the body (a backward step's input gradient
///   dx_t = dgates_t W), becomes one product of the stacked values after the loop (the stack
///   a new per-step output, or one already there). Not with lengths.
/// - Body inputs and scan operands left unused are removed (carries stay).
///
/// A scan that keeps all its carries and outputs is rebuilt in place (pointers to its results
/// stay valid); one that loses accumulator carries or outputs is replaced, its uses
/// redirected. Returns true when a scan changed.
bool hoist_scan_invariants(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
