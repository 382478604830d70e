#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "codegen/backend.h"
#include "ir/graph.h"
#include "runtime/tensor.h"
#include "tools/rnnc/arguments.h"

namespace rnnc::driver {

/// `rnnc dump`: parses and verifies a model file, optionally optimizes it, and prints it as
/// text IR or Graphviz. Returns the exit status.
int dump_command(int argc, char** argv);
/// `rnnc run`: runs a model's graph once on .npy inputs and writes each output as .npy.
int run_command(int argc, char** argv);
/// `rnnc train` (tools/rnnc/train.cpp): runs a training-step graph over a dataset of .npy
/// columns for some epochs, with a progress display, a loss curve (CSV, SVG) and the final
/// parameters as .npy.
int train_command(int argc, char** argv);
/// `rnnc compile` (compile.cpp): a model compiled ahead of time into a C library.
int compile_command(int argc, char** argv);
/// `rnnc bench` (tools/rnnc/bench.cpp): compiles a model (timed) and times repeated runs.
int bench_command(int argc, char** argv);

/// True when a word after the command is --help or -h.
bool wants_help(int argc, char** argv);

/// A model file read to be run: its verified graph and the parameter values the file carries
/// (an ONNX model's initializers; none for text IR, whose parameters declare initializers).
struct ModelFile {
  std::unique_ptr<ir::Graph> graph;
  Bindings parameters;
};

/// True when `path` names an ONNX model (ends in .onnx); any other file is read as text IR.
bool is_onnx_path(const std::string& path);

/// Reads and verifies the model in `path`, text IR or ONNX. `onnx_input_shapes` gives the
/// shapes of ONNX inputs with symbolic dimensions (ignored for text IR).
ModelFile load_model_file(const std::string& path,
                          const std::map<std::string, ir::Shape>& onnx_input_shapes = {});

/// load_model_file for `rnnc run` and `rnnc bench`: an ONNX model's symbolic dimensions take
/// the shapes of the .npy files its --input NAME=FILE options give.
ModelFile load_model_for_inputs(const std::string& path, const Arguments& arguments);

/// Parses and verifies the one model file among `arguments.positional` (text IR or ONNX);
/// `help` follows the error when there is not exactly one.
std::unique_ptr<ir::Graph> load_model(const Arguments& arguments, const std::string& help);

/// The one positional argument, the model's path; `help` follows the error otherwise.
std::string model_path(const Arguments& arguments, const std::string& help);

/// Splits a "NAME=FILE" binding given to option `option`; throws naming the option otherwise.
std::pair<std::string, std::string> split_binding(const std::string& text, const char* option);

/// The backend --backend names, checked against those of this build; by default "cpu" where
/// this build has it, else "interp".
std::string chosen_backend(const Arguments& arguments);

/// The compile options of --keep-denormals (run, train, bench: IEEE denormals on the cpu
/// backend instead of flushing them to zero) and, where the command takes it, -O<level>.
codegen::CompileOptions compile_options(const Arguments& arguments);

/// The help lines of --keep-denormals, a string literal shared by the help of run, train and
/// bench.
#define RNNC_KEEP_DENORMALS_HELP                                                              \
  "  --keep-denormals     cpu: compute with IEEE denormal floats (default: flushed to zero\n" \
  "                       while compiled code runs; on Intel cores every operation on a\n"    \
  "                       denormal costs a microcode assist)\n"

/// Parses option `option`'s value as a non-negative integer (`fallback` when absent).
uint64_t unsigned_option(const Arguments& arguments, const char* option, uint64_t fallback);

/// Throws unless `tensor` has `declared`'s dtype and shape. `what` names the binding
/// ("--input x=FILE"); the message says "<kind> '<name>' is <given> but the graph declares
/// <declared>" and how to fix a float64 or integer mix-up.
void check_binding_type(const std::string& what, const char* kind, const ir::Value& declared,
                        const Tensor& tensor);

/// The .npy files of the --input NAME=FILE options, each checked against the graph input it
/// names (an unknown name, a name given twice, a wrong dtype or shape are errors naming the
/// input). int64 arrays arrive narrowed to i32 (runtime/npy.h).
Bindings read_inputs(const ir::Graph& graph, const Arguments& arguments);

/// The parameters to run `graph` with: each declared initializer (seeds offset by --seed),
/// then `file_parameters` (an ONNX model's initializers), then each --param NAME=FILE.npy
/// (checked against the parameter's declared type).
Bindings initial_state(const ir::Graph& graph, const Bindings& file_parameters,
                       const Arguments& arguments);

/// Creates folder `directory` (and its parents) and checks that files can be written in it;
/// throws naming `option` and the folder otherwise. Returns the folder.
std::filesystem::path prepare_output_directory(const std::string& directory, const char* option);

/// Writes each tensor of `tensors` as `directory`/<name>.npy.
void write_tensors(const std::filesystem::path& directory, const Bindings& tensors);

}  // namespace rnnc::driver
