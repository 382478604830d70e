#pragma once
#include <memory>
#include <string>

#include "codegen/backend.h"
#include "ir/graph.h"
#include "ir/program.h"
#include "runtime/executable.h"

/// The CPU backend: a graph optimized by the pass pipeline, planned (passes/plan_memory.h),
/// rendered to LLVM IR (program_renderer.h), optimized by LLVM for the target CPU and compiled
/// in-process by ORC's LLJIT. Only built with LLVM 19 and OpenBLAS (RNNC_HAVE_CPU).
namespace rnnc::cpu {

/// Wall-clock seconds of each compilation stage.
struct CompileTimes {
  double graph_passes = 0;  ///< the optimization pipeline of CompileOptions::pipeline_level
  double planning = 0;      ///< plan_memory
  double rendering = 0;     ///< the program to LLVM IR
  double llvm_passes = 0;   ///< LLVM's O3 pipeline
  double machine_code = 0;  ///< instruction selection and JIT linking
  /// The sum of the stages.
  /// The sum of the stages.
  double total() const { return graph_passes + planning + rendering + llvm_passes + machine_code; }
};

/// A graph compiled to machine code for this process's CPU. It owns a copy of the graph (so
/// the original may be destroyed), the program planned from it, the JIT'd code and the arena.
/// run() is not reentrant: concurrent runs of one executable share its arena.
class CpuExecutable final : public Executable {
 public:
  /// What compile() made (graph, program, code, arena); defined in cpu_backend.cpp.
  struct State;
  /// Takes what compile() made.
  explicit CpuExecutable(std::unique_ptr<State> state);
  ~CpuExecutable() override;

  /// See Executable::run. Updates are written into `state`'s tensors in place. Bad data (a
  /// gather index out of range, scan lengths outside [1, T]) throws rnnc::Error naming the
  /// node.
  Bindings run(const Bindings& inputs, Bindings& state) override;
  /// Writes straight into the tensors of `outputs` that have an output's name and type.
  void run_into(const Bindings& inputs, Bindings& state, Bindings& outputs) override;
  /// Zeroes the pack cache's header: the next run packs every cached parameter again.
  void parameters_changed() override;

  /// How long compiling took, by stage.
  const CompileTimes& compile_times() const;
  /// The program the code was rendered from.
  const ir::Program& program() const;
  /// The packs whose panels the pack cache keeps between runs
  /// (CompileOptions::cache_parameter_packs; RenderedProgram::cached_packs).
  int64_t cached_packs() const;

 private:
  std::unique_ptr<State> state_;
};

/// Compiles `graph` for the CPU: the pipeline of options.pipeline_level (constant folding with
/// the interpreter's kernels), plan_memory, LLVM for options.target_cpu (empty: the host).
/// Throws rnnc::Error for an invalid graph, an unknown pipeline level or an unknown CPU name.
std::unique_ptr<CpuExecutable> compile(const ir::Graph& graph,
                                       const codegen::CompileOptions& options = {});

/// The LLVM IR of `graph`'s program as text (rnnc dump --emit=llvm): as rendered, or after
/// LLVM's O3 pipeline when `optimized`.
std::string render_llvm_ir(const ir::Graph& graph, const codegen::CompileOptions& options = {},
                           bool optimized = false);

}  // namespace rnnc::cpu
