#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Algebraic simplification: replaces a node by a simpler equivalent. The rules:
///   x*1, 1*x, x/1, x+0, 0+x, x-0 -> x (constants of any shape whose elements are all 1 or 0)
///   x*0, 0*x -> zeros, for i32 only: for floats x*0 is NaN when x is Inf or NaN, and -0
///     when x < 0, so it is not rewritten (no fast-math)
///   neg(neg(x)), max(x, x), min(x, x), select(c, x, x) -> x
///   select(c, a, b) with c a constant all non-zero (all zero) -> a (b)
///   transpose(transpose(x, p), q) -> transpose(x, composed perm); an identity transpose -> x
///   reshape(reshape(x)) -> one reshape; a reshape or broadcast to x's own shape -> x
///   broadcast(broadcast(x)) -> one broadcast
///   slice over the full range -> x; slice(slice(x)) -> one slice; a slice of a concat that
///     lies within one part -> a slice of that part
///   concat of one operand, cast to x's own dtype -> x
///   a tree of adds of pads along one axis whose windows tile it exactly -> the concat of
///     the padded parts (the gradient of slicing a value into gates)
/// Every rule gives the same numbers, except that x + 0 and x - (-0) turn a -0 into +0:
/// signed zeros are not preserved (they compare equal; only 1/x tells them apart). Runs
/// inside body graphs too; the replaced nodes are left unused, for dce. Returns true when a
/// use was redirected.
bool simplify_algebra(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
