#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/executable.h"

/// The backends, behind one interface: what tests are parameterized over and what the driver's
/// --backend chooses.
namespace rnnc::codegen {

/// How to compile a graph for a backend.
struct CompileOptions {
  /// The optimization pipeline run before planning memory ("O1" level by default); ignored by
  /// the graph interpreter.
  std::string pipeline_level = "O1";
  /// cpu: the LLVM CPU name ("znver4", "skylake-avx512", ...); empty means the host.
  std::string target_cpu;
  /// cpu: compute with denormal floats flushed to zero (x86's FTZ and DAZ, set on entry and
  /// restored on return), as TensorFlow does: denormal gradients cost Intel cores a microcode
  /// assist per operation. false: IEEE denormals, as the interpreter computes.
  bool flush_denormals = true;
  /// cpu: keep the packed copies of the weights that the graph reads but never writes (an
  /// inference or forward+backward graph's) from run to run, packing them again only when a
  /// parameter is bound to other memory or after Executable::parameters_changed(). The caller
  /// promises to call that whenever it changes a parameter's values in place. Off: every run
  /// packs what it multiplies by.
  bool cache_parameter_packs = false;
};

/// Names of the backends usable in this build and on this machine: "interp" always, "cpu"
/// when built with LLVM, "cuda" when built with CUDA and a GPU is present.
std::vector<std::string> available_backends();

/// The backend to use when the user names none: "cpu" when available, else "interp".
std::string default_backend();

/// Compiles `graph` for backend `name`. The executable keeps its own copy of what it needs:
/// `graph` may be destroyed afterwards. Throws rnnc::Error for an unknown or unavailable
/// backend (naming the available ones) or an invalid graph.
std::unique_ptr<Executable> compile(const ir::Graph& graph, const std::string& name,
                                    const CompileOptions& options = {});

}  // namespace rnnc::codegen
