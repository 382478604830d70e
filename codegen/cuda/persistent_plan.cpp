// Which loops render as persistent kernels (render_persistent.cpp), how their invariant
// product operands are laid out in shared memory (each block holds its slice, a range of c's
// columns of op(b) or of c's rows of op(a), as k x per_block elements, k-major), and the parts
// of the source persistent kernels need besides themselves: the grid barrier, the device
// copies of their phase kernels, the comment saying which loops are persistent and why.
#include <algorithm>
#include <cassert>
#include <set>

#include "codegen/cuda/render_internal.h"
#include "ir/error.h"

namespace rnnc::cuda {
namespace {

using ir::BufferId;
using ir::Placement;

/// The memory a buffer's bytes lie in: kind 0 arena, 1 external (root = its index),
/// 2 constant (root = buffer id); [begin, end) bytes of it (a whole root buffer for views
/// that move with a loop counter).
struct Region {
  int kind = 0;
  int64_t root = 0;
  int64_t begin = 0, end = 0;
};

Region region_of(const ir::Program& program, BufferId id) {
  int64_t offset = 0;
  bool whole = false;
  BufferId at = id;
  while (program.buffers.at(at).placement == Placement::view) {
    const ir::Buffer& view = program.buffers.at(at);
    whole = whole || view.step_stride != 0;
    offset += view.offset;
    at = view.base;
  }
  const ir::Buffer& root = program.buffers.at(at);
  Region region;
  int64_t root_begin = 0;
  switch (root.placement) {
    case Placement::arena:
      region.kind = 0;
      root_begin = root.offset;
      break;
    case Placement::external:
      region.kind = 1;
      region.root = root.external_index;
      break;
    case Placement::constant:
    case Placement::view:
      region.kind = 2;
      region.root = at;
      break;
  }
  if (whole) {
    region.begin = root_begin;
    region.end = root_begin + root.bytes;
  } else {
    region.begin = root_begin + offset;
    region.end = region.begin + program.buffers.at(id).bytes;
  }
  return region;
}

/// Whether buffer `id` is a view moving with the counter of loop `loop_id`.
bool moves_with(const ir::Program& program, BufferId id, int32_t loop_id) {
  for (BufferId at = id; program.buffers.at(at).placement == Placement::view;
       at = program.buffers.at(at).base) {
    const ir::Buffer& view = program.buffers.at(at);
    if (view.step_stride != 0 && view.loop_id == loop_id) return true;
  }
  return false;
}

/// "loop t3 (%h_final)": the loop's counter and its scan's first result.
std::string loop_label(const ir::Step& loop) {
  return "loop t" + std::to_string(loop.loop_id) + " (%" + loop.node->result(0)->name() + ")";
}

/// The grid barrier, defined once in a source with persistent kernels. The CPU emulator
/// (tests/support/cuda_emulator.h) defines its own.
constexpr const char* kGridBarrier = R"(#ifndef RNNC_CUDA_EMULATION
// Grid-wide barrier of a persistent kernel (valid under a cooperative launch, every block
// resident). Thread 0 of each block adds to one counter: block 0 adds 0x80000000 - (blocks - 1),
// the others 1, so the counter's top bit flips exactly when the last block arrives and its low
// bits return where they were: a new generation, with nothing to reset between barriers or
// launches. Fences publish each block's writes before it arrives and order its reads after.
__device__ unsigned int rnnc_grid_barrier_counter;
__device__ __noinline__ void rnnc_grid_sync() {
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned int add = blockIdx.x == 0 ? 0x80000000u - (gridDim.x - 1) : 1u;
    __threadfence();
    const unsigned int old = atomicAdd(&rnnc_grid_barrier_counter, add);
    while (((*(volatile unsigned int*)&rnnc_grid_barrier_counter ^ old) & 0x80000000u) == 0) {
    }
    __threadfence();
  }
  __syncthreads();
}
#endif
)";

/// Every persistent launch of `plan` (nested ones included).
void collect_persistent(const std::vector<Launch>& plan, std::vector<const Launch*>& out) {
  for (const Launch& launch : plan) {
    if (launch.kind == Launch::Kind::persistent) out.push_back(&launch);
    collect_persistent(launch.body, out);
  }
}

/// The names of every kernel launched in `plan` (nested ones included) but generated product
/// kernels, which persistent kernels do not call.
void collect_kernels(const std::vector<Launch>& plan, std::vector<std::string>& out) {
  for (const Launch& launch : plan) {
    if (launch.kind == Launch::Kind::kernel && launch.gemm.c < 0) out.push_back(launch.kernel);
    collect_kernels(launch.body, out);
  }
}

void collect_loops(const std::vector<ir::Step>& steps, std::vector<const ir::Step*>& out) {
  for (const ir::Step& step : steps)
    if (step.kind == ir::StepKind::loop) {
      out.push_back(&step);
      collect_loops(step.body, out);
    }
}

}  // namespace

bool buffers_may_overlap(const ir::Program& program, BufferId x, BufferId y) {
  if (x == y) return true;
  const Region a = region_of(program, x), b = region_of(program, y);
  if (a.kind != b.kind || a.root != b.root) return false;
  return a.begin < b.end && b.begin < a.end;
}

PersistentPlan plan_persistent(const ir::Program& program, const ir::Step& loop,
                               const RenderOptions& options) {
  assert(loop.kind == ir::StepKind::loop);
  PersistentPlan plan;
  if (!options.persistent_scans) {
    plan.reason = "persistent scans are off (RenderOptions::persistent_scans)";
    return plan;
  }
  if (options.persistent_blocks < 1) {
    plan.reason = "RenderOptions::persistent_blocks is below 1";
    return plan;
  }
  const int64_t threads = options.persistent_block_threads;
  if (threads < 32 || threads > 1024 || threads % 32 != 0) {
    plan.reason = "RenderOptions::persistent_block_threads (" + std::to_string(threads) +
                  ") is not a multiple of 32 in [32, 1024]";
    return plan;
  }
  // Buffers the loop writes: its results (carries, stacked outputs) and every body result.
  std::vector<BufferId> written = loop.results;
  for (const ir::Step& step : loop.body) {
    if (step.kind == ir::StepKind::loop) {
      plan.reason = "its body holds a nested loop (" + loop_label(step) + ")";
      return plan;
    }
    written.insert(written.end(), step.results.begin(), step.results.end());
  }
  auto invariant = [&](BufferId id) {
    if (moves_with(program, id, loop.loop_id)) return false;
    for (BufferId w : written)
      if (buffers_may_overlap(program, id, w)) return false;
    return true;
  };
  int64_t widest = 0;
  for (size_t s = 0; s < loop.body.size(); ++s) {
    const ir::Step& step = loop.body[s];
    if (step.kind != ir::StepKind::matmul) continue;
    const ir::Node& node = *step.node;
    const ir::Shape& out = node.result()->shape();
    const size_t rank = out.size();
    SharedProduct product;
    product.step_index = s;
    product.dtype = node.result()->dtype();
    product.transpose_a = node.attrs().get_int("transpose_a") != 0;
    product.transpose_b = node.attrs().get_int("transpose_b") != 0;
    product.m = out[rank - 2];
    product.n = out[rank - 1];
    const ir::Shape& a_shape = node.operand(0)->shape();
    product.k = product.transpose_a ? a_shape[rank - 2] : a_shape[rank - 1];
    product.a = step.operands.at(0);
    product.b = step.operands.at(1);
    product.c = step.results.at(0);
    const int64_t batch = ir::num_elements(ir::Shape(out.begin(), out.end() - 2));
    // i32 products, batched ones, empty ones and those without an invariant operand are
    // computed in the kernel from global memory.
    if (product.dtype == ir::DType::i32 || batch != 1 || product.m * product.n == 0 ||
        product.k == 0)
      continue;
    if (invariant(product.b))
      product.partition_rows = false;
    else if (invariant(product.a))
      product.partition_rows = true;
    else
      continue;
    widest = std::max(widest, product.partition_rows ? product.m : product.n);
    plan.products.push_back(product);
  }
  plan.block_threads = threads;
  plan.blocks = plan.products.empty() ? options.persistent_blocks
                                      : std::min(options.persistent_blocks, widest);
  for (SharedProduct& product : plan.products) {
    const int64_t partitioned = product.partition_rows ? product.m : product.n;
    product.per_block = (partitioned + plan.blocks - 1) / plan.blocks;
    const int64_t element = product.dtype == ir::DType::f64 ? 8 : 4;
    product.shared_offset = plan.shared_bytes;
    product.shared_bytes = product.k * product.per_block * element;
    plan.shared_bytes += (product.shared_bytes + 15) / 16 * 16;
  }
  if (plan.shared_bytes > options.max_shared_bytes) {
    plan.reason = "its invariant product operands need " + std::to_string(plan.shared_bytes) +
                  " bytes of shared memory per block over " + std::to_string(plan.blocks) +
                  " blocks, more than " + std::to_string(options.max_shared_bytes);
    plan.products.clear();
  }
  return plan;
}

std::string persistent_eligibility(const ir::Program& program, const ir::Step& loop,
                                   const RenderOptions& options) {
  const PersistentPlan plan = plan_persistent(program, loop, options);
  if (!plan.reason.empty()) return loop_label(loop) + ": not persistent: " + plan.reason;
  return loop_label(loop) + ": persistent, " + std::to_string(plan.blocks) + " blocks x " +
         std::to_string(plan.block_threads) + " threads, " + std::to_string(plan.shared_bytes) +
         " bytes of shared memory per block, " + std::to_string(plan.products.size()) +
         " product(s) from shared memory";
}

void finish_persistent_source(const ir::Program& program, const RenderOptions& options,
                              RenderedCuda& rendered) {
  std::vector<const ir::Step*> loops;
  collect_loops(program.steps, loops);
  if (loops.empty()) return;
  std::vector<const Launch*> persistent;
  collect_persistent(rendered.plan, persistent);
  std::string head = "// Persistent scans (RenderOptions::persistent_scans):\n";
  for (const ir::Step* loop : loops)
    head += "//   " + persistent_eligibility(program, *loop, options) + "\n";
  if (!persistent.empty()) head += kGridBarrier;
  std::string& source = rendered.source;
  // The device copies of the kernels the persistent kernels call as phases, at the end (the
  // persistent kernels declare them).
  std::set<std::string> copied;
  std::string copies;
  for (const Launch* launch : persistent) {
    std::vector<std::string> kernels;
    collect_kernels(launch->body, kernels);
    for (const std::string& kernel : kernels) {
      if (!copied.insert(kernel).second) continue;
      const std::string header = "extern \"C\" __global__ void " + kernel + "(RnncArgs args) {\n";
      const size_t begin = source.find(header);
      if (begin == std::string::npos)
        throw Error("internal error: kernel " + kernel +
                    " of a persistent loop is not in the source");
      const size_t end = source.find("\n}\n", begin) + 3;
      copies += "__device__ __forceinline__ void " + kernel + "_phase(RnncArgs args) {\n" +
                source.substr(begin + header.size(), end - begin - header.size());
    }
  }
  source += copies;
  const size_t arguments = source.find("// The kernels' one argument");
  source.insert(arguments == std::string::npos ? 0 : arguments, head);
}

}  // namespace rnnc::cuda
