#pragma once
#include "ir/program.h"

namespace rnnc::passes {

/// Lowers `graph` (verified; normally already optimized) to a scheduled program: one step per
/// node in graph order (sources become buffers, not steps; a Reshape becomes a view of its
/// operand), copy steps where a value must land in a caller's buffer (outputs, updates) or in
/// a carry, and one loop step per Scan with its body's steps nested. Liveness over the
/// schedule assigns every scratch and residual buffer an arena offset (first fit; a loop's
/// body buffers live for the whole loop, values read inside a loop live until it ends), so
/// buffers whose lifetimes do not overlap share bytes. An update whose new value is computed
/// after the last read of its parameter is written in place. `graph` must outlive the result.
ir::Program plan_memory(const ir::Graph& graph);

}  // namespace rnnc::passes
