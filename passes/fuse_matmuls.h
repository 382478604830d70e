#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Horizontal matmul fusion: fewer, larger products. Two rewrites, applied in `graph` and in
/// every body graph (loop bodies included, recursively) until neither applies:
///
/// - Sums of products: a chain of adds whose terms include products a_i op(B_i) with equal
///   transpose flags, each used only by the sum, becomes one product [a_1 a_2 ...] op([B_1;
///   B_2; ...]), both sides concatenated along K (the lecture's x W_x + h W_h outside loops;
///   the backward's dx = g_i W_i + g_f W_f + ...). It applies only where it is a gain: at
///   least two products, and for every product one side weight-like (computed from
///   parameters, constants and, in a loop body, the loop's invariants), so that at most one
///   of the two concatenations copies run-time data, no more than the products read anyway;
///   the other is loop-invariant (hoist-scan-invariants moves it out of the loop) or
///   parameters only. Other terms of the sum stay, added after the fused product.
/// - Shared operands: products with the same left operand a (or the same right operand b),
///   the same flags, become one product with the other operands concatenated (along N, or M),
///   followed by one slice per original product (the lecture's four gate products on x_t
///   become one, and the four on h_{t-1}). A product whose other operand depends on another
///   of the group is left out (fusing it would make a cycle); equal products share a slice.
///
/// In a loop body, products that depend on the loop's carried state never fuse with products
/// that do not: the latter can be computed for all steps at once outside the loop, which
/// fusing would prevent. Likewise a carry-dependent product with a weight-like operand that
/// the body reads only as per-step outputs (a backward step's input gradient) never fuses with
/// one the loop needs: hoist-scan-invariants computes it for all steps after the loop.
/// Concatenations of invariant weights are built in the body, for hoist-scan-invariants to
/// move out. Sums are fused before shared operands, so a cell built outside a loop ends with
/// one product. Existing concatenations with the same operands are reused. Concatenated
/// operands follow the graph order of the products (the order of the terms in a sum), so the
/// result is deterministic.
///
/// Numbers: shared-operand fusion computes every element exactly as before; fusing a sum
/// changes only the order of the additions along K. Body inputs and outputs, graph inputs,
/// parameters, outputs and updates stay as they are. Running the pass again changes
/// nothing. Returns true when anything changed.
bool fuse_matmuls(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
