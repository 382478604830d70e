// A loop as one persistent cooperative kernel (docs/cuda-backend.md, "Persistent kernels"):
// each block copies its slice of every invariant product operand into dynamic shared memory
// once, then all blocks run every iteration together, one phase per launch of the ordinary
// loop, with a grid-wide barrier (rnnc_grid_sync) between phases that depend on each other.
#include <algorithm>
#include <cassert>
#include <set>

#include "codegen/cuda/render_internal.h"

namespace rnnc::cuda {
namespace {

using ir::BufferId;

/// The buffers one launch of the loop reads and writes.
struct Access {
  std::vector<BufferId> reads, writes;
};

Access access_of(const ir::Step& loop, const Launch& launch, size_t owner) {
  switch (launch.kind) {
    case Launch::Kind::copy:
      return {{launch.from.buffer}, {launch.to.buffer}};
    case Launch::Kind::gemm:
      return {{launch.gemm.a, launch.gemm.b}, {launch.gemm.c}};
    case Launch::Kind::kernel:
      if (owner < loop.body.size()) {
        const ir::Step& step = loop.body[owner];
        return {step.operands, step.results};
      } else {
        const size_t index = owner - loop.body.size();
        return {{loop.body_outputs.at(index), loop.operands.back(), loop.results.at(index)},
                {loop.results.at(index)}};
      }
    case Launch::Kind::loop:
    case Launch::Kind::persistent:
      break;
  }
  assert(false && "no nested loops in a persistent kernel");
  return {};
}

std::string ll(int64_t value) { return std::to_string(value) + "LL"; }

/// Writes the persistent kernel of one loop.
class PersistentWriter {
 public:
  PersistentWriter(SourceWriter& module, const ir::Step& loop, const PersistentPlan& plan)
      : module_(module), loop_(loop), plan_(plan) {}

  Launch render(const Launch& fallback, const std::vector<size_t>& launch_owner) {
    const std::string name = module_.kernel_name("persistent_" + loop_.node->result(0)->name());
    const int32_t grid_error = module_.add_error(
        "node " + ir::describe_node(*loop_.node) + ": its persistent kernel " + name +
        " was launched with a grid other than " + std::to_string(plan_.blocks) + " blocks of " +
        std::to_string(plan_.block_threads) + " threads");
    const int64_t trip_count = fallback.trip_count;
    std::string body;
    std::vector<Pending> pending;  // the launches since the last barrier
    for (size_t j = 0; j < fallback.body.size(); ++j) {
      const Launch& launch = fallback.body[j];
      Pending current{&launch, access_of(loop_, launch, launch_owner.at(j))};
      if (conflicts(current, pending)) {
        body += "    rnnc_grid_sync();\n";
        pending.clear();
      }
      pending.push_back(std::move(current));
      body += phase(launch, launch_owner.at(j));
    }
    std::string text = "// Persistent kernel of " + ir::describe_node(*loop_.node) + "\n";
    text += declarations_;
    text += "extern \"C\" __global__ void " + name + "(RnncArgs args) {\n";
    text += "  if (gridDim.x != " + std::to_string(plan_.blocks) +
            "u || blockDim.x != " + std::to_string(plan_.block_threads) + "u) {\n";
    text += "    if (threadIdx.x == 0) rnnc_fail(args.error, " + std::to_string(grid_error) +
            ");\n    return;\n  }\n";
    if (!plan_.products.empty()) {
      text += "  extern __shared__ __align__(16) unsigned char rnnc_shared[];\n";
      for (const SharedProduct& product : plan_.products) text += fill(product);
      text += "  __syncthreads();\n";
    }
    const std::string t = "args.t[" + std::to_string(loop_.loop_id) + "]";
    text += "  for (long long rnnc_n = 0; rnnc_n < " + ll(trip_count) + "; ++rnnc_n) {\n";
    text += "    " + t + " = " + (fallback.reverse ? ll(trip_count - 1) + " - rnnc_n" : "rnnc_n") +
            ";\n";
    text += body;
    text += "    if (rnnc_n + 1 < " + ll(trip_count) + ") rnnc_grid_sync();\n";
    text += "  }\n}\n";
    module_.add_kernel(name, text);

    Launch launch;
    launch.kind = Launch::Kind::persistent;
    launch.node = fallback.node;
    launch.kernel = name;
    launch.blocks = plan_.blocks;
    launch.block_threads = plan_.block_threads;
    launch.shared_bytes = plan_.shared_bytes;
    launch.loop_id = fallback.loop_id;
    launch.trip_count = fallback.trip_count;
    launch.reverse = fallback.reverse;
    launch.body = {fallback};
    return launch;
  }

 private:
  /// A launch of the loop and the buffers it touches.
  struct Pending {
    const Launch* launch;
    Access access;
  };

  /// Whether `current` must wait for a grid barrier after the launches `pending`: it reads
  /// what one of them writes, or writes what one of them reads or writes. Two copies of as
  /// many bytes touching the very same address do not conflict: the same thread handles the
  /// same element in both.
  bool conflicts(const Pending& current, const std::vector<Pending>& pending) const {
    const ir::Program& program = module_.program();
    auto clash = [&](const Pending& earlier, BufferId x, BufferId y) {
      if (!buffers_may_overlap(program, x, y)) return false;
      const Launch& a = *earlier.launch;
      const Launch& b = *current.launch;
      if (a.kind != Launch::Kind::copy || b.kind != Launch::Kind::copy || a.bytes != b.bytes)
        return true;
      const DeviceAddress& at_a = a.from.buffer == x ? a.from : a.to;
      const DeviceAddress& at_b = b.from.buffer == y ? b.from : b.to;
      return at_a.buffer != at_b.buffer || at_a.extra != at_b.extra ||
             at_a.t_stride != at_b.t_stride || at_a.loop_id != at_b.loop_id;
    };
    for (const Pending& earlier : pending) {
      for (BufferId read : current.access.reads)
        for (BufferId written : earlier.access.writes)
          if (clash(earlier, written, read)) return true;
      for (BufferId write : current.access.writes) {
        for (BufferId written : earlier.access.writes)
          if (clash(earlier, written, write)) return true;
        for (BufferId read : earlier.access.reads)
          if (clash(earlier, read, write)) return true;
      }
    }
    return false;
  }

  const SharedProduct* shared_product(size_t owner) const {
    for (const SharedProduct& product : plan_.products)
      if (product.step_index == owner) return &product;
    return nullptr;
  }

  /// `type* const name = (type*)address;` for buffer `id`.
  std::string pointer(const std::string& name, BufferId id, bool constant) const {
    const std::string type =
        std::string(constant ? "const " : "") + c_type(module_.buffer(id).type.dtype) + "*";
    return "      " + type + " const " + name + " = (" + type + ")" + module_.address(id) + ";\n";
  }

  std::string phase(const Launch& launch, size_t owner) {
    switch (launch.kind) {
      case Launch::Kind::kernel:
        if (launch.gemm.c < 0) {
          if (declared_.insert(launch.kernel).second)
            declarations_ +=
                "__device__ __forceinline__ void " + launch.kernel + "_phase(RnncArgs args);\n";
          return "    " + launch.kernel + "_phase(args);\n";
        }
        // A generated product kernel (its tiles use the shared memory this kernel holds its
        // invariant operands in): computed here like a cuBLAS product.
        [[fallthrough]];
      case Launch::Kind::gemm: {
        const SharedProduct* product = shared_product(owner);
        return product ? shared_matmul(*product) : global_matmul(launch.gemm);
      }
      case Launch::Kind::copy:
        return copy(launch);
      case Launch::Kind::loop:
      case Launch::Kind::persistent:
        break;
    }
    assert(false && "no nested loops in a persistent kernel");
    return "";
  }

  std::string copy(const Launch& launch) const {
    const bool words = launch.bytes % 4 == 0;
    const std::string type = words ? "unsigned int" : "unsigned char";
    auto address = [&](const DeviceAddress& at) {
      std::string text = "(" + module_.address(at.buffer) + " + " + ll(at.extra);
      if (at.t_stride) text += " + args.t[" + std::to_string(at.loop_id) + "] * " + ll(at.t_stride);
      return "(" + type + "*)" + text + ")";
    };
    std::string text = "    {  // copy " + std::to_string(launch.bytes) + " bytes\n";
    text += "      const " + type + "* const from = (const " + type + "*)" + address(launch.from) +
            ";\n";
    text += "      " + type + "* const to = " + address(launch.to) + ";\n";
    text += "      for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < " +
            ll(words ? launch.bytes / 4 : launch.bytes) +
            "; i += (long long)gridDim.x * blockDim.x) to[i] = from[i];\n";
    return text + "    }\n";
  }

  /// A product without an invariant operand in shared memory: one thread per element of c.
  std::string global_matmul(const GemmCall& g) const {
    const std::string type = c_type(g.dtype);
    // i32 wraps like the CPU backend: unsigned arithmetic.
    const std::string sum = g.dtype == ir::DType::i32 ? "unsigned" : type;
    std::string text = "    {  // product from global memory\n";
    text += pointer("a", g.a, true) + pointer("b", g.b, true) + pointer("c", g.c, false);
    text += "      for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < " +
            ll(g.batch * g.m * g.n) + "; i += (long long)gridDim.x * blockDim.x) {\n";
    text += "        const long long p = i / " + ll(g.m * g.n) + ", row = (i / " + ll(g.n) +
            ") % " + ll(g.m) + ", col = i % " + ll(g.n) + ";\n";
    text += "        " + sum + " sum = 0;\n";
    text += "        for (long long q = 0; q < " + ll(g.k) + "; ++q)\n";
    text += "          sum += (" + sum + ")a[p * " + ll(g.m * g.k) + " + " +
            (g.transpose_a ? "q * " + ll(g.m) + " + row" : "row * " + ll(g.k) + " + q") + "] * (" +
            sum + ")b[p * " + ll(g.k * g.n) + " + " +
            (g.transpose_b ? "col * " + ll(g.k) + " + q" : "q * " + ll(g.n) + " + col") + "];\n";
    text += "        c[i] = (" + type + ")sum;\n      }\n    }\n";
    return text;
  }

  /// The element of the invariant operand at (k index `kk`, owned index `owned`), as stored
  /// in shared memory: op(b)[kk, owned] or op(a)[owned, kk].
  static std::string invariant_element(const SharedProduct& p, const std::string& kk,
                                       const std::string& owned) {
    if (p.partition_rows)
      return p.transpose_a ? "src[" + kk + " * " + ll(p.m) + " + " + owned + "]"
                           : "src[" + owned + " * " + ll(p.k) + " + " + kk + "]";
    return p.transpose_b ? "src[" + owned + " * " + ll(p.k) + " + " + kk + "]"
                         : "src[" + kk + " * " + ll(p.n) + " + " + owned + "]";
  }

  /// Copies this block's slice of `p`'s invariant operand into shared memory, k-major:
  /// element (kk, j) at kk * per_block + j; zero past the operand's end.
  std::string fill(const SharedProduct& p) const {
    const std::string type = c_type(p.dtype);
    const int64_t owned_total = p.partition_rows ? p.m : p.n;
    const int64_t per = p.per_block;
    std::string text = "  {  // %" + loop_.body[p.step_index].node->result()->name() + ": " +
                       (p.partition_rows ? "rows" : "columns") + " [first, first + " +
                       std::to_string(per) + ") of the invariant operand\n";
    text += "    " + type + "* const dst = (" + type + "*)(rnnc_shared + " + ll(p.shared_offset) +
            ");\n";
    const BufferId source = p.partition_rows ? p.a : p.b;
    text += "    const " + type + "* const src = (const " + type + "*)" + module_.address(source) +
            ";\n";
    text += "    const long long first = (long long)blockIdx.x * " + ll(per) + ";\n";
    text +=
        "    for (int e = threadIdx.x; e < " + std::to_string(p.k * per) + "; e += blockDim.x) {\n";
    text +=
        "      const long long kk = e / " + ll(per) + ", owned = first + e % " + ll(per) + ";\n";
    text += "      dst[e] = owned < " + ll(owned_total) + " ? " +
            invariant_element(p, "kk", "owned") + " : (" + type + ")0;\n";
    text += "    }\n  }\n";
    return text;
  }

  /// A product whose invariant operand is in shared memory: this block computes its
  /// per_block rows or columns of c. Work units are (group of `rows` outputs along the other
  /// dimension, owned index j); `split` consecutive lanes share a unit's k loop and add their
  /// sums with shuffles.
  std::string shared_matmul(const SharedProduct& p) const {
    const std::string type = c_type(p.dtype);
    const int64_t threads = plan_.block_threads, per = p.per_block;
    const int64_t other = p.partition_rows ? p.n : p.m;
    const int64_t owned_total = p.partition_rows ? p.m : p.n;
    int64_t rows = 1;
    while (rows < 8 && rows < other && (other + rows - 1) / rows * per > threads) rows *= 2;
    const int64_t groups = (other + rows - 1) / rows, units = groups * per;
    int64_t split = 1;
    while (split < 32 && units * split * 2 <= threads && split * 2 <= p.k) split *= 2;
    std::string text = "    {  // %" + loop_.body[p.step_index].node->result()->name() +
                       " from shared memory: " + std::to_string(rows) + " output(s) a thread, " +
                       std::to_string(split) + " lane(s) an output\n";
    text += "      const " + type + "* const w = (const " + type + "*)(rnnc_shared + " +
            ll(p.shared_offset) + ");\n";
    text += pointer("x", p.partition_rows ? p.b : p.a, true) + pointer("c", p.c, false);
    text += "      const long long first = (long long)blockIdx.x * " + ll(per) + ";\n";
    text += "      for (int base = 0; base < " + std::to_string(units) +
            "; base += " + std::to_string(threads / split) + ") {\n";
    text += "        const int unit = base + (int)threadIdx.x / " + std::to_string(split) + ";\n";
    text += "        const int q = (int)threadIdx.x % " + std::to_string(split) + ";\n";
    text += "        const int j = unit % " + std::to_string(per) + ", group = unit / " +
            std::to_string(per) + ";\n";
    text += "        const bool live = unit < " + std::to_string(units) + " && first + j < " +
            ll(owned_total) + ";\n";
    // Clamped indices along the other dimension: a partial last group computes a row twice
    // and stores it once.
    for (int64_t r = 0; r < rows; ++r) {
      const std::string index = "group * " + ll(rows) + " + " + ll(r);
      text += "        const long long o" + std::to_string(r) + " = " + index + " < " + ll(other) +
              " ? " + index + " : " + ll(other - 1) + ";\n";
      text += "        " + type + " acc" + std::to_string(r) + " = 0;\n";
    }
    text += "        if (live) {\n";
    text += "          for (int kk = q; kk < " + std::to_string(p.k) +
            "; kk += " + std::to_string(split) + ") {\n";
    text += "            const " + type + " v = w[kk * " + std::to_string(per) + " + j];\n";
    for (int64_t r = 0; r < rows; ++r) {
      const std::string o = "o" + std::to_string(r);
      std::string element;
      if (p.partition_rows)
        element = p.transpose_b ? "x[" + o + " * " + ll(p.k) + " + kk]"
                                : "x[kk * " + ll(p.n) + " + " + o + "]";
      else
        element = p.transpose_a ? "x[kk * " + ll(p.m) + " + " + o + "]"
                                : "x[" + o + " * " + ll(p.k) + " + kk]";
      text += "            acc" + std::to_string(r) + " += v * " + element + ";\n";
    }
    text += "          }\n        }\n";
    if (split > 1) {
      text += "        for (int offset = " + std::to_string(split / 2) +
              "; offset > 0; offset /= 2) {\n";
      for (int64_t r = 0; r < rows; ++r)
        text += "          acc" + std::to_string(r) + " += __shfl_down_sync(0xffffffffu, acc" +
                std::to_string(r) + ", offset);\n";
      text += "        }\n";
    }
    text += "        if (live && q == 0) {\n";
    for (int64_t r = 0; r < rows; ++r) {
      const std::string o = "o" + std::to_string(r);
      const std::string at = p.partition_rows ? "(first + j) * " + ll(p.n) + " + " + o
                                              : o + " * " + ll(p.n) + " + first + j";
      const std::string store = "c[" + at + "] = acc" + std::to_string(r) + ";";
      text += r == 0 ? "          " + store + "\n"
                     : "          if (group * " + ll(rows) + " + " + ll(r) + " < " + ll(other) +
                           ") " + store + "\n";
    }
    text += "        }\n      }\n    }\n";
    return text;
  }

  SourceWriter& module_;
  const ir::Step& loop_;
  const PersistentPlan& plan_;
  std::string declarations_;
  std::set<std::string> declared_;
};

}  // namespace

std::optional<Launch> render_persistent(SourceWriter& module, const ir::Step& loop,
                                        const Launch& fallback,
                                        const std::vector<size_t>& launch_owner,
                                        const RenderOptions& options) {
  const PersistentPlan plan = plan_persistent(module.program(), loop, options);
  if (!plan.reason.empty()) return std::nullopt;
  assert(launch_owner.size() == fallback.body.size());
  return PersistentWriter(module, loop, plan).render(fallback, launch_owner);
}

}  // namespace rnnc::cuda
