#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace rnnc::passes {

/// Common-subexpression elimination: a node with the same kind, the same operands (in either
/// order for commutative ops), equal attributes (floats compared bit for bit, so 0 and -0
/// differ) and equal result types as an earlier node is replaced by it; for loops, their
/// body graphs must also print identically. Constants (and iotas) of equal type and values
/// merge; inputs and parameters never do. Runs inside body graphs too. The duplicates are
/// left unused, for dce. Returns true when a use was redirected.
bool eliminate_common_subexpressions(ir::Graph& graph, const PassContext& context);

}  // namespace rnnc::passes
