// `rnnc run`, and what the commands that run models share: loading a model (text IR or
// ONNX), reading and checking .npy bindings, initial parameters, output folders.
#include "tools/rnnc/commands.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>

#include "codegen/backend.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "runtime/initializers.h"
#include "runtime/npy.h"
#include "tools/rnnc/arguments.h"

#ifdef RNNC_HAVE_ONNX
#include "frontend/onnx/onnx_import.h"
#endif

namespace rnnc::driver {
namespace {

const char* kRunHelp =
    "usage: rnnc run MODEL --input NAME=FILE.npy ... [--param NAME=FILE.npy ...]\n"
    "                [--seed N] [--backend NAME] [--keep-denormals] [--save-params]\n"
    "                --output-dir DIR\n"
    "\n"
    "Runs the model's graph once and writes each graph output to DIR/<output name>.npy.\n"
    "MODEL is text IR (.rnn) or ONNX (.onnx); an ONNX model's initializers are its\n"
    "parameters' values, and the shapes of the .npy inputs fix any symbolic dimensions.\n"
    "--backend chooses what runs it: 'interp' (the reference interpreter) or 'cpu' (compiled\n"
    "by LLVM for this machine, the default where this build has it).\n"
    "Each --input must match its graph input's dtype and shape; int64 arrays are narrowed to\n"
    "i32 (a value out of the i32 range is an error), float64 arrays are not converted.\n"
    "Parameters not given with --param are initialized as the model declares (init, seed),\n"
    "with --seed added to every seed. Updates (a training step) are applied and, with\n"
    "--save-params, every parameter is written to DIR/params/<name>.npy.\n"
    "\n" RNNC_KEEP_DENORMALS_HELP;

/// Value `name` of `graph` when a node of `kind` (an input, a parameter) produces it.
const ir::Value* find_of_kind(const ir::Graph& graph, const std::string& name, ir::OpKind kind) {
  ir::Value* value = graph.find(name);
  if (!value || value->producer()->kind() != kind) return nullptr;
  return value;
}

}  // namespace

bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

bool is_onnx_path(const std::string& path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

ModelFile load_model_file(const std::string& path,
                          const std::map<std::string, ir::Shape>& onnx_input_shapes) {
  ModelFile model;
  if (is_onnx_path(path)) {
#ifdef RNNC_HAVE_ONNX
    OnnxImportOptions options;
    options.input_shapes = onnx_input_shapes;
    OnnxModel imported = import_onnx_file(path, options);
    model.graph = std::move(imported.graph);
    model.parameters = std::move(imported.parameters);
#else
    (void)onnx_input_shapes;
    throw Error(path +
                ": this build of rnnc reads no ONNX (it was built without ONNX and "
                "protobuf)");
#endif
  } else {
    model.graph = ir::parse_graph_file(path);
  }
  ir::verify(*model.graph);
  return model;
}

std::string model_path(const Arguments& arguments, const std::string& help) {
  if (arguments.positional.size() != 1) throw Error("expected one model file\n\n" + help);
  return arguments.positional[0];
}

std::unique_ptr<ir::Graph> load_model(const Arguments& arguments, const std::string& help) {
  return load_model_file(model_path(arguments, help)).graph;
}

std::pair<std::string, std::string> split_binding(const std::string& text, const char* option) {
  size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == text.size())
    throw Error(std::string("--") + option + " expects NAME=FILE.npy, got '" + text + "'");
  return {text.substr(0, equals), text.substr(equals + 1)};
}

std::string chosen_backend(const Arguments& arguments) {
  // codegen::compile names the available backends when the choice is not one of them.
  return arguments.get("backend", codegen::default_backend());
}

codegen::CompileOptions compile_options(const Arguments& arguments) {
  codegen::CompileOptions options;
  if (arguments.has("O")) options.pipeline_level = "O" + arguments.get("O");
  options.flush_denormals = !arguments.has("keep-denormals");
  return options;
}

uint64_t unsigned_option(const Arguments& arguments, const char* option, uint64_t fallback) {
  if (!arguments.has(option)) return fallback;
  std::string text = arguments.get(option);
  size_t used = 0;
  uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || text[0] == '-')
    throw Error(std::string("--") + option + " expects a non-negative integer, got '" + text + "'");
  return value;
}

void check_binding_type(const std::string& what, const char* kind, const ir::Value& declared,
                        const Tensor& tensor) {
  if (tensor.type() == declared.type()) return;
  std::string message = what + ": " + kind + " '" + declared.name() + "' is " +
                        tensor.type().to_string() + " but the graph declares " +
                        declared.type().to_string();
  if (tensor.dtype() != declared.dtype()) {
    if (declared.dtype() == DType::f32)
      message += " (save the array as float32: arr.astype(np.float32))";
    else if (declared.dtype() == DType::i32)
      message += " (save the array as integers: arr.astype(np.int32) or np.int64)";
    else
      message += " (save the array as float64: arr.astype(np.float64))";
  }
  throw Error(message);
}

ModelFile load_model_for_inputs(const std::string& path, const Arguments& arguments) {
  std::map<std::string, ir::Shape> input_shapes;
  if (is_onnx_path(path))
    for (const std::string& text : arguments.all("input")) {
      auto [name, file] = split_binding(text, "input");
      input_shapes[name] = read_npy(file).shape();
    }
  return load_model_file(path, input_shapes);
}

Bindings read_inputs(const ir::Graph& graph, const Arguments& arguments) {
  Bindings inputs;
  for (const std::string& text : arguments.all("input")) {
    auto [name, path] = split_binding(text, "input");
    const ir::Value* value = find_of_kind(graph, name, ir::OpKind::Input);
    if (!value) {
      std::string known;
      for (const ir::Node* node : graph.nodes_of(ir::OpKind::Input))
        known += (known.empty() ? "" : ", ") + node->result()->name();
      throw Error("--input " + name + ": the model has no input named '" + name +
                  "' (its inputs: " + (known.empty() ? "none" : known) + ")");
    }
    if (inputs.count(name)) throw Error("--input " + name + " is given twice");
    Tensor tensor = read_npy(path);
    check_binding_type("--input " + text, "input", *value, tensor);
    inputs[name] = std::move(tensor);
  }
  return inputs;
}

Bindings initial_state(const ir::Graph& graph, const Bindings& file_parameters,
                       const Arguments& arguments) {
  Bindings state = initialize_parameters(graph, unsigned_option(arguments, "seed", 0));
  for (const auto& [name, tensor] : file_parameters) state[name] = tensor;
  std::set<std::string> given;
  for (const std::string& text : arguments.all("param")) {
    auto [name, path] = split_binding(text, "param");
    const ir::Value* value = find_of_kind(graph, name, ir::OpKind::Parameter);
    if (!value)
      throw Error("--param " + name + ": the model has no parameter named '" + name + "'");
    if (!given.insert(name).second) throw Error("--param " + name + " is given twice");
    Tensor tensor = read_npy(path);
    check_binding_type("--param " + text, "parameter", *value, tensor);
    state[name] = std::move(tensor);
  }
  return state;
}

std::filesystem::path prepare_output_directory(const std::string& directory, const char* option) {
  std::filesystem::path path = directory;
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error)
    throw Error(std::string("--") + option + ": cannot create folder " + directory + ": " +
                error.message());
  if (!std::filesystem::is_directory(path, error))
    throw Error(std::string("--") + option + ": " + directory + " is not a folder");
  // Writing a probe file is the only reliable test (permissions, read-only file systems).
  std::filesystem::path probe = path / ".rnnc-write-test";
  bool writable = static_cast<bool>(std::ofstream(probe));
  std::filesystem::remove(probe, error);
  if (!writable)
    throw Error(std::string("--") + option + ": cannot write files in folder " + directory);
  return path;
}

void write_tensors(const std::filesystem::path& directory, const Bindings& tensors) {
  for (const auto& [name, tensor] : tensors)
    write_npy((directory / (name + ".npy")).string(), tensor);
}

int run_command(int argc, char** argv) {
  if (wants_help(argc, argv)) return std::fputs(kRunHelp, stdout), 0;
  Arguments arguments =
      parse_arguments(argc, argv, 2, {"input", "param", "seed", "backend", "output-dir"},
                      {"save-params", "keep-denormals"});
  std::string backend = chosen_backend(arguments);
  if (!arguments.has("output-dir"))
    throw Error(std::string("--output-dir is required\n\n") + kRunHelp);
  std::string path = model_path(arguments, kRunHelp);

  ModelFile model = load_model_for_inputs(path, arguments);
  Bindings inputs = read_inputs(*model.graph, arguments);
  Bindings state = initial_state(*model.graph, model.parameters, arguments);
  std::filesystem::path directory =
      prepare_output_directory(arguments.get("output-dir"), "output-dir");
  std::filesystem::path params_directory;
  if (arguments.has("save-params"))
    params_directory = prepare_output_directory((directory / "params").string(), "save-params");

  Bindings outputs =
      codegen::compile(*model.graph, backend, compile_options(arguments))->run(inputs, state);

  write_tensors(directory, outputs);
  if (arguments.has("save-params")) write_tensors(params_directory, state);
  return 0;
}

}  // namespace rnnc::driver
