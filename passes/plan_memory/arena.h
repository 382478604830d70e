#pragma once
#include "ir/program.h"

/// The second half of plan-memory (passes/plan_memory.h): liveness over a lowered program's
/// schedule and the placement of its arena buffers.
namespace rnnc::passes::plan_memory_detail {

/// Assigns every arena buffer of `program` an offset (first fit, Program::kAlignment) such
/// that buffers whose lifetimes overlap share no bytes, marks scan results that a later loop
/// step reads as residuals, and fills arena_bytes, unshared_bytes, residual_bytes and
/// num_residuals. Lifetimes: the schedule is linearized with body steps in place; a buffer
/// lives from its first write to its last use; a use inside a loop that the buffer was not
/// defined in extends it over that whole loop; a loop's body buffers live for the whole loop;
/// a view's use is a use of the buffer it views; a slice keeps its source alive as long as it
/// lives, a slice of a product's result lives from that product's step on (in the same loop),
/// and a concat read as a product's B or by a loop keeps its parts alive to that read.
void place_in_arena(ir::Program& program);

/// The buffer `id` ultimately views (itself when it is not a view).
ir::BufferId root_buffer(const ir::Program& program, ir::BufferId id);

/// `bytes` rounded up to a multiple of Program::kAlignment.
int64_t aligned_bytes(int64_t bytes);

}  // namespace rnnc::passes::plan_memory_detail
