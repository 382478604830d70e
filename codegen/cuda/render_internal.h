#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "codegen/cuda/cuda_renderer.h"
#include "ir/program.h"

/// Internals of the CUDA renderer shared by its files (not part of the public API): the
/// translation unit being written and one kernel being written.
namespace rnnc::cuda {

/// The C type of `dtype`'s elements ("float", "double", "int").
const char* c_type(ir::DType dtype);
/// `value` as an exact literal of `dtype` (bit patterns for non-finite values).
std::string literal(ir::DType dtype, double value);
/// The prelude's 16-byte-or-less vector of `width` elements of `dtype` ("rnnc_float4": members
/// x, y, z, w), for vector loads and stores; width * element size is 8 or 16.
std::string vector_type(ir::DType dtype, int64_t width);
/// Member `lane` of a vector (".x", ".y", ".z", ".w").
const char* vector_lane(int64_t lane);
/// Bytes a vectorized kernel moves per element group: 16 (float4, int4, double2).
constexpr int64_t kVectorBytes = 16;

/// Module-wide state: the program, the source's file-scope parts, error codes, names.
class SourceWriter {
 public:
  /// Writes into `out` (which must outlive the writer), rendering as `options` say.
  SourceWriter(const ir::Program& program, RenderedCuda& out, const RenderOptions& options);

  /// The program being rendered.
  const ir::Program& program() const { return program_; }
  /// How to render.
  const RenderOptions& options() const { return options_; }
  /// Buffer `id`.
  const ir::Buffer& buffer(ir::BufferId id) const { return program_.buffers.at(id); }
  /// Registers an error message; returns its code (1, 2, ...).
  int32_t add_error(std::string message);
  /// A kernel name made from `hint`, unique in the source ("k3_matmul_hidden").
  std::string kernel_name(const std::string& hint);
  /// A file-scope __device__ array holding `values` as `dtype`; returns its name.
  std::string constant_array(ir::DType dtype, const std::vector<double>& values);
  /// The device expression (unsigned char*) of buffer `id`'s first byte, from the kernel
  /// argument `args` (views add the loop counter args.t[loop] times their stride).
  std::string address(ir::BufferId id) const;
  /// The largest power of two, at most Program::kAlignment, dividing buffer `id`'s address
  /// for every value of the loop counters: the arena, each external buffer and the constant
  /// pool start at multiples of kAlignment (cuMemAlloc gives 256, the GPU libraries pack
  /// externals at 256 and parameters at kAlignment), arena and constant-pool offsets are
  /// multiples of it, so only views' offsets and step strides lower it.
  int64_t alignment(ir::BufferId id) const;
  /// Appends a kernel's text to the source and its name to the kernel list.
  void add_kernel(const std::string& name, const std::string& text);
  /// Closes the source (prelude, arrays, kernels) into the output.
  void finish();

 private:
  const ir::Program& program_;
  RenderedCuda& out_;
  const RenderOptions& options_;
  std::string arrays_, kernels_;
  int64_t next_kernel_ = 0, next_array_ = 0;
};

/// One kernel being written: a grid-stride loop over `threads` elements with the flat index
/// `i` (long long; another name for vectorized kernels), buffer pointers declared on first
/// use.
class KernelWriter {
 public:
  /// A kernel for `step` (may be null for plumbing kernels), named from `hint`.
  KernelWriter(SourceWriter& module, const ir::Step* step, const std::string& hint);

  /// The module-wide state.
  SourceWriter& module() const { return module_; }
  /// The step this kernel computes (null for plumbing kernels).
  const ir::Step* step() const { return step_; }
  /// The name of a typed pointer to buffer `id`'s elements, declared before the loop.
  std::string pointer(ir::BufferId id);
  /// Appends a line to the loop's body.
  void line(const std::string& text) { body_ += "    " + text + "\n"; }
  /// Registers an error naming this step's node; returns its code (the same code for the
  /// same `what` within one kernel).
  int32_t error(const std::string& what);
  /// A fresh local name ("v12").
  std::string local() { return "v" + std::to_string(next_local_++); }
  /// Closes the kernel over `threads` iterations of its grid-stride loop, whose counter is
  /// named `index`; returns its launch.
  Launch finish(int64_t threads, const std::string& index = "i");

 private:
  SourceWriter& module_;
  const ir::Step* step_;
  std::string name_;
  std::string declarations_, body_;
  std::map<ir::BufferId, std::string> pointers_;
  std::map<std::string, int32_t> errors_;
  int64_t next_local_ = 0;
};

/// Digit `d` of flat index `flat` in `shape` (row-major), as an expression.
std::string digit(const std::string& flat, const ir::Shape& shape, size_t d);

// Kernel renderers, one per step kind (each returns the launches of its step, in order).
std::vector<Launch> render_elementwise(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_reduce(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_gather(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_scatter_add(SourceWriter& module, const ir::Step& step);
/// A device-to-device copy of buffer `from` into buffer `to` (as many bytes as `to` has), or
/// nothing when they are the same buffer or empty.
std::optional<Launch> copy_launch(const SourceWriter& module, ir::BufferId from, ir::BufferId to);
std::vector<Launch> render_coalesce_rows(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_scatter_rows(SourceWriter& module, const ir::Step& step);
std::vector<Launch> render_layout(SourceWriter& module, const ir::Step& step);
/// A matmul: a cuBLAS call, or a generated tiled kernel (i32 always; f32/f64 as
/// gemm_is_generated says).
std::vector<Launch> render_matmul(SourceWriter& module, const ir::Step& step);
/// The generated tiled kernel of product `gemm` (k >= 1, m, n, batch >= 1) of `step`
/// (render_gemm.cpp): a kernel launch carrying `gemm`, with its tiles' shared memory.
Launch render_generated_gemm(SourceWriter& module, const ir::Step& step, const GemmCall& gemm);
/// Checks a loop's lengths lie in [1, T] (sets the error flag otherwise).
Launch render_lengths_check(SourceWriter& module, const ir::Step& loop);
/// Writes body output `index` of `loop` back, masked by lengths (rows past their length keep
/// their carry, or get a zero output row).
Launch render_masked_write_back(SourceWriter& module, const ir::Step& loop, size_t index);

/// The text of one elementwise op applied to operand expressions (scalar_ops.cpp).
std::string scalar_op(KernelWriter& kernel, const ir::Node& node,
                      const std::vector<std::string>& operands,
                      const std::vector<ir::DType>& operand_types, ir::DType type);

// Persistent scans (render_persistent.cpp, persistent_plan.cpp): a loop as one cooperative
// kernel that keeps its invariant product operands in shared memory (docs/cuda-backend.md).

/// A product of a persistent loop's body whose loop-invariant operand lives in shared memory,
/// partitioned across the blocks: c = op(a) x op(b) (row-major, m x k times k x n).
struct SharedProduct {
  size_t step_index = 0;  ///< the matmul's index in the loop's body
  /// true: a is the invariant operand and each block owns `per_block` rows of c (op(a)'s
  /// rows); false: b is, and each block owns `per_block` columns of c (op(b)'s columns).
  bool partition_rows = false;
  ir::DType dtype = ir::DType::f32;
  bool transpose_a = false, transpose_b = false;
  int64_t m = 0, n = 0, k = 0;
  ir::BufferId a = -1, b = -1, c = -1;
  int64_t per_block = 0;      ///< rows or columns of c per block
  int64_t shared_offset = 0;  ///< byte offset of the block's slice in dynamic shared memory
  int64_t shared_bytes = 0;   ///< k * per_block elements
};

/// Whether and how a loop step renders as a persistent kernel.
struct PersistentPlan {
  std::string reason;  ///< why not ("" when eligible)
  int64_t blocks = 0, block_threads = 0;
  int64_t shared_bytes = 0;  ///< dynamic shared memory per block
  std::vector<SharedProduct> products;
};

/// Decides whether `loop` (a loop step of `program`) renders as a persistent kernel under
/// `options`: every body step renderable inside one kernel (no nested loop), the block shape
/// valid, and each product with a loop-invariant f32/f64 operand given its slice of shared
/// memory, all within options.max_shared_bytes per block.
PersistentPlan plan_persistent(const ir::Program& program, const ir::Step& loop,
                               const RenderOptions& options);

/// One line saying whether `loop` renders as a persistent kernel and why (or why not), for
/// the source's comment and tests: "loop t0 (%h_final, ...): persistent, 100 blocks x 256 ..."
/// or "loop t1 (...): not persistent: a nested loop".
std::string persistent_eligibility(const ir::Program& program, const ir::Step& loop,
                                   const RenderOptions& options);

/// Whether two buffers' bytes may overlap (views of a loop's rows count as their whole base).
bool buffers_may_overlap(const ir::Program& program, ir::BufferId x, ir::BufferId y);

/// Renders `loop` as a persistent kernel when plan_persistent allows; nullopt otherwise.
/// `fallback` is the loop rendered as an ordinary loop launch; launch_owner[j] says what
/// fallback.body[j] computes: body step launch_owner[j] when below loop.body.size(), else the
/// write-back of body output launch_owner[j] - loop.body.size(). Kernel launches of the
/// fallback become phases calling a device copy of their kernel ("NAME_phase", added by
/// finish_persistent_source).
std::optional<Launch> render_persistent(SourceWriter& module, const ir::Step& loop,
                                        const Launch& fallback,
                                        const std::vector<size_t>& launch_owner,
                                        const RenderOptions& options);

/// Completes a finished source with persistent kernels: the grid barrier rnnc_grid_sync()
/// (unless emulated), the device copies of their phase kernels, and a comment saying for each
/// loop of `program` whether it is persistent and why.
void finish_persistent_source(const ir::Program& program, const RenderOptions& options,
                              RenderedCuda& rendered);

}  // namespace rnnc::cuda
