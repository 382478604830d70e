#include "codegen/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>

#include "codegen/cuda/cuda_renderer.h"
#include "codegen/cuda/driver_api.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/interp/constant_evaluator.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"
#include "runtime/tensor.h"

namespace rnnc::cuda {
namespace {

constexpr int kBlock = 256;
constexpr int64_t kMaxBlocks = 65536;

/// A copy of `graph` optimized by the pipeline of `level`.
std::unique_ptr<ir::Graph> optimized_copy(const ir::Graph& graph, const std::string& level) {
  auto copy = ir::parse_graph(ir::print_graph(graph), graph.name());
  passes::PassManager manager(interp::pass_context_with_kernels());
  manager.add_pipeline(passes::default_pipeline(level));
  manager.run(*copy);
  return copy;
}

/// Device memory, freed with its owner.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(int64_t bytes, const std::string& what) {
    const Driver& d = driver();
    d.check(d.MemAlloc(&pointer_, static_cast<size_t>(std::max<int64_t>(bytes, 1))),
            "cannot allocate " + std::to_string(bytes) + " bytes for " + what);
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  DeviceMemory(DeviceMemory&& other) noexcept : pointer_(other.pointer_) { other.pointer_ = 0; }
  DeviceMemory& operator=(DeviceMemory&& other) noexcept {
    std::swap(pointer_, other.pointer_);
    return *this;
  }
  ~DeviceMemory() {
    if (pointer_) driver().MemFree(pointer_);
  }
  CUdeviceptr get() const { return pointer_; }

 private:
  CUdeviceptr pointer_ = 0;
};

/// The architecture to compile for: the device's own when NVRTC can make CUBIN for it, else
/// PTX for sm_90 (which the driver compiles for a newer device).
std::string architecture_for(int compute_capability) {
  std::vector<int> known = nvrtc_architectures();
  if (std::find(known.begin(), known.end(), compute_capability) != known.end())
    return "sm_" + std::to_string(compute_capability);
  return "compute_90";
}

}  // namespace

struct CudaExecutable::State {
  std::unique_ptr<ir::Graph> graph;
  ir::Program program;
  RenderedCuda rendered;
  std::shared_ptr<const CompiledModule> compiled;
  CUmodule module = nullptr;
  CUstream stream = nullptr;
  std::map<std::string, CUfunction> functions;
  DeviceMemory arena, constants, error, table;
  std::vector<DeviceMemory> externals;
  std::vector<int64_t> counters;

  ~State() {
    if (module) driver().ModuleUnload(module);
  }

  CUdeviceptr address(ir::BufferId id) const {
    const ir::Buffer& buffer = program.buffers.at(id);
    switch (buffer.placement) {
      case ir::Placement::external:
        return externals.at(buffer.external_index).get();
      case ir::Placement::constant:
        return constants.get() + rendered.constant_offsets.at(id);
      case ir::Placement::arena:
        return arena.get() + buffer.offset;
      case ir::Placement::view: {
        CUdeviceptr at = address(buffer.base) + buffer.offset;
        if (buffer.step_stride != 0) at += counters.at(buffer.loop_id) * buffer.step_stride;
        return at;
      }
    }
    return 0;
  }

  CUdeviceptr address(const DeviceAddress& where) const {
    CUdeviceptr at = address(where.buffer) + where.extra;
    if (where.t_stride != 0) at += counters.at(where.loop_id) * where.t_stride;
    return at;
  }

  void launch_kernel(const Launch& launch) {
    const Driver& d = driver();
    std::vector<unsigned char> args(args_bytes(rendered.num_loops), 0);
    CUdeviceptr pointers[4] = {arena.get(), table.get(), constants.get(), error.get()};
    std::memcpy(args.data(), pointers, sizeof pointers);
    if (!counters.empty())
      std::memcpy(args.data() + sizeof pointers, counters.data(), counters.size() * 8);
    void* parameters[] = {args.data()};
    const int64_t blocks = std::min<int64_t>((launch.threads + kBlock - 1) / kBlock, kMaxBlocks);
    d.check(d.LaunchKernel(functions.at(launch.kernel), static_cast<unsigned>(blocks), 1, 1, kBlock,
                           1, 1, 0, stream, parameters, nullptr),
            "launching " + launch.kernel);
  }

  void gemm(const GemmCall& g) {
    const Cublas& blas = cublas();
    for (int64_t size : {g.m, g.n, g.k, g.batch})
      if (size > INT32_MAX) throw Error("a matmul dimension exceeds cuBLAS's int range");
    const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
    const int op_b = g.transpose_b ? 1 : 0, op_a = g.transpose_a ? 1 : 0;
    const int ldb = g.transpose_b ? k : n, lda = g.transpose_a ? m : k;
    blas.SetStream(blas.handle, stream);
    int status = 0;
    if (g.dtype == ir::DType::f64) {
      const double one = 1, zero = 0;
      status = blas.Dgemm(
          blas.handle, op_b, op_a, n, m, k, &one, reinterpret_cast<const double*>(address(g.b)),
          ldb, g.k * g.n, reinterpret_cast<const double*>(address(g.a)), lda, g.m * g.k, &zero,
          reinterpret_cast<double*>(address(g.c)), n, g.m * g.n, static_cast<int>(g.batch));
    } else {
      const float one = 1, zero = 0;
      status = blas.Sgemm(
          blas.handle, op_b, op_a, n, m, k, &one, reinterpret_cast<const float*>(address(g.b)), ldb,
          g.k * g.n, reinterpret_cast<const float*>(address(g.a)), lda, g.m * g.k, &zero,
          reinterpret_cast<float*>(address(g.c)), n, g.m * g.n, static_cast<int>(g.batch));
    }
    if (status != 0) throw Error("cuBLAS gemm failed (status " + std::to_string(status) + ")");
  }

  void run_plan(const std::vector<Launch>& plan) {
    const Driver& d = driver();
    for (const Launch& launch : plan) {
      switch (launch.kind) {
        case Launch::Kind::kernel:
          if (launch.threads > 0) launch_kernel(launch);
          break;
        case Launch::Kind::gemm:
          gemm(launch.gemm);
          break;
        case Launch::Kind::copy:
          d.check(d.MemcpyDtoDAsync(address(launch.to), address(launch.from),
                                    static_cast<size_t>(launch.bytes), stream),
                  "a device copy");
          break;
        case Launch::Kind::loop:
          for (int64_t n = 0; n < launch.trip_count; ++n) {
            counters.at(launch.loop_id) = launch.reverse ? launch.trip_count - 1 - n : n;
            run_plan(launch.body);
          }
          counters.at(launch.loop_id) = 0;
          break;
        case Launch::Kind::persistent:
          run_plan(launch.body);  // the fallback loop, until cooperative launches are wired up
          break;
      }
    }
  }
};

CudaExecutable::CudaExecutable(std::unique_ptr<State> state) : state_(std::move(state)) {}
CudaExecutable::~CudaExecutable() = default;

const ir::Program& CudaExecutable::program() const { return state_->program; }

Bindings CudaExecutable::run(const Bindings& inputs, Bindings& state) {
  State& s = *state_;
  const Driver& d = driver();
  d.make_current();
  const ir::Graph& graph = *s.graph;
  const ir::Program& program = s.program;
  check_bindings(graph, inputs, state);
  auto upload = [&](ir::BufferId id, const Tensor& tensor) {
    const ir::Buffer& buffer = program.buffers.at(id);
    if (buffer.bytes > 0)
      d.check(d.MemcpyHtoD(s.externals.at(buffer.external_index).get(), tensor.raw(),
                           static_cast<size_t>(buffer.bytes)),
              "copying " + buffer.name + " to the device");
  };
  std::vector<ir::Node*> input_nodes = graph.nodes_of(ir::OpKind::Input);
  for (size_t i = 0; i < program.inputs.size(); ++i)
    upload(program.inputs[i], inputs.at(input_nodes.at(i)->result()->name()));
  std::vector<ir::Node*> parameter_nodes = graph.nodes_of(ir::OpKind::Parameter);
  for (size_t i = 0; i < program.parameters.size(); ++i)
    upload(program.parameters[i], state.at(parameter_nodes.at(i)->result()->name()));
  d.check(d.MemsetD8(s.error.get(), 0, sizeof(int)), "clearing the error flag");
  s.run_plan(s.rendered.plan);
  CUresult done = d.StreamSynchronize(s.stream);
  if (done != CUDA_SUCCESS)
    d.check(done, "running " + graph.name() +
                      " on the device (a kernel faulted; the CUDA "
                      "context cannot be used further)");
  int code = 0;
  d.check(d.MemcpyDtoH(&code, s.error.get(), sizeof code), "reading the error flag");
  if (code != 0) throw Error(s.rendered.errors.at(code - 1));
  auto download = [&](ir::BufferId id, Tensor& tensor) {
    const ir::Buffer& buffer = program.buffers.at(id);
    if (buffer.bytes > 0)
      d.check(d.MemcpyDtoH(tensor.raw(), s.externals.at(buffer.external_index).get(),
                           static_cast<size_t>(buffer.bytes)),
              "copying " + buffer.name + " from the device");
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

std::unique_ptr<CudaExecutable> compile(const ir::Graph& graph,
                                        const codegen::CompileOptions& options) {
  const Driver& d = driver();  // no driver or device: say so before any work
  d.make_current();
  auto state = std::make_unique<CudaExecutable::State>();
  CudaExecutable::State& s = *state;
  s.graph = optimized_copy(graph, options.pipeline_level);
  s.program = passes::plan_memory(*s.graph);
  s.rendered = render_cuda(s.program);
  bool has_gemm = false;
  std::function<void(const std::vector<Launch>&)> scan = [&](const auto& plan) {
    for (const Launch& launch : plan) {
      has_gemm = has_gemm || launch.kind == Launch::Kind::gemm;
      scan(launch.body);
    }
  };
  scan(s.rendered.plan);
  if (has_gemm) cublas();
  NvrtcOptions nvrtc;
  nvrtc.architecture = architecture_for(d.compute_capability);
  s.compiled = compile_cuda(s.rendered.source, nvrtc, graph.name() + ".cu");
  const std::string& ptx = s.compiled->ptx;
  const void* image =
      s.compiled->cubin.empty() ? static_cast<const void*>(ptx.c_str()) : s.compiled->cubin.data();
  d.check(d.ModuleLoadData(&s.module, image), "loading the compiled module of " + graph.name());
  for (const std::string& name : s.rendered.kernels) {
    CUfunction function = nullptr;
    d.check(d.ModuleGetFunction(&function, s.module, name.c_str()), "finding kernel " + name);
    s.functions[name] = function;
  }
  d.check(d.StreamCreate(&s.stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  const std::string model = "model " + graph.name();
  s.arena = DeviceMemory(s.program.arena_bytes, "the arena of " + model);
  s.constants = DeviceMemory(s.rendered.constant_pool_bytes, "the constants of " + model);
  s.error = DeviceMemory(sizeof(int), "the error flag");
  std::vector<CUdeviceptr> table;
  for (ir::BufferId id : s.program.externals()) {
    const ir::Buffer& buffer = s.program.buffers.at(id);
    s.externals.emplace_back(buffer.bytes, buffer.name + " of " + model);
    table.push_back(s.externals.back().get());
  }
  s.table = DeviceMemory(static_cast<int64_t>(table.size() * sizeof(CUdeviceptr)),
                         "the table of external buffers");
  if (!table.empty())
    d.check(d.MemcpyHtoD(s.table.get(), table.data(), table.size() * sizeof(CUdeviceptr)),
            "uploading the table of external buffers");
  for (size_t id = 0; id < s.program.buffers.size(); ++id) {
    const ir::Buffer& buffer = s.program.buffers[id];
    if (buffer.placement != ir::Placement::constant || buffer.bytes == 0) continue;
    std::vector<double> values(buffer.type.num_elements());
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = buffer.constant_values.size() == 1 ? buffer.constant_values[0]
                                                     : buffer.constant_values.at(i);
    Tensor tensor = Tensor::from_doubles(buffer.type.dtype, buffer.type.shape, values);
    d.check(d.MemcpyHtoD(s.constants.get() + s.rendered.constant_offsets[id], tensor.raw(),
                         static_cast<size_t>(buffer.bytes)),
            "uploading constant " + buffer.name);
  }
  s.counters.assign(static_cast<size_t>(s.rendered.num_loops), 0);
  return std::make_unique<CudaExecutable>(std::move(state));
}

bool device_usable() {
  static const bool usable = cuda_usable();
  return usable;
}

std::string render_source(const ir::Program& program) {
  RenderedCuda rendered = render_cuda(program);
  std::string out = rendered.source + "\n/*\n" + print_plan(rendered, program) + "*/\n";
  return out;
}

std::string render_ptx(const ir::Program& program, const std::string& architecture) {
  RenderedCuda rendered = render_cuda(program);
  NvrtcOptions options;
  options.architecture = architecture;
  options.ptxas_report = true;
  options.disk_cache = false;
  auto compiled = compile_cuda(rendered.source, options);
  std::string out =
      compiled->ptx + "\n// NVRTC " + nvrtc_version() + " log (" + architecture + "):\n";
  std::istringstream log(compiled->log);
  for (std::string line; std::getline(log, line);) out += "// " + line + "\n";
  return out;
}

}  // namespace rnnc::cuda
