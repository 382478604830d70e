#include "codegen/cpu/cpu_backend.h"

#include <llvm/Support/raw_ostream.h>

#include <chrono>
#include <cstring>

#include "codegen/aot/library.h"
#include "codegen/cpu/jit.h"
#include "codegen/cpu/program_renderer.h"
#include "codegen/interp/constant_evaluator.h"
#include "ir/error.h"
#include "passes/plan_memory.h"
#include "runtime/host_memory.h"

namespace rnnc::cpu {
namespace {

/// Seconds since `start`; restarts it.
double lap(std::chrono::steady_clock::time_point& start) {
  auto now = std::chrono::steady_clock::now();
  double seconds = std::chrono::duration<double>(now - start).count();
  start = now;
  return seconds;
}

/// The JIT's rendering options for `options`.
RenderOptions render_options(const codegen::CompileOptions& options) {
  RenderOptions render;
  render.flush_denormals = options.flush_denormals;
  render.cache_parameter_packs = options.cache_parameter_packs;
  return render;
}

}  // namespace

struct CpuExecutable::State {
  std::unique_ptr<ir::Graph> graph;
  ir::Program program;
  std::unique_ptr<JitCode> code;
  std::vector<std::string> errors;
  std::unique_ptr<void, rnnc::FreeHostMemory> arena;
  /// The pack cache (RenderedProgram::pack_cache_bytes; null without one) and its header.
  std::unique_ptr<void, rnnc::FreeHostMemory> packs;
  int64_t pack_cache_header_bytes = 0;
  int64_t cached_packs = 0;
  CompileTimes times;
};

CpuExecutable::CpuExecutable(std::unique_ptr<State> state) : state_(std::move(state)) {}
CpuExecutable::~CpuExecutable() = default;

const CompileTimes& CpuExecutable::compile_times() const { return state_->times; }
const ir::Program& CpuExecutable::program() const { return state_->program; }
int64_t CpuExecutable::cached_packs() const { return state_->cached_packs; }

Bindings CpuExecutable::run(const Bindings& inputs, Bindings& state) {
  Bindings outputs;
  run_into(inputs, state, outputs);
  return outputs;
}

void CpuExecutable::run_into(const Bindings& inputs, Bindings& state, Bindings& outputs) {
  const ir::Graph& graph = *state_->graph;
  const ir::Program& program = state_->program;
  check_bindings(graph, inputs, state);
  std::vector<void*> externals(program.externals().size(), nullptr);
  auto bind = [&](ir::BufferId id, void* memory) {
    externals.at(program.buffers.at(id).external_index) = memory;
  };
  std::vector<ir::Node*> input_nodes = graph.nodes_of(ir::OpKind::Input);
  for (size_t i = 0; i < program.inputs.size(); ++i)
    bind(program.inputs[i],
         const_cast<void*>(inputs.at(input_nodes.at(i)->result()->name()).raw()));
  std::vector<ir::Node*> parameter_nodes = graph.nodes_of(ir::OpKind::Parameter);
  for (size_t i = 0; i < program.parameters.size(); ++i)
    bind(program.parameters[i], state.at(parameter_nodes.at(i)->result()->name()).raw());
  for (auto it = outputs.begin(); it != outputs.end();)  // only the graph's outputs stay
    it = graph.output(it->first) ? std::next(it) : outputs.erase(it);
  for (size_t i = 0; i < program.outputs.size(); ++i) {
    const ir::GraphOutput& output = graph.outputs().at(i);
    auto found = outputs.find(output.name);
    if (found == outputs.end() || found->second.type() != output.value->type())
      found = outputs.insert_or_assign(output.name, Tensor(output.value->type())).first;
    bind(program.outputs[i], found->second.raw());
  }
  int32_t code = state_->code->entry()(externals.data(), state_->arena.get(), state_->packs.get());
  if (code != 0) throw Error(state_->errors.at(code - 1));
}

void CpuExecutable::parameters_changed() {
  if (state_->packs)
    std::memset(state_->packs.get(), 0, static_cast<size_t>(state_->pack_cache_header_bytes));
}

std::unique_ptr<CpuExecutable> compile(const ir::Graph& graph,
                                       const codegen::CompileOptions& options) {
  auto state = std::make_unique<CpuExecutable::State>();
  auto start = std::chrono::steady_clock::now();
  auto machine = make_target_machine(options.target_cpu);
  state->graph = rnnc::aot::optimized_copy(graph, options.pipeline_level);
  state->times.graph_passes = lap(start);
  state->program = passes::plan_memory(*state->graph);
  state->times.planning = lap(start);
  auto context = std::make_unique<llvm::LLVMContext>();
  RenderedProgram rendered =
      render_program(state->program, *context, *machine, render_options(options));
  state->times.rendering = lap(start);
  int64_t bytes = std::max<int64_t>(arena_bytes(state->program, rendered), 1);
  optimize_module(*rendered.module, *machine);
  state->times.llvm_passes = lap(start);
  state->code = std::make_unique<JitCode>(std::move(rendered.module), std::move(context),
                                          options.target_cpu, rendered.symbol);
  state->times.machine_code = lap(start);
  state->errors = std::move(rendered.errors);
  state->arena = rnnc::allocate_zeroed(static_cast<size_t>(bytes));
  if (!state->arena)
    throw Error("cannot allocate the arena of " + std::to_string(bytes) + " bytes");
  if (rendered.pack_cache_bytes > 0) {
    state->packs = rnnc::allocate_zeroed(static_cast<size_t>(rendered.pack_cache_bytes));
    if (!state->packs)
      throw Error("cannot allocate the pack cache of " + std::to_string(rendered.pack_cache_bytes) +
                  " bytes");
    state->pack_cache_header_bytes = rendered.pack_cache_header_bytes;
  }
  state->cached_packs = rendered.cached_packs;
  return std::make_unique<CpuExecutable>(std::move(state));
}

std::string render_llvm_ir(const ir::Graph& graph, const codegen::CompileOptions& options,
                           bool optimized) {
  auto machine = make_target_machine(options.target_cpu);
  auto copy = rnnc::aot::optimized_copy(graph, options.pipeline_level);
  ir::Program program = passes::plan_memory(*copy);
  llvm::LLVMContext context;
  RenderedProgram rendered = render_program(program, context, *machine, render_options(options));
  if (optimized) optimize_module(*rendered.module, *machine);
  std::string text;
  llvm::raw_string_ostream stream(text);
  rendered.module->print(stream, nullptr);
  return stream.str();
}

}  // namespace rnnc::cpu
