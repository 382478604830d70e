// GPU ahead-of-time libraries (cuda_aot.h): the graphs optimized, planned, rendered and
// compiled by NVRTC; the C API described (codegen/aot); NAME.c made of the runtime's tables and
// the API; everything written to a temporary folder, built by cc, and renamed into place.
#include "codegen/cuda/cuda_aot.h"

#include <filesystem>

#include "codegen/aot/library.h"
#include "codegen/cuda/cuda_aot_parts.h"
#include "codegen/cuda/cuda_renderer.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/cuda/runtime_tables.h"
#include "ir/error.h"
#include "ir/verifier.h"
#include "passes/plan_memory.h"

namespace rnnc::cuda {

namespace fs = std::filesystem;

CudaAotResult compile_library(const ir::Graph& forward, const ir::Graph* train,
                              const Bindings& initial_values, const std::string& directory,
                              const CudaAotOptions& options) {
  const std::string& name = options.name;
  rnnc::aot::check_library_name(name);
  if (architecture_number(options.architecture) == 0)
    throw Error("--cuda-arch expects a real architecture such as sm_90, got '" +
                options.architecture + "'");
  ir::verify(forward);
  if (train) ir::verify(*train);
  fs::path target = rnnc::aot::prepare_folder(directory);

  rnnc::aot::Library library;
  library.name = name;
  library.source =
      options.source_description.empty() ? "@" + forward.name() : options.source_description;
  for (size_t at; (at = library.source.find("*/")) != std::string::npos;)
    library.source.replace(at, 2, "* /");
  library.target_description =
      "target CUDA " + options.architecture + " CUBIN + PTX, NVRTC " + nvrtc_version();
  library.link_notes = {
      "Link lib" + name + ".a (then also -ldl -lpthread) or lib" + name + ".so. Neither needs",
      "any part of rnnc, nor the CUDA toolkit, at build or run time: they load the CUDA driver",
      "(libcuda.so.1) and, for matrix products, cuBLAS (libcublas.so.13 or .12) with dlopen.",
      "Parameters and scratch memory live on the GPU, in the context; " + name + "_parameter,",
      name + "_save and " + name + "_load work on a host copy that is synchronized with the",
      "device when needed. Inputs and outputs are host arrays, copied to and from the device",
      "on every call. Environment: RNNC_CUDA_GRAPHS=0 (no CUDA graph), RNNC_CUDA_TF32=1",
      "(TF32 products), RNNC_CUDA_PERSISTENT=0, RNNC_CUBLAS=PATH (see docs/aot.md)."};
  library.pipeline_level = options.pipeline_level;
  library.parameters = rnnc::aot::parameter_table(forward, train, library.parameter_bytes);
  std::string initial =
      rnnc::aot::initial_data(train ? *train : forward, library.parameters, initial_values);
  if (!options.embed_initial_values) {
    initial.clear();
    for (rnnc::aot::CTensor& parameter : library.parameters) parameter.initial_offset = -1;
    library.link_notes.push_back(
        "Compiled without initial values: every parameter starts at zero; set them with " + name +
        "_parameter or " + name + "_load.");
  }

  std::vector<const ir::Graph*> originals = {&forward};
  if (train) originals.push_back(train);
  std::vector<std::unique_ptr<ir::Graph>> optimized;
  std::vector<ir::Program> programs;
  for (const ir::Graph* graph : originals) {
    optimized.push_back(rnnc::aot::optimized_copy(*graph, options.pipeline_level));
    programs.push_back(passes::plan_memory(*optimized.back()));
  }
  library.entries.push_back(rnnc::aot::describe_entry(forward, programs[0], library.parameters,
                                                      "forward", "FORWARD", name + "_forward"));
  if (train)
    library.entries.push_back(rnnc::aot::describe_entry(*train, programs[1], library.parameters,
                                                        "train_step", "TRAIN", name + "_train"));

  // Each program rendered and compiled; its tables printed as C.
  CudaAotResult result;
  std::string tables_text;
  std::vector<std::string> symbols, sources;
  int next_code = rnnc::aot::kFirstProgramError;
  for (size_t i = 0; i < programs.size(); ++i) {
    rnnc::aot::Entry& entry = library.entries[i];
    RenderedCuda rendered = render_cuda(programs[i]);
    NvrtcOptions nvrtc;
    nvrtc.architecture = options.architecture;
    auto compiled = compile_cuda(rendered.source, nvrtc, entry.symbol + ".cu");
    CompiledModule module = *compiled;
    if (!options.embed_cubin) module.cubin.clear();
    auto tables = make_runtime_tables(rendered, programs[i], module, entry.symbol);
    entry.errors = rendered.errors;
    entry.first_error_code = next_code;
    next_code += static_cast<int>(entry.errors.size());
    symbols.push_back(entry.symbol + "_program");
    tables_text += render_runtime_tables(*tables, symbols.back()) + "\n";
    sources.push_back(rendered.source);
    result.cubin_bytes += static_cast<int64_t>(module.cubin.size());
  }

  std::string c_file = "/* " + name + ".c: the GPU library of " + name +
                       ".h, generated by `rnnc compile --target cuda`; do not edit.\n"
                       " * The program tables (launch plan, buffers, constants, CUBIN, PTX) are\n"
                       " * replayed by rnnc_cuda_runtime.c, included here with every function "
                       "static. */\n"
                       "#define RNNC_RT_API static\n"
                       "#include \"rnnc_cuda_runtime.c\"\n\n"
                       "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n"
                       "#include \"" +
                       name + ".h\"\n\n" + tables_text +
                       aot::render_cuda_api(library, symbols, initial);

  rnnc::aot::TemporaryFolder temporary(target);
  const fs::path& folder = temporary.path();
  std::vector<std::string> files = {name + ".h", name + ".c", "rnnc_cuda_runtime.c",
                                    "rnnc_cuda_replay.c", "rnnc_cuda_runtime.h"};
  rnnc::aot::write_file(folder / (name + ".h"), rnnc::aot::render_header(library));
  rnnc::aot::write_file(folder / (name + ".c"), c_file);
  rnnc::aot::write_file(folder / "rnnc_cuda_runtime.c", runtime_source_text());
  rnnc::aot::write_file(folder / "rnnc_cuda_replay.c", runtime_replay_text());
  rnnc::aot::write_file(folder / "rnnc_cuda_runtime.h", runtime_header_text());
  for (size_t i = 0; i < sources.size(); ++i) {
    files.push_back(library.entries[i].symbol + ".cu");
    rnnc::aot::write_file(folder / files.back(), sources[i]);
  }
  if (options.build) {
    rnnc::aot::run_tool(folder, {options.c_compiler, "-std=c99", "-O2", "-fPIC", "-c", name + ".c",
                                 "-o", name + ".o"});
    rnnc::aot::run_tool(folder, {"ar", "rcs", "lib" + name + ".a", name + ".o"});
    rnnc::aot::run_tool(folder, {options.c_compiler, "-shared", "-o", "lib" + name + ".so",
                                 "-Wl,-soname,lib" + name + ".so", "-Wl,-z,defs", name + ".o",
                                 "-ldl", "-lpthread"});
    fs::remove(folder / (name + ".o"));
    files.push_back("lib" + name + ".a");
    files.push_back("lib" + name + ".so");
  }
  result.files = rnnc::aot::install_files(folder, target, files);
  result.forward_arena_bytes = library.entries[0].arena_bytes;
  result.train_arena_bytes = train ? library.entries[1].arena_bytes : 0;
  result.parameter_bytes = library.parameter_bytes;
  result.library = library;
  return result;
}

}  // namespace rnnc::cuda
