// Ahead-of-time libraries for the CPU (codegen/cpu/aot.h): the graphs optimized and planned,
// the C API described (codegen/aot), the object and sources made in memory, then written to a
// temporary folder, built by the system's C compiler, and renamed into place.
#include "codegen/cpu/aot.h"

#include <filesystem>

#include "codegen/cpu/aot_parts.h"
#include "ir/error.h"
#include "ir/verifier.h"

namespace rnnc::cpu {

namespace fs = std::filesystem;
using rnnc::aot::Entry;

bool is_valid_library_name(const std::string& name) {
  return rnnc::aot::is_valid_library_name(name);
}

AotResult compile_library(const ir::Graph& forward, const ir::Graph* train,
                          const Bindings& initial_values, const std::string& directory,
                          const AotOptions& options) {
  const std::string& name = options.name;
  rnnc::aot::check_library_name(name);
  ir::verify(forward);
  if (train) ir::verify(*train);
  fs::path target = rnnc::aot::prepare_folder(directory);

  // The programs.
  aot::Library library;
  library.name = name;
  library.source = rnnc::aot::source_description(options.source_description, forward);
  library.target_description =
      "target CPU " + (options.target_cpu.empty() ? std::string("host") : options.target_cpu);
  library.link_notes = {
      "Link lib" + name + ".a (then also -lopenblas -lm -lpthread) or lib" + name + ".so. Neither",
      "needs any part of rnnc at run time: only libc, libm, libpthread and OpenBLAS."};
  library.pipeline_level = options.pipeline_level;
  library.parameters = rnnc::aot::parameter_table(forward, train, library.parameter_bytes);
  std::string initial =
      rnnc::aot::initial_data(train ? *train : forward, library.parameters, initial_values);

  rnnc::aot::PlannedPrograms planned =
      rnnc::aot::plan_programs(forward, train, options.pipeline_level);
  std::vector<ir::Program>& programs = planned.programs;
  library.entries.push_back(rnnc::aot::describe_entry(
      forward, programs[0], library.parameters, "forward", "FORWARD", name + "_forward_program"));
  if (train)
    library.entries.push_back(rnnc::aot::describe_entry(
        *train, programs[1], library.parameters, "train_step", "TRAIN", name + "_train_program"));

  std::vector<aot::ObjectProgram> objects;
  for (size_t i = 0; i < programs.size(); ++i)
    objects.push_back({&programs[i], library.entries[i].symbol, &library.entries[i]});
  const std::string parallel_symbol = name + "_run_parallel";
  RenderOptions render;
  render.parallel_symbol = parallel_symbol;
  render.flush_denormals = options.flush_denormals;
  render.cache_parameter_packs = options.cache_parameter_packs;
  std::string object =
      aot::emit_object(objects, name + "_initial_parameters", initial, options.target_cpu, render);
  int next_code = aot::kFirstProgramError;
  for (Entry& entry : library.entries) {
    entry.first_error_code = next_code;
    next_code += static_cast<int>(entry.errors.size());
  }

  // The files, built in a temporary folder.
  rnnc::aot::TemporaryFolder temporary(target);
  const fs::path& folder = temporary.path();
  rnnc::aot::write_file(folder / (name + ".h"), rnnc::aot::render_header(library));
  rnnc::aot::write_file(folder / (name + "_runtime.c"), aot::render_runtime(library));
  rnnc::aot::write_file(folder / (name + "_parallel.c"),
                        aot::render_parallel_source(parallel_symbol));
  rnnc::aot::write_file(folder / (name + ".o"), object);
  rnnc::aot::run_tool(folder, {options.c_compiler, "-std=c99", "-O2", "-fPIC", "-c",
                               name + "_runtime.c", "-o", name + "_runtime.o"});
  rnnc::aot::run_tool(folder, {options.c_compiler, "-std=c11", "-O2", "-fPIC", "-pthread", "-c",
                               name + "_parallel.c", "-o", name + "_parallel.o"});
  rnnc::aot::run_tool(folder, {"ar", "rcs", "lib" + name + ".a", name + "_runtime.o",
                               name + "_parallel.o", name + ".o"});
  rnnc::aot::run_tool(folder, {options.c_compiler, "-shared", "-o", "lib" + name + ".so",
                               "-Wl,-soname,lib" + name + ".so", "-Wl,-z,defs", name + "_runtime.o",
                               name + "_parallel.o", name + ".o", "-lopenblas", "-lm", "-pthread"});
  fs::remove(folder / (name + "_runtime.o"));
  fs::remove(folder / (name + "_parallel.o"));

  AotResult result;
  const std::vector<std::string> files = {name + ".h", name + "_runtime.c", name + "_parallel.c",
                                          name + ".o", "lib" + name + ".a", "lib" + name + ".so"};
  result.files = rnnc::aot::install_files(folder, target, files);
  result.forward_arena_bytes = library.entries[0].arena_bytes;
  result.train_arena_bytes = train ? library.entries[1].arena_bytes : 0;
  result.parameter_bytes = library.parameter_bytes;
  return result;
}

}  // namespace rnnc::cpu
