#pragma once
#include <memory>
#include <string>

#include "codegen/backend.h"
#include "ir/graph.h"
#include "ir/program.h"
#include "runtime/executable.h"

/// The CUDA backend: a graph optimized by the pass pipeline, planned (passes/plan_memory.h),
/// rendered to CUDA C (cuda_renderer.h), compiled by NVRTC (nvrtc_compiler.h) for the device's
/// architecture, loaded and launched through the driver API (driver_api.h, loaded with
/// dlopen). Built when the CUDA toolkit's NVRTC is found (RNNC_HAVE_CUDA); runs only where a
/// driver and a device are present.
namespace rnnc::cuda {

/// A graph compiled for the GPU. It owns a copy of the graph, the program, the loaded module
/// and its device memory (arena, external buffers, constant pool, error flag). run() copies
/// inputs and parameters to the device, replays the launch plan, and copies outputs and
/// updated parameters back. Not reentrant.
class CudaExecutable final : public Executable {
 public:
  /// What compile() made; defined in cuda_backend.cpp.
  struct State;
  /// Takes what compile() made.
  explicit CudaExecutable(std::unique_ptr<State> state);
  ~CudaExecutable() override;

  /// See Executable::run. Bad data (a gather index out of range, scan lengths outside
  /// [1, T]) throws rnnc::Error naming the node and leaves `state` as it was; a fault on the
  /// device throws rnnc::Error too.
  Bindings run(const Bindings& inputs, Bindings& state) override;
  /// The program the code was rendered from.
  const ir::Program& program() const;

 private:
  std::unique_ptr<State> state_;
};

/// Compiles `graph` for device 0. Throws rnnc::Error "no CUDA driver (libcuda.so.1 not
/// found)" or "no CUDA device" where there is none (before any other work), and for an
/// invalid graph or an NVRTC failure.
std::unique_ptr<CudaExecutable> compile(const ir::Graph& graph,
                                        const codegen::CompileOptions& options = {});

/// Whether a CUDA driver, a device and cuBLAS are usable here.
bool device_usable();

/// The CUDA C of `program`, followed by its launch plan as a comment (rnnc dump --emit=cuda).
std::string render_source(const ir::Program& program);

/// The PTX of `program` for `architecture` ("sm_90"), followed by NVRTC's log (ptxas's
/// register and spill report per kernel) as comments (rnnc dump --emit=ptx).
std::string render_ptx(const ir::Program& program, const std::string& architecture = "sm_90");

}  // namespace rnnc::cuda
