#include "codegen/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>

#include "codegen/aot/library.h"
#include "codegen/cuda/cuda_renderer.h"
#include "codegen/cuda/driver_api.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/cuda/runtime_tables.h"
#include "codegen/interp/constant_evaluator.h"
#include "ir/error.h"
#include "passes/plan_memory.h"
#include "runtime/tensor.h"

namespace rnnc::cuda {
namespace {

/// The architecture to compile for: the device's own when NVRTC can make CUBIN for it, else
/// PTX for sm_90 (which the driver compiles for a newer device).
std::string architecture_for(int compute_capability) {
  std::vector<int> known = nvrtc_architectures();
  if (std::find(known.begin(), known.end(), compute_capability) != known.end())
    return "sm_" + std::to_string(compute_capability);
  return "compute_90";
}

}  // namespace

/// The program, its tables, and what the host runtime (runtime/rnnc_cuda_runtime.c) made of
/// them: a session (stream, cuBLAS, error flag), the external buffers, the loaded instance.
struct CudaExecutable::State {
  std::unique_ptr<ir::Graph> graph;
  ir::Program program;
  RenderedCuda rendered;
  std::shared_ptr<const CompiledModule> compiled;
  std::unique_ptr<RuntimeTables> tables;
  rnnc_cuda_session* session = nullptr;
  rnnc_cuda_instance* instance = nullptr;
  std::vector<rnnc_devptr> externals;

  ~State() {
    rnnc_cuda_instance_destroy(instance);
    for (rnnc_devptr memory : externals) rnnc_cuda_free(session, memory);
    rnnc_cuda_session_destroy(session);
  }

  void check(int code, const rnnc_cuda_status& status) const {
    if (code != RNNC_CUDA_OK) throw_status(status);
  }
};

CudaExecutable::CudaExecutable(std::unique_ptr<State> state) : state_(std::move(state)) {}
CudaExecutable::~CudaExecutable() = default;

const ir::Program& CudaExecutable::program() const { return state_->program; }

Bindings CudaExecutable::run(const Bindings& inputs, Bindings& state) {
  State& s = *state_;
  const ir::Graph& graph = *s.graph;
  const ir::Program& program = s.program;
  check_bindings(graph, inputs, state);
  rnnc_cuda_status status{};
  auto upload = [&](ir::BufferId id, const Tensor& tensor) {
    const ir::Buffer& buffer = program.buffers.at(id);
    s.check(rnnc_cuda_upload(s.session, s.externals.at(buffer.external_index), tensor.raw(),
                             buffer.bytes, buffer.name.c_str(), &status),
            status);
  };
  std::vector<ir::Node*> input_nodes = graph.nodes_of(ir::OpKind::Input);
  for (size_t i = 0; i < program.inputs.size(); ++i)
    upload(program.inputs[i], inputs.at(input_nodes.at(i)->result()->name()));
  std::vector<ir::Node*> parameter_nodes = graph.nodes_of(ir::OpKind::Parameter);
  for (size_t i = 0; i < program.parameters.size(); ++i)
    upload(program.parameters[i], state.at(parameter_nodes.at(i)->result()->name()));
  s.check(rnnc_cuda_instance_run(s.instance, &status), status);
  auto download = [&](ir::BufferId id, Tensor& tensor) {
    const ir::Buffer& buffer = program.buffers.at(id);
    s.check(rnnc_cuda_download(s.session, tensor.raw(), s.externals.at(buffer.external_index),
                               buffer.bytes, buffer.name.c_str(), &status),
            status);
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
  const int capability = device_compute_capability();  // no driver or device: say so first
  auto state = std::make_unique<CudaExecutable::State>();
  CudaExecutable::State& s = *state;
  rnnc_cuda_status status{};
  s.check(rnnc_cuda_session_create(&s.session, &status), status);
  s.graph = rnnc::aot::optimized_copy(graph, options.pipeline_level);
  s.program = passes::plan_memory(*s.graph);
  s.rendered = render_cuda(s.program);
  NvrtcOptions nvrtc;
  nvrtc.architecture = architecture_for(capability);
  s.compiled = compile_cuda(s.rendered.source, nvrtc, graph.name() + ".cu");
  s.tables = make_runtime_tables(s.rendered, s.program, *s.compiled, graph.name());
  for (ir::BufferId id : s.program.externals()) {
    const ir::Buffer& buffer = s.program.buffers.at(id);
    const std::string what = buffer.name + " of model " + graph.name();
    s.externals.push_back(0);
    s.check(rnnc_cuda_alloc(s.session, &s.externals.back(), buffer.bytes, what.c_str(), &status),
            status);
  }
  s.check(rnnc_cuda_instance_create(&s.instance, s.session, &s.tables->program, s.externals.data(),
                                    &status),
          status);
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
