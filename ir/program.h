#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "ir/graph.h"

/// The scheduled program: the contract between the passes and the backends (DESIGN.md, "The
/// scheduled program"). plan-memory (passes/plan_memory.h) lowers an optimized graph to one;
/// the interpreter runs it (to check the plan against the graph) and the code generators
/// render it. A program is a buffer table and an ordered tree of steps (kernels); a Scan is a
/// loop step with the steps of one iteration nested in it.
namespace rnnc::ir {

/// Index into Program::buffers.
using BufferId = int32_t;

/// What a buffer holds.
enum class BufferRole {
  input,      ///< a graph input, bound by the caller; never written
  parameter,  ///< a Parameter of role "weight", bound by the caller; updates write it
  state,      ///< a Parameter of role "state" (optimizer state); like parameter
  output,     ///< a graph output, written into the caller's buffer
  constant,   ///< a Constant's (or Iota's) elements, held by the program
  residual,   ///< a scan result that a later scan reads: what the forward saves for the backward
  scratch,    ///< any other intermediate value
};

/// Where a buffer's bytes are.
enum class Placement {
  external,  ///< the caller's memory: Program::externals()[external_index]
  constant,  ///< Buffer::constant_values, owned by the program
  arena,     ///< Program arena bytes [offset, offset + bytes)
  view,      ///< bytes of buffer `base` starting at `offset` (+ loop counter * `step_stride`)
};

/// One tensor-sized piece of memory (or a view into one).
struct Buffer {
  std::string name;  ///< the value's name; a body value is "SCAN_RESULT/VALUE" (unique)
  BufferRole role = BufferRole::scratch;
  Placement placement = Placement::arena;
  TensorType type;
  int64_t bytes = 0;  ///< type's element count times dtype size
  /// arena: byte offset in the arena (a multiple of Program::kAlignment). view: byte offset
  /// into `base`.
  int64_t offset = 0;
  /// view: the buffer viewed (itself possibly a view).
  BufferId base = -1;
  /// view: bytes added per iteration of loop `loop_id` (the row t of a scan's sequence is a
  /// view with step_stride = row bytes and offset 0, addressed with the loop's current t).
  int64_t step_stride = 0;
  /// view with step_stride != 0: the Step::loop_id of the loop whose counter t is used.
  int32_t loop_id = -1;
  /// external: index into Program::externals().
  int32_t external_index = -1;
  /// constant: one value per element, or a single value for all elements.
  std::vector<double> constant_values;
};

/// The kind of kernel a step is. Each backend renders each kind once.
enum class StepKind {
  /// A single elementwise op, or a Fused node (an expression over its shape). A result may be
  /// the very buffer of an operand with as many elements (an update done in place, such as
  /// w - lr * g into w): element i of every result depends only on element i of such an
  /// operand, so a kernel must read element i of its operands before writing element i.
  elementwise,
  matmul,       ///< MatMul
  reduce,       ///< ReduceSum, ReduceMax, ReduceMean
  gather,       ///< Gather (indices checked at run time)
  scatter_add,  ///< ScatterAdd (indices checked at run time)
  /// CoalesceRows (indices checked at run time).
  coalesce_rows,
  /// ScatterRows (indices checked at run time). The result may be the very buffer of the
  /// table operand (an update done in place): then only the rows are written.
  scatter_rows,
  layout,  ///< Broadcast, Transpose, Slice, Pad, Concat, and a Reshape that is not a view
  copy,    ///< operands[0]'s bytes into results[0] (same byte count); no node
  loop,    ///< a Scan node: see Step::body
};

/// One kernel of the schedule.
struct Step {
  StepKind kind = StepKind::copy;
  /// The node this step computes (null for copy steps). For a loop, the Scan node; steps in
  /// its body refer to nodes of the scan's body graph.
  const Node* node = nullptr;
  /// The buffer of each node operand, in operand order (copy: the source).
  std::vector<BufferId> operands;
  /// The buffer of each node result, in result order (copy: the destination).
  std::vector<BufferId> results;

  // Loop steps only. Before the loop step, copy steps have put each carry's initial value
  // into results[i] (i < num_carry), which holds the running carry during the loop and its
  // final value after it. Body inputs are bound with no copies: a carry to results[i], a
  // sequence to a view of row t of its operand buffer, an invariant to its operand buffer.
  // Iteration n (t = n, or T-1-n when reversed) runs `body`, then writes each body output
  // back: body_outputs[i] (i < num_carry) into the carry results[i]; the others into row t of
  // the stacked results[i], unless the body computed them there (writes_back_in_place). With
  // lengths (the last operand), rows b with t >= lengths[b] keep their carry and get a zero
  // output row.
  int32_t loop_id = -1;    ///< unique per loop in the program
  int64_t trip_count = 0;  ///< T
  std::vector<Step> body;  ///< the steps of one iteration
  /// Per body output, its buffer: body-owned arena memory, or, for a per-step output (and a
  /// carry of the same value), a view of row t of a stacked result.
  std::vector<BufferId> body_outputs;
};

/// A graph lowered to buffers and kernels, ready for a backend.
struct Program {
  /// Arena offsets are multiples of this many bytes.
  static constexpr int64_t kAlignment = 64;

  const Graph* graph = nullptr;  ///< the graph lowered (it must outlive the program)
  std::vector<Buffer> buffers;
  std::vector<Step> steps;

  /// External buffers in ABI order: graph inputs (Input node order), then parameters
  /// (Parameter node order, weights and state alike), then graph outputs (output order).
  std::vector<BufferId> inputs, parameters, outputs;

  int64_t arena_bytes = 0;     ///< the arena's size: peak bytes live at once, after reuse
  int64_t unshared_bytes = 0;  ///< what the arena buffers would take without reuse
  int64_t residual_bytes = 0;  ///< bytes of residual buffers (saved for the backward)
  int64_t num_residuals = 0;   ///< how many residual buffers

  /// inputs, parameters and outputs concatenated: external_index order.
  std::vector<BufferId> externals() const;

  /// True when loop step `loop`'s body computes per-step output `index` (>= num_carry) in
  /// place, in row t of its stacked result: writing it back copies nothing (with lengths,
  /// it only zeroes the rows past their length).
  bool writes_back_in_place(const Step& loop, size_t index) const;
};

/// "elementwise", "matmul", ...
const char* step_kind_name(StepKind kind);
/// "input", "parameter", ...
const char* buffer_role_name(BufferRole role);

/// The program as text (rnnc dump --emit=program): a summary line (arena bytes, unshared
/// bytes, residuals), the buffer table (id, name, role, type, placement), then the steps,
/// indented per loop level, each naming its kind, node and buffers.
std::string print_program(const Program& program);

}  // namespace rnnc::ir
