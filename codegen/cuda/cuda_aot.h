#pragma once
#include <string>
#include <vector>

#include "codegen/aot/library.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

/// Ahead-of-time compilation for NVIDIA GPUs (`rnnc compile --target cuda`): a forward graph
/// and optionally a training step become a self-contained C library in one folder, with the
/// same C header as the CPU library (codegen/aot/library.h; docs/aot.md):
///   NAME.h                the C API, every shape and size a #define
///   NAME.c                the generated tables of each program (launch plan, buffers,
///                         constants), the CUBIN (sm_90) and PTX NVRTC made, the API
///   rnnc_cuda_runtime.c   the host runtime that replays the tables (with its .h and
///                         rnnc_cuda_replay.c); NAME.c includes it, all static
///   NAME_forward.cu, NAME_train.cu   the CUDA C, for reading or a rebuild with nvcc
///   libNAME.a, libNAME.so built with cc; at run time they need libc and libdl, and load the
///                         CUDA driver (libcuda.so.1) and cuBLAS with dlopen
/// Building needs NVRTC (not a GPU); running needs a driver and a device.
namespace rnnc::cuda {

/// How to compile a GPU library.
struct CudaAotOptions {
  /// The C identifier every symbol and macro starts with.
  std::string name;
  /// The graph optimization pipeline ("O0", "O1").
  std::string pipeline_level = "O1";
  /// The real architecture of the embedded CUBIN ("sm_90"); the PTX serves newer devices.
  std::string architecture = "sm_90";
  /// The C compiler that builds the libraries (`cc` by default).
  std::string c_compiler = "cc";
  /// Where the model came from, for the header's comment.
  std::string source_description;
  /// Build libNAME.a and libNAME.so (off: only the sources, for building elsewhere).
  bool build = true;
  /// Embed the CUBIN (off: the PTX only, which the driver compiles when loading: smaller).
  bool embed_cubin = true;
  /// Embed the parameters' initial values (off: every parameter starts at zero, and the
  /// caller sets them through NAME_parameter or NAME_load; for big models whose embedded
  /// values would make NAME.c hundreds of MB).
  bool embed_initial_values = true;
};

/// What compile_library wrote.
struct CudaAotResult {
  std::vector<std::string> files;  ///< the paths written into the folder
  int64_t forward_arena_bytes = 0;
  int64_t train_arena_bytes = 0;  ///< 0 without a training step
  int64_t parameter_bytes = 0;
  int64_t cubin_bytes = 0;     ///< of all programs
  rnnc::aot::Library library;  ///< the C API (names, shapes, entries) the header declares
};

/// Compiles `forward` (and `train`, a training step of the same model, when not null) into
/// the library described above in folder `directory`, with the CPU library's rules
/// (cpu::compile_library): shared parameters by name, initial values from `initial_values`
/// or each Parameter's init, everything built in a temporary folder and renamed into place,
/// nothing left behind on failure. Throws rnnc::Error for an invalid graph or name, an NVRTC
/// failure, a folder that cannot be written, or a C compiler that fails.
CudaAotResult compile_library(const ir::Graph& forward, const ir::Graph* train,
                              const Bindings& initial_values, const std::string& directory,
                              const CudaAotOptions& options);

}  // namespace rnnc::cuda
