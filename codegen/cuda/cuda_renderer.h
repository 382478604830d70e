#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/program.h"

/// Renders a scheduled program (ir/program.h) as one CUDA C translation unit plus a host-side
/// launch plan: what the CUDA backend compiles with NVRTC and replays through the driver API.
/// Rendering needs no GPU and no CUDA library.
namespace rnnc::cuda {

/// A device address the host computes at launch time: buffer `buffer`'s address (views follow
/// the current loop counters) plus `extra` bytes plus the counter of loop `loop_id` times
/// `t_stride` bytes.
struct DeviceAddress {
  ir::BufferId buffer = -1;
  int64_t extra = 0;
  int64_t t_stride = 0;
  int32_t loop_id = -1;
};

/// One strided-batched GEMM of row-major operands: c[p] = op(a[p]) x op(b[p]) for p < batch,
/// where a[p] is m x k (k x m when transpose_a). Done by cuBLAS (f32: Sgemm, f64: Dgemm) in a
/// gemm launch, or by a generated tiled kernel (a kernel launch whose `gemm` describes it).
struct GemmCall {
  ir::DType dtype = ir::DType::f32;
  bool transpose_a = false, transpose_b = false;
  int64_t m = 0, n = 0, k = 0, batch = 1;
  ir::BufferId a = -1, b = -1, c = -1;
};

/// One entry of the launch plan.
struct Launch {
  enum class Kind {
    kernel,  ///< a __global__ function of the source, over `threads` elements (grid-stride)
    gemm,    ///< a cuBLAS call
    copy,    ///< a device-to-device copy of `bytes` bytes
    loop,    ///< a Scan: `body` once per step, with the loop's counter t set
    /// A whole Scan as one persistent kernel: one cooperative launch (cuLaunchCooperativeKernel)
    /// of `kernel` over `blocks` blocks of `block_threads` threads with `shared_bytes` bytes of
    /// dynamic shared memory, which runs every step of the loop itself, keeping the loop's
    /// invariant product operands (the recurrent weights) on chip and separating dependent
    /// phases with a grid-wide barrier. `body` holds the same loop as an ordinary `loop`
    /// launch (one entry): the fallback a runtime replays instead when the device cannot keep
    /// `blocks` blocks resident at once or does not support cooperative launches.
    persistent,
  };
  Kind kind = Kind::kernel;
  std::string node;  ///< the node it computes ("" for copies), for messages
  // kernel
  std::string kernel;  ///< the kernel's name in the source
  /// The iterations of the kernel's grid-stride loop (no launch when 0): its elements, or its
  /// vectors of elements when it is vectorized (docs/cuda-backend.md, "Rendering"), or 256
  /// per tile for a generated product kernel. A runtime launches min(ceil(threads / 256),
  /// 65536) blocks of 256 threads; every kernel is correct for any grid and block size.
  int64_t threads = 0;
  // gemm, and kernel launches of generated product kernels (gemm.c >= 0): the product.
  GemmCall gemm;
  // copy
  DeviceAddress from, to;
  int64_t bytes = 0;
  // persistent
  int64_t blocks = 0, block_threads = 0;
  /// persistent, and kernel (a generated product kernel's tiles): bytes of dynamic shared
  /// memory per block.
  int64_t shared_bytes = 0;
  // loop (and persistent)
  int32_t loop_id = -1;
  int64_t trip_count = 0;
  bool reverse = false;
  std::vector<Launch> body;
};

/// A rendered program.
struct RenderedCuda {
  /// The CUDA C source. Every kernel is `extern "C" __global__ void NAME(RnncArgs args)`;
  /// RnncArgs (defined in the source) holds the arena, the table of external buffers, the
  /// constant pool, the error flag and the counter t of every loop.
  std::string source;
  std::vector<std::string> kernels;  ///< the kernel names, in source order
  std::vector<Launch> plan;          ///< the program's launches in order
  /// Byte offset of each constant buffer in the constant pool (-1 for other buffers).
  std::vector<int64_t> constant_offsets;
  int64_t constant_pool_bytes = 0;  ///< the pool's size
  int64_t num_loops = 0;            ///< loop counters in RnncArgs::t
  /// The messages of the error codes a kernel may set (code c is errors[c - 1]): gather and
  /// scatter indices out of range, scan lengths outside [1, T], integer division by zero.
  std::vector<std::string> errors;
};

/// Who computes f32/f64 matrix products outside persistent kernels.
enum class GemmChoice {
  /// Per shape (gemm_is_generated): small products a generated kernel, large ones cuBLAS;
  /// unless the environment variable RNNC_CUDA_GEMM is `cublas` or `generated`, which then
  /// decides for every product (`auto` or unset: per shape).
  automatic,
  cublas,     ///< every f32/f64 product a cuBLAS call
  generated,  ///< every product a generated tiled kernel: the program needs no cuBLAS
};

/// "auto", "cublas" or "generated".
const char* gemm_choice_name(GemmChoice choice);
/// Parses "auto", "cublas" or "generated"; throws rnnc::Error naming `what` (the option or
/// variable it came from) otherwise.
GemmChoice parse_gemm_choice(const std::string& text, const std::string& what);

/// The largest product (batch x m x n x k multiply-adds) that GemmChoice::automatic gives a
/// generated kernel: 2^21, i.e. 32 x 512 x 128 (docs/cuda-backend.md says why).
constexpr int64_t kGeneratedGemmMaxMultiplyAdds = int64_t{1} << 21;

/// How to render.
struct RenderOptions {
  /// Render each eligible Scan (small enough that its recurrent weights fit in the shared
  /// memory of `persistent_blocks` blocks) as a persistent kernel (Launch::Kind::persistent).
  bool persistent_scans = true;
  /// The grid a persistent kernel is rendered for: at most one block per SM of the target
  /// (an H100 SXM / H200 has 132).
  int64_t persistent_blocks = 132;
  int64_t persistent_block_threads = 256;
  /// The dynamic shared memory one block may use (sm_90: 227 KiB with the opt-in attribute).
  int64_t max_shared_bytes = 227 * 1024;
  /// cuBLAS or generated kernels for f32/f64 products (i32 products are always generated).
  GemmChoice gemm = GemmChoice::automatic;
  /// Vector loads and stores (16 bytes) in elementwise kernels and contiguous copies where
  /// every address involved is aligned (docs/cuda-backend.md); off: one element a thread.
  bool vectorize = true;
};

/// Whether `options` give product `gemm` a generated kernel rather than a cuBLAS call:
/// i32 always; under GemmChoice::automatic (and RNNC_CUDA_GEMM unset or `auto`) when it has
/// at most kGeneratedGemmMaxMultiplyAdds multiply-adds.
bool gemm_is_generated(const GemmCall& gemm, const RenderOptions& options);

/// Renders `program`. Elementwise, reduce, gather, scatter-add and layout steps become
/// kernels (one thread per result element or vector of elements, grid-stride loops); matmuls
/// become generated tiled kernels or cuBLAS calls in the plan (RenderOptions::gemm); copies
/// become device copies; loops become a launch sequence per iteration, kernels reading the
/// loop counter from their arguments.
RenderedCuda render_cuda(const ir::Program& program, const RenderOptions& options = {});

/// The host-side layout of RnncArgs for `num_loops` loops, in bytes (the size of what
/// cuLaunchKernel passes).
int64_t args_bytes(int64_t num_loops);

/// The plan as text, one launch a line (rnnc dump --emit=cuda appends it as a comment).
std::string print_plan(const RenderedCuda& rendered, const ir::Program& program);

}  // namespace rnnc::cuda
