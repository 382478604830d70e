#pragma once
// A CPU emulation of the CUDA backend for tests on machines without a GPU: the rendered CUDA C
// (codegen/cuda/cuda_renderer.h) is compiled by the system C++ compiler into a shared library
// behind an emulation header, and its launch plan is replayed on host memory exactly as
// codegen/cuda/cuda_backend.cpp replays it on a device (gemms are computed naively from
// GemmCall's row-major definition, accumulating in double). The arena and the outputs are
// filled with 0xff bytes before each run (NaN floats, -1 integers), so a kernel reading what
// nothing wrote shows; each allocation ends against an inaccessible page (an access past its
// end faults); a copy between overlapping ranges is an error.
//
// CONTRACT WITH THE RENDERER (what rendered source may use to run here):
//  - The emulation header comes first and defines RNNC_CUDA_EMULATION; it defines
//    `void rnnc_grid_sync()` (a barrier over every thread of the grid), so the prelude must
//    define its device version only inside `#ifndef RNNC_CUDA_EMULATION`.
//  - Kernels are `extern "C" __global__ void NAME(RnncArgs args)`. threadIdx, blockIdx,
//    blockDim, gridDim (.x/.y/.z) are per-thread values set by the launcher.
//  - __syncthreads() is a barrier over the block's threads; __syncwarp() and the full-mask
//    shuffles __shfl_sync, __shfl_xor_sync, __shfl_down_sync, __shfl_up_sync (int, unsigned,
//    float, double; width 32) are emulated over the warp's 32 threads (every lane of a warp
//    must take part, as with a full mask on a device).
//  - Shared memory: ONLY dynamic shared memory, declared on ONE line, at most once per kernel,
//    in exactly this form (the alignment attribute optional, TYPE any one-word-or-more type):
//        extern __shared__ __align__(16) TYPE rnnc_shared[];
//    The emulator rewrites that line (textually, before compiling) into
//        TYPE* const rnnc_shared = (TYPE*)rnnc_emu_shared();
//    where rnnc_emu_shared() is the current block's buffer of Launch::shared_bytes bytes
//    (64-byte aligned, filled with 0xff bytes at each launch, NaN as floats, like memory
//    nobody wrote). Any other `__shared__` use does not compile in emulation (it would be
//    per-thread memory here).
//  - Atomics: atomicAdd (int, unsigned, unsigned long long, float, double), atomicCAS (int,
//    unsigned, unsigned long long), atomicExch, atomicMax/atomicMin (int); __threadfence().
//  - Math: the C math functions (expf, tanhf, exp, ...), __expf/__logf/__tanhf-style fast
//    intrinsics (computed exactly), rsqrtf/rsqrt, __fdividef, fmaf, min/max, __ldg, and the
//    bit casts __int_as_float, __float_as_int, __longlong_as_double, __double_as_longlong.
//  - Ordinary kernels (Launch::Kind::kernel) run with a small grid (EmulationOptions) so the
//    grid-stride loops wrap, one thread after another; a kernel whose text calls
//    __syncthreads, rnnc_grid_sync or a warp primitive runs all its threads concurrently.
//    A persistent launch runs blocks x block_threads concurrent threads (one std::thread
//    each). A barrier that a thread leaves its kernel without reaching, or that not every
//    thread reaches within a timeout, fails the run with an error instead of hanging it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codegen/cuda/cuda_renderer.h"
#include "ir/graph.h"
#include "ir/program.h"
#include "runtime/executable.h"

namespace rnnc::cuda_emulation {

/// How the emulator launches ordinary kernels.
struct EmulationOptions {
  /// Blocks and threads per block of every ordinary (grid-stride) kernel launch: small, so a
  /// grid-stride loop takes several turns.
  int64_t blocks = 3;
  int64_t block_threads = 32;
  /// Run the threads of an ordinary kernel (one after another) from the last to the first, so
  /// that a kernel whose threads depend on each other's order shows in one order or the other.
  bool reverse_thread_order = false;
  /// Run persistent launches as their kernel (true) or as their fallback loop (false).
  bool run_persistent_kernels = true;
  /// Seconds a barrier waits for all its threads before the run fails.
  double barrier_timeout_s = 60;
};

/// A rendered source compiled for the host: its kernels, callable per thread.
class CompiledEmulation;

/// Compiles the rendered sources of `renders` into shared libraries (16 sources each, one C++
/// namespace per source, two compilers at a time), or loads them from the cache (a folder
/// under the system temp dir, keyed by a hash of the text and the flags; entries older than a
/// week are removed); element i of the result serves renders[i]. RNNC_EMULATION_FLAGS adds
/// compiler flags (-g, -fsanitize=undefined). Throws rnnc::Error with the compiler's output
/// when a source does not compile.
std::vector<std::shared_ptr<const CompiledEmulation>> compile_emulations(
    const std::vector<const cuda::RenderedCuda*>& renders);

/// A program rendered to CUDA C and run by the emulator: an Executable like
/// cuda::CudaExecutable, on host memory.
class EmulatedCuda final : public Executable {
 public:
  /// Runs `rendered` (rendered from `program`, planned from `graph`; both must outlive this)
  /// with the compiled `code` (compile_emulations of `rendered`).
  EmulatedCuda(const ir::Graph& graph, const ir::Program& program, cuda::RenderedCuda rendered,
               std::shared_ptr<const CompiledEmulation> code, EmulationOptions options = {});
  ~EmulatedCuda() override;

  /// See Executable::run; an error flag set by a kernel throws rnnc::Error with its message,
  /// as the CUDA backend does.
  Bindings run(const Bindings& inputs, Bindings& state) override;
  /// The rendered code being run.
  const cuda::RenderedCuda& rendered() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// The emulation header put before every source (for messages and tests).
const std::string& emulation_header();

}  // namespace rnnc::cuda_emulation
