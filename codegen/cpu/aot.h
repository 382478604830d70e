#pragma once
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

/// Ahead-of-time compilation for the CPU (`rnnc compile`): a forward graph and optionally a
/// training step become a self-contained C library in one folder (docs/aot.md):
///   NAME.h          the C API, with every shape and size as a #define
///   NAME.o          both programs' machine code and the parameters' initial values
///   NAME_runtime.c  the generated C99 runtime: context, parameters, load/save, entry points
///   NAME_parallel.c the thread pool of the programs' large generated products (C11, pthreads)
///   libNAME.a       NAME_runtime.o + NAME_parallel.o + NAME.o
///   libNAME.so      the same, linked against libopenblas, libm and libpthread only
/// The library needs no part of rnnc at run time: only libc, libm, libpthread and OpenBLAS's
/// cblas.
namespace rnnc::cpu {

/// How to compile a library.
struct AotOptions {
  /// The C identifier every symbol and macro starts with (NAME_forward, NAME_H, ...).
  std::string name;
  /// The graph optimization pipeline run before planning memory ("O0", "O1").
  std::string pipeline_level = "O1";
  /// The LLVM CPU the code is tuned for and may use the features of ("x86-64-v3", "znver4");
  /// empty: the CPU of this machine, with exactly its features.
  std::string target_cpu;
  /// Flush denormal floats to zero while the library's entry points run (x86's FTZ and DAZ;
  /// the caller's control word is restored on return). false: IEEE denormals.
  bool flush_denormals = true;
  /// Keep the packed copies of the weights that a program packs but never writes (the
  /// forward program's) in the context from call to call; NAME_parameter, NAME_load,
  /// NAME_reset and a training step make the next call pack them again
  /// (RenderOptions::cache_parameter_packs). false: every call packs them.
  bool cache_parameter_packs = true;
  /// The C compiler that builds the runtime and links the libraries (`cc` by default).
  std::string c_compiler = "cc";
  /// Where the model came from, for the header's comment.
  std::string source_description;
};

/// What compile_library wrote.
struct AotResult {
  std::vector<std::string> files;  ///< the paths written into the folder
  int64_t forward_arena_bytes = 0;
  int64_t train_arena_bytes = 0;  ///< 0 without a training step
  int64_t parameter_bytes = 0;    ///< every parameter and optimizer state, aligned
};

/// Compiles `forward` (and `train`, a training step of the same model, when not null) into
/// the library described above, in folder `directory` (created when missing; files of the
/// same names are replaced, others are left alone). The two programs share parameters by
/// name: every parameter of `forward` must be one of `train`'s with the same type. The
/// library's parameters start at `initial_values` where it has a tensor of that name (an
/// imported model's weights), and otherwise as each Parameter declares (init, seed; see
/// runtime/initializers.h), so a fresh context holds what rnnc::initialize_parameters gives.
/// Everything is written into a temporary folder next to `directory` and renamed into place
/// at the end; on any failure nothing is left behind. Throws rnnc::Error for an invalid
/// graph, parameters that disagree, an invalid name, an unknown target CPU, a folder that
/// cannot be written, or a C compiler that fails (with its output).
AotResult compile_library(const ir::Graph& forward, const ir::Graph* train,
                          const Bindings& initial_values, const std::string& directory,
                          const AotOptions& options);

/// True when `name` can start the library's C identifiers: [A-Za-z_][A-Za-z0-9_]*, not a C
/// keyword, at most 64 characters.
bool is_valid_library_name(const std::string& name);

}  // namespace rnnc::cpu
