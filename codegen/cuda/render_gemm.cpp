// Matrix products as generated tiled kernels (docs/cuda-backend.md, "Rendering"), and the
// choice between them and cuBLAS. A block computes one tile of c (bm x bn outputs of one
// batch element) at a time, stepping through k in slices of bk (all of k at once when it fits):
// every thread of the block copies part of op(a)'s bm x bk slice and op(b)'s bk x bn slice into
// shared memory (zero past the matrices' ends), the block meets, each thread accumulates its
// rm x rn outputs from shared memory, the block meets again. The kernel is correct for any grid and
// block size: blocks step through the tiles (grid-stride), and a block with fewer threads than the
// tile's (bm / rm) x (bn / rn) computing threads goes through the tile in several passes. That lets
// it run under a runtime's 256-thread blocks as well as the CPU emulator's small ones.
#include <algorithm>
#include <cassert>
#include <cstdlib>

#include "codegen/cuda/render_internal.h"
#include "ir/error.h"

namespace rnnc::cuda {
namespace {

using ir::DType;

/// The smallest power of two at least `value` (1 for values below 2).
int64_t power_of_two_above(int64_t value) {
  int64_t power = 1;
  while (power < value) power *= 2;
  return power;
}

/// The tile a block computes and the outputs one thread accumulates.
struct TileShape {
  int64_t bm = 0, bn = 0;  ///< rows and columns of c per tile
  /// k per shared-memory slice; k itself when the whole of k fits (one slice).
  int64_t bk = 0;
  int64_t rm = 1, rn = 1;  ///< rows and columns of c per computing thread
  int64_t tiles = 0;       ///< tiles over all batch elements
  /// Threads that compute: (bm / rm) x (bn / rn), at most kTileThreads.
  int64_t computing() const { return (bm / rm) * (bn / rn); }
};

/// Threads per block a runtime launches (what the tiles are sized for).
constexpr int64_t kTileThreads = 256;
/// Tiles enough to give every SM of an H100/H200 (132) a block: below that, smaller tiles.
constexpr int64_t kEnoughTiles = 132;
/// A tile with at most this many multiply-adds (128 per thread of a 256-thread block) is not
/// split further: it is bound by latency, not arithmetic.
constexpr int64_t kSmallTileWork = 32768;
/// The shared memory of a tile whose whole k range is loaded at once (one slice).
constexpr int64_t kOneSliceBytes = 32 * 1024;
/// k per slice otherwise.
constexpr int64_t kSliceK = 16;

/// Tiles of 64 x 64 (4 x 4 outputs a thread), each side cut to the matrix (rounded up to a
/// power of two, at least 8), then halved (the longer side first, down to 8) while the product
/// has fewer than kEnoughTiles tiles and a tile more than kSmallTileWork multiply-adds; the
/// whole k range in one slice when it fits in kOneSliceBytes, else slices of kSliceK.
TileShape tile_shape(const GemmCall& g) {
  TileShape t;
  t.bm = std::clamp<int64_t>(power_of_two_above(g.m), 8, 64);
  t.bn = std::clamp<int64_t>(power_of_two_above(g.n), 8, 64);
  auto count = [&] { return g.batch * ((g.m + t.bm - 1) / t.bm) * ((g.n + t.bn - 1) / t.bn); };
  while (count() < kEnoughTiles && t.bm * t.bn * g.k > kSmallTileWork && (t.bm > 8 || t.bn > 8)) {
    if (t.bm >= t.bn && t.bm > 8)
      t.bm /= 2;
    else
      t.bn /= 2;
  }
  t.tiles = count();
  const bool one_slice = (t.bm + 1 + t.bn + 1) * g.k * ir::dtype_size(g.dtype) <= kOneSliceBytes;
  t.bk = one_slice ? g.k : kSliceK;
  while (t.computing() > kTileThreads) {
    if (t.bm / t.rm >= t.bn / t.rn)
      t.rm *= 2;
    else
      t.rn *= 2;
  }
  return t;
}

std::string ll(int64_t value) { return std::to_string(value) + "LL"; }

}  // namespace

const char* gemm_choice_name(GemmChoice choice) {
  switch (choice) {
    case GemmChoice::automatic:
      return "auto";
    case GemmChoice::cublas:
      return "cublas";
    case GemmChoice::generated:
      return "generated";
  }
  return "auto";
}

GemmChoice parse_gemm_choice(const std::string& text, const std::string& what) {
  for (GemmChoice choice : {GemmChoice::automatic, GemmChoice::cublas, GemmChoice::generated})
    if (text == gemm_choice_name(choice)) return choice;
  throw Error(what + " expects auto, cublas or generated, got '" + text + "'");
}

bool gemm_is_generated(const GemmCall& gemm, const RenderOptions& options) {
  if (gemm.dtype == DType::i32) return true;
  GemmChoice choice = options.gemm;
  if (choice == GemmChoice::automatic) {
    const char* environment = std::getenv("RNNC_CUDA_GEMM");
    if (environment && *environment) choice = parse_gemm_choice(environment, "RNNC_CUDA_GEMM");
  }
  switch (choice) {
    case GemmChoice::automatic:
      return static_cast<double>(gemm.batch) * static_cast<double>(gemm.m) *
                 static_cast<double>(gemm.n) * static_cast<double>(gemm.k) <=
             static_cast<double>(kGeneratedGemmMaxMultiplyAdds);
    case GemmChoice::cublas:
      return false;
    case GemmChoice::generated:
      return true;
  }
  return false;
}

namespace {

/// Writes the text of one generated product kernel.
class GemmWriter {
 public:
  GemmWriter(SourceWriter& module, const GemmCall& g)
      : module_(module),
        g_(g),
        t_(tile_shape(g)),
        type_(c_type(g.dtype)),
        acc_(g.dtype == DType::i32 ? "unsigned" : type_) {}

  const TileShape& tiles() const { return t_; }
  /// Bytes of shared memory a block uses.
  int64_t shared_bytes() const {
    return t_.bk * (a_stride() + b_stride()) * ir::dtype_size(g_.dtype);
  }

  std::string kernel(const std::string& name) const {
    const bool one_slice = t_.bk == g_.k;
    const int64_t tiles_m = (g_.m + t_.bm - 1) / t_.bm, tiles_n = (g_.n + t_.bn - 1) / t_.bn;
    std::string x = "extern \"C\" __global__ void " + name + "(RnncArgs args) {\n";
    x += "  // c = " + std::string(g_.transpose_a ? "a^T" : "a") + " x " +
         (g_.transpose_b ? "b^T" : "b") + ": m=" + std::to_string(g_.m) +
         " n=" + std::to_string(g_.n) + " k=" + std::to_string(g_.k) +
         " batch=" + std::to_string(g_.batch) + "; tiles of " + std::to_string(t_.bm) + " x " +
         std::to_string(t_.bn) + ", " +
         (one_slice ? "all of k at once" : "k in slices of " + std::to_string(t_.bk)) + ", " +
         std::to_string(t_.rm) + " x " + std::to_string(t_.rn) + " outputs a thread\n";
    x += "  extern __shared__ __align__(16) unsigned char rnnc_shared[];\n";
    x += "  " + type_ + "* const a_tile = (" + type_ + "*)rnnc_shared;  // [bk][bm + 1]\n";
    x += "  " + type_ + "* const b_tile = a_tile + " + std::to_string(t_.bk * a_stride()) +
         ";  // [bk][bn + 1]\n";
    x += "  const " + type_ + "* const a = (const " + type_ + "*)" + module_.address(g_.a) + ";\n";
    x += "  const " + type_ + "* const b = (const " + type_ + "*)" + module_.address(g_.b) + ";\n";
    x += "  " + type_ + "* const c = (" + type_ + "*)" + module_.address(g_.c) + ";\n";
    x += "  for (long long tile = blockIdx.x; tile < " + ll(t_.tiles) + "; tile += gridDim.x) {\n";
    x += "    const long long p = tile / " + ll(tiles_m * tiles_n) + ";\n";
    x += "    const long long row0 = tile / " + ll(tiles_n) + " % " + ll(tiles_m) + " * " +
         ll(t_.bm) + ", col0 = tile % " + ll(tiles_n) + " * " + ll(t_.bn) + ";\n";
    x += "    const " + type_ + "* const ap = a + p * " + ll(g_.m * g_.k) + ";\n";
    x += "    const " + type_ + "* const bp = b + p * " + ll(g_.k * g_.n) + ";\n";
    if (one_slice) {
      // The whole of k in shared memory once; every pass of the block's threads reads it.
      x += load("0LL", "    ");
      x += "    __syncthreads();\n";
      x += pass_begin("    ");
      x += "      if (computes) {\n";
      x += accumulate("        ", "4");
      x += store("        ");
      x += "      }\n";
      x += "    }\n";
      x += "    __syncthreads();\n";
    } else {
      x += pass_begin("    ");
      x += "      for (long long k0 = 0; k0 < " + ll(g_.k) + "; k0 += " + ll(t_.bk) + ") {\n";
      x += load("k0", "        ");
      x += "        __syncthreads();\n";
      x += "        if (computes) {\n";
      x += accumulate("          ", "");
      x += "        }\n";
      x += "        __syncthreads();\n";
      x += "      }\n";
      x += "      if (computes) {\n";
      x += store("        ");
      x += "      }\n";
      x += "    }\n";
    }
    x += "  }\n}\n";
    return x;
  }

 private:
  int64_t a_stride() const { return t_.bm + 1; }  // padded: no bank conflicts
  int64_t b_stride() const { return t_.bn + 1; }

  /// Copies op(a)'s bm x bk and op(b)'s bk x bn slices at k `k0` into shared memory (zero
  /// past the matrices' ends), reading along each operand's contiguous dimension.
  std::string load(const std::string& k0, const std::string& in) const {
    return load_operand("a_tile", a_stride(), t_.bm, !g_.transpose_a, "row0", g_.m, "ap", k0, in) +
           load_operand("b_tile", b_stride(), t_.bn, g_.transpose_b, "col0", g_.n, "bp", k0, in);
  }

  /// One operand's bk x `extent` slice into `tile` (k-major, rows `stride` apart): element
  /// (q, i) is operand[origin + i, k0 + q] of `bound` x k when `k_contiguous` (a untransposed,
  /// b transposed), else operand[k0 + q, origin + i] of k x `bound`.
  std::string load_operand(const std::string& tile, int64_t stride, int64_t extent,
                           bool k_contiguous, const std::string& origin, int64_t bound,
                           const std::string& pointer, const std::string& k0,
                           const std::string& in) const {
    const std::string bk = std::to_string(t_.bk), width = std::to_string(extent);
    std::string x = in + "for (int e = threadIdx.x; e < " + std::to_string(t_.bk * extent) +
                    "; e += blockDim.x) {\n";
    x += in + (k_contiguous ? "  const int q = e % " + bk + ", i = e / " + bk + ";\n"
                            : "  const int i = e % " + width + ", q = e / " + width + ";\n");
    x += in + "  const long long at = " + origin + " + i, kk = " + k0 + " + q;\n";
    x += in + "  " + tile + "[q * " + std::to_string(stride) + " + i] = at < " + ll(bound) +
         " && kk < " + ll(g_.k) + " ? " + pointer + "[" +
         (k_contiguous ? "at * " + ll(g_.k) + " + kk" : "kk * " + ll(bound) + " + at") + "] : (" +
         type_ + ")0;\n";
    return x + in + "}\n";
  }

  /// Opens the loop of passes: computing thread v = pass + threadIdx.x owns outputs (tr +
  /// r * bm / rm, tc + s * bn / rn), accumulated in acc[r][s] from zero.
  std::string pass_begin(const std::string& in) const {
    std::string x = in + "for (int pass = 0; pass < " + std::to_string(t_.computing()) +
                    "; pass += blockDim.x) {\n";
    x += in + "  const int v = pass + (int)threadIdx.x;\n";
    x += in + "  const bool computes = v < " + std::to_string(t_.computing()) + ";\n";
    x += in + "  const int tr = v / " + std::to_string(t_.bn / t_.rn) + ", tc = v % " +
         std::to_string(t_.bn / t_.rn) + ";\n";
    x += in + "  " + acc_ + " acc[" + std::to_string(t_.rm) + "][" + std::to_string(t_.rn) + "];\n";
    x += "#pragma unroll\n";
    x += in + "  for (int r = 0; r < " + std::to_string(t_.rm) + "; ++r)\n";
    x += "#pragma unroll\n";
    x += in + "    for (int s = 0; s < " + std::to_string(t_.rn) + "; ++s) acc[r][s] = 0;\n";
    return x;
  }

  /// Adds the slice's products to acc (`unroll`: the k loop's unroll count, "" for full).
  std::string accumulate(const std::string& in, const std::string& unroll) const {
    std::string x = "#pragma unroll" + (unroll.empty() ? "" : " " + unroll) + "\n";
    x += in + "for (int q = 0; q < " + std::to_string(t_.bk) + "; ++q) {\n";
    x += in + "  " + acc_ + " av[" + std::to_string(t_.rm) + "], bv[" + std::to_string(t_.rn) +
         "];\n";
    x += "#pragma unroll\n";
    x += in + "  for (int r = 0; r < " + std::to_string(t_.rm) + "; ++r) av[r] = (" + acc_ +
         ")a_tile[q * " + std::to_string(a_stride()) + " + tr + r * " +
         std::to_string(t_.bm / t_.rm) + "];\n";
    x += "#pragma unroll\n";
    x += in + "  for (int s = 0; s < " + std::to_string(t_.rn) + "; ++s) bv[s] = (" + acc_ +
         ")b_tile[q * " + std::to_string(b_stride()) + " + tc + s * " +
         std::to_string(t_.bn / t_.rn) + "];\n";
    x += "#pragma unroll\n";
    x += in + "  for (int r = 0; r < " + std::to_string(t_.rm) + "; ++r)\n";
    x += "#pragma unroll\n";
    x += in + "    for (int s = 0; s < " + std::to_string(t_.rn) +
         "; ++s) acc[r][s] += av[r] * bv[s];\n";
    x += in + "}\n";
    return x;
  }

  /// Stores acc into c (outputs past the matrix's end are dropped).
  std::string store(const std::string& in) const {
    std::string x = "#pragma unroll\n";
    x += in + "for (int r = 0; r < " + std::to_string(t_.rm) + "; ++r)\n";
    x += "#pragma unroll\n";
    x += in + "  for (int s = 0; s < " + std::to_string(t_.rn) + "; ++s) {\n";
    x += in + "    const long long row = row0 + tr + r * " + std::to_string(t_.bm / t_.rm) +
         ", col = col0 + tc + s * " + std::to_string(t_.bn / t_.rn) + ";\n";
    x += in + "    if (row < " + ll(g_.m) + " && col < " + ll(g_.n) + ") c[p * " + ll(g_.m * g_.n) +
         " + row * " + ll(g_.n) + " + col] = (" + type_ + ")acc[r][s];\n";
    x += in + "  }\n";
    return x;
  }

  SourceWriter& module_;
  const GemmCall& g_;
  const TileShape t_;
  const std::string type_, acc_;
};

}  // namespace

Launch render_generated_gemm(SourceWriter& module, const ir::Step& step, const GemmCall& g) {
  assert(g.k >= 1 && g.m >= 1 && g.n >= 1 && g.batch >= 1);
  const GemmWriter writer(module, g);
  const std::string name = module.kernel_name("matmul_" + step.node->result()->name());
  module.add_kernel(name, writer.kernel(name));
  Launch launch;
  launch.kind = Launch::Kind::kernel;
  launch.node = ir::describe_node(*step.node);
  launch.kernel = name;
  launch.threads = writer.tiles().tiles * kTileThreads;
  launch.shared_bytes = writer.shared_bytes();
  launch.gemm = g;
  return launch;
}

}  // namespace rnnc::cuda
