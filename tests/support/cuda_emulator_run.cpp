// The CUDA emulator's runtime: host memory laid out as cuda_backend.cpp lays out device memory,
// the launch plan replayed as it replays it, and kernels run by emulated threads.
#ifdef RNNC_HAVE_CUDA
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>

#include "ir/error.h"
#include "runtime/tensor.h"
#include "tests/support/cuda_emulator.h"
#include "tests/support/cuda_emulator_internal.h"

namespace rnnc::cuda_emulation {
namespace {

using cuda::Launch;

/// The kernel running now, for the message of a memory fault.
std::atomic<const char*> running_kernel{nullptr};

/// Names the running kernel on stderr when emulated code faults (an access past the end of a
/// buffer hits a guard page), then dies as the fault would have.
void on_fault(int signal) {
  const char* kernel = running_kernel.load();
  const char* what = "CUDA emulation: memory fault in kernel ";
  ssize_t ignored = write(2, what, std::strlen(what));
  if (kernel) ignored = write(2, kernel, std::strlen(kernel));
  ignored = write(2, "\n", 1);
  (void)ignored;
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

/// Installs on_fault for SIGSEGV and SIGBUS once.
void install_fault_handler() {
  static const bool installed = [] {
    std::signal(SIGSEGV, on_fault);
    std::signal(SIGBUS, on_fault);
    return true;
  }();
  (void)installed;
}

/// Marks `kernel` as running while it lives.
class RunningKernel {
 public:
  explicit RunningKernel(const std::string& kernel) { running_kernel = kernel.c_str(); }
  ~RunningKernel() { running_kernel = nullptr; }
};

}  // namespace

struct EmulatedCuda::State {
  const ir::Graph* graph = nullptr;
  const ir::Program* program = nullptr;
  cuda::RenderedCuda rendered;
  std::shared_ptr<const CompiledEmulation> code;
  EmulationOptions options;
  HostMemory arena, constants, error, table;
  std::vector<HostMemory> externals;
  std::vector<int64_t> counters;

  unsigned char* address(ir::BufferId id) const {
    const ir::Buffer& buffer = program->buffers.at(id);
    switch (buffer.placement) {
      case ir::Placement::external:
        return externals.at(buffer.external_index).get();
      case ir::Placement::constant:
        return constants.get() + rendered.constant_offsets.at(id);
      case ir::Placement::arena:
        return arena.get() + buffer.offset;
      case ir::Placement::view: {
        unsigned char* at = address(buffer.base) + buffer.offset;
        if (buffer.step_stride != 0) at += counters.at(buffer.loop_id) * buffer.step_stride;
        return at;
      }
    }
    return nullptr;
  }

  unsigned char* address(const cuda::DeviceAddress& where) const {
    unsigned char* at = address(where.buffer) + where.extra;
    if (where.t_stride != 0) at += counters.at(where.loop_id) * where.t_stride;
    return at;
  }

  /// RnncArgs as cuda_backend.cpp packs it.
  std::vector<unsigned char> pack_args() const {
    std::vector<unsigned char> args(cuda::args_bytes(rendered.num_loops), 0);
    unsigned char* pointers[4] = {arena.get(), table.get(), constants.get(), error.get()};
    std::memcpy(args.data(), pointers, sizeof pointers);
    if (!counters.empty())
      std::memcpy(args.data() + sizeof pointers, counters.data(), counters.size() * 8);
    return args;
  }

  const KernelEntry& kernel(const std::string& name) const {
    auto found = code->kernels.find(name);
    if (found == code->kernels.end()) throw Error("the plan launches unknown kernel " + name);
    return found->second;
  }

  void launch_kernel(const Launch& launch) {
    RunningKernel running(launch.kernel);
    const KernelEntry& entry = kernel(launch.kernel);
    const std::vector<unsigned char> args = pack_args();
    const int64_t threads = options.block_threads;
    const int64_t blocks =
        std::min<int64_t>(options.blocks, (launch.threads + threads - 1) / threads);
    if (entry.synchronizes) {
      const std::string failure = run_concurrently(entry, blocks, threads, launch.shared_bytes,
                                                   args.data(), false, options.barrier_timeout_s);
      if (!failure.empty()) throw Error("kernel " + launch.kernel + ": " + failure);
      return;
    }
    const std::string failure =
        run_serially(entry, blocks, threads, args.data(), options.reverse_thread_order);
    if (!failure.empty()) throw Error("kernel " + launch.kernel + ": " + failure);
  }

  void launch_persistent(const Launch& launch) {
    RunningKernel running(launch.kernel);
    const KernelEntry& entry = kernel(launch.kernel);
    const std::vector<unsigned char> args = pack_args();
    const std::string failure =
        run_concurrently(entry, launch.blocks, launch.block_threads, launch.shared_bytes,
                         args.data(), true, options.barrier_timeout_s);
    if (!failure.empty()) throw Error("persistent kernel " + launch.kernel + ": " + failure);
  }

  template <typename T>
  void gemm(const cuda::GemmCall& g) {
    const T* a = reinterpret_cast<const T*>(address(g.a));
    const T* b = reinterpret_cast<const T*>(address(g.b));
    T* c = reinterpret_cast<T*>(address(g.c));
    for (int64_t p = 0; p < g.batch; ++p)
      for (int64_t i = 0; i < g.m; ++i)
        for (int64_t j = 0; j < g.n; ++j) {
          double sum = 0;
          for (int64_t q = 0; q < g.k; ++q) {
            const T x =
                g.transpose_a ? a[p * g.m * g.k + q * g.m + i] : a[p * g.m * g.k + i * g.k + q];
            const T y =
                g.transpose_b ? b[p * g.k * g.n + j * g.k + q] : b[p * g.k * g.n + q * g.n + j];
            sum += static_cast<double>(x) * static_cast<double>(y);
          }
          c[p * g.m * g.n + i * g.n + j] = static_cast<T>(sum);
        }
  }

  void run_plan(const std::vector<Launch>& plan) {
    for (const Launch& launch : plan) {
      switch (launch.kind) {
        case Launch::Kind::kernel:
          if (launch.threads > 0) launch_kernel(launch);
          break;
        case Launch::Kind::gemm:
          if (launch.gemm.dtype == ir::DType::f64)
            gemm<double>(launch.gemm);
          else if (launch.gemm.dtype == ir::DType::f32)
            gemm<float>(launch.gemm);
          else
            throw Error("a gemm launch of i32 (cuBLAS has none)");
          break;
        case Launch::Kind::copy: {
          unsigned char* to = address(launch.to);
          const unsigned char* from = address(launch.from);
          // A device copy between overlapping ranges is undefined.
          if (to != from && to < from + launch.bytes && from < to + launch.bytes)
            throw Error("a device copy of " + std::to_string(launch.bytes) +
                        " bytes between overlapping ranges");
          std::memcpy(to, from, static_cast<size_t>(launch.bytes));
          break;
        }
        case Launch::Kind::loop:
          for (int64_t n = 0; n < launch.trip_count; ++n) {
            counters.at(launch.loop_id) = launch.reverse ? launch.trip_count - 1 - n : n;
            run_plan(launch.body);
          }
          counters.at(launch.loop_id) = 0;
          break;
        case Launch::Kind::persistent:
          if (options.run_persistent_kernels)
            launch_persistent(launch);
          else
            run_plan(launch.body);
          break;
      }
    }
  }
};

EmulatedCuda::EmulatedCuda(const ir::Graph& graph, const ir::Program& program,
                           cuda::RenderedCuda rendered,
                           std::shared_ptr<const CompiledEmulation> code, EmulationOptions options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.graph = &graph;
  s.program = &program;
  s.rendered = std::move(rendered);
  s.code = std::move(code);
  s.options = options;
  if (s.code->args_size != cuda::args_bytes(s.rendered.num_loops))
    throw Error("RnncArgs is " + std::to_string(s.code->args_size) + " bytes in the source but " +
                std::to_string(cuda::args_bytes(s.rendered.num_loops)) + " bytes on the host");
  s.arena = HostMemory(program.arena_bytes);
  s.constants = HostMemory(s.rendered.constant_pool_bytes);
  s.error = HostMemory(sizeof(int));
  std::vector<unsigned char*> table;
  for (ir::BufferId id : program.externals()) {
    s.externals.emplace_back(program.buffers.at(id).bytes);
    table.push_back(s.externals.back().get());
  }
  s.table = HostMemory(static_cast<int64_t>(table.size() * sizeof(unsigned char*)));
  if (!table.empty()) std::memcpy(s.table.get(), table.data(), table.size() * sizeof table[0]);
  for (size_t id = 0; id < program.buffers.size(); ++id) {
    const ir::Buffer& buffer = program.buffers[id];
    if (buffer.placement != ir::Placement::constant || buffer.bytes == 0) continue;
    std::vector<double> values(buffer.type.num_elements());
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = buffer.constant_values.size() == 1 ? buffer.constant_values[0]
                                                     : buffer.constant_values.at(i);
    Tensor tensor = Tensor::from_doubles(buffer.type.dtype, buffer.type.shape, values);
    std::memcpy(s.constants.get() + s.rendered.constant_offsets[id], tensor.raw(),
                static_cast<size_t>(buffer.bytes));
  }
  s.counters.assign(static_cast<size_t>(s.rendered.num_loops), 0);
  install_fault_handler();
}

EmulatedCuda::~EmulatedCuda() = default;

const cuda::RenderedCuda& EmulatedCuda::rendered() const { return state_->rendered; }

Bindings EmulatedCuda::run(const Bindings& inputs, Bindings& state) {
  State& s = *state_;
  const ir::Graph& graph = *s.graph;
  const ir::Program& program = *s.program;
  check_bindings(graph, inputs, state);
  // What a device leaves in memory nobody wrote: NaN floats, -1 integers.
  std::memset(s.arena.get(), 0xff, static_cast<size_t>(program.arena_bytes));
  for (ir::BufferId id : program.outputs)
    std::memset(s.externals.at(program.buffers.at(id).external_index).get(), 0xff,
                static_cast<size_t>(program.buffers.at(id).bytes));
  auto upload = [&](ir::BufferId id, const Tensor& tensor) {
    const ir::Buffer& buffer = program.buffers.at(id);
    if (buffer.bytes > 0)
      std::memcpy(s.externals.at(buffer.external_index).get(), tensor.raw(),
                  static_cast<size_t>(buffer.bytes));
  };
  std::vector<ir::Node*> input_nodes = graph.nodes_of(ir::OpKind::Input);
  for (size_t i = 0; i < program.inputs.size(); ++i)
    upload(program.inputs[i], inputs.at(input_nodes.at(i)->result()->name()));
  std::vector<ir::Node*> parameter_nodes = graph.nodes_of(ir::OpKind::Parameter);
  for (size_t i = 0; i < program.parameters.size(); ++i)
    upload(program.parameters[i], state.at(parameter_nodes.at(i)->result()->name()));
  std::memset(s.error.get(), 0, sizeof(int));
  s.run_plan(s.rendered.plan);
  int code = 0;
  std::memcpy(&code, s.error.get(), sizeof code);
  if (code != 0) throw Error(s.rendered.errors.at(code - 1));
  auto download = [&](ir::BufferId id, Tensor& tensor) {
    const ir::Buffer& buffer = program.buffers.at(id);
    if (buffer.bytes > 0)
      std::memcpy(tensor.raw(), s.externals.at(buffer.external_index).get(),
                  static_cast<size_t>(buffer.bytes));
  };
  Bindings outputs;
  for (size_t i = 0; i < program.outputs.size(); ++i) {
    const ir::GraphOutput& output = graph.outputs().at(i);
    Tensor& tensor = outputs[output.name] = Tensor(output.value->type());
    download(program.outputs[i], tensor);
  }
  for (size_t i = 0; i < program.parameters.size(); ++i)
    download(program.parameters[i], state.at(parameter_nodes.at(i)->result()->name()));
  return outputs;
}

}  // namespace rnnc::cuda_emulation
#endif
