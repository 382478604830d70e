#include "tools/rnnc/commands.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "codegen/backend.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "runtime/initializers.h"
#include "runtime/npy.h"
#include "tools/rnnc/arguments.h"

namespace rnnc::driver {
namespace {

const char* kRunHelp =
    "usage: rnnc run MODEL.rnn --input NAME=FILE.npy ... [--param NAME=FILE.npy ...]\n"
    "                [--seed N] [--backend NAME] [--save-params] --output-dir DIR\n"
    "\n"
    "Runs the model's graph once and writes each graph output to DIR/<output name>.npy.\n"
    "--backend chooses what runs it: 'interp' (the reference interpreter) or 'cpu' (compiled\n"
    "by LLVM for this machine, the default where this build has it).\n"
    "Parameters not given with --param are initialized as the model declares (init, seed),\n"
    "with --seed added to every seed. Updates (a training step) are applied and, with\n"
    "--save-params, every parameter is written to DIR/params/<name>.npy.\n";

/// Splits "NAME=FILE" binding arguments.
std::pair<std::string, std::string> split_binding(const std::string& text, const char* option) {
  size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == text.size())
    throw Error(std::string("--") + option + " expects NAME=FILE.npy, got '" + text + "'");
  return {text.substr(0, equals), text.substr(equals + 1)};
}

}  // namespace

bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

std::unique_ptr<ir::Graph> load_model(const Arguments& arguments, const std::string& help) {
  if (arguments.positional.size() != 1) throw Error("expected one model file\n\n" + help);
  auto graph = ir::parse_graph_file(arguments.positional[0]);
  ir::verify(*graph);
  return graph;
}

int run_command(int argc, char** argv) {
  if (wants_help(argc, argv)) return std::fputs(kRunHelp, stdout), 0;
  Arguments arguments = parse_arguments(
      argc, argv, 2, {"input", "param", "seed", "backend", "output-dir"}, {"save-params"});
  std::vector<std::string> backends = codegen::available_backends();
  bool has_cpu = std::find(backends.begin(), backends.end(), "cpu") != backends.end();
  std::string backend = arguments.get("backend", has_cpu ? "cpu" : "interp");
  if (!arguments.has("output-dir"))
    throw Error(std::string("--output-dir is required\n\n") + kRunHelp);
  auto graph = load_model(arguments, kRunHelp);

  Bindings inputs;
  for (const std::string& text : arguments.all("input")) {
    auto [name, path] = split_binding(text, "input");
    ir::Value* value = graph->find(name);
    if (!value || value->producer()->kind() != ir::OpKind::Input)
      throw Error("--input " + name + ": the model has no input named '" + name + "'");
    inputs[name] = read_npy(path);
  }
  uint64_t seed = 0;
  try {
    seed = std::stoull(arguments.get("seed", "0"));
  } catch (const std::exception&) {
    throw Error("--seed expects a non-negative integer, got '" + arguments.get("seed") + "'");
  }
  Bindings state = initialize_parameters(*graph, seed);
  for (const std::string& text : arguments.all("param")) {
    auto [name, path] = split_binding(text, "param");
    if (!state.count(name))
      throw Error("--param " + name + ": the model has no parameter named '" + name + "'");
    state[name] = read_npy(path);
  }

  Bindings outputs = codegen::compile(*graph, backend)->run(inputs, state);

  std::filesystem::path directory = arguments.get("output-dir");
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw Error("cannot create " + directory.string() + ": " + error.message());
  for (const auto& [name, tensor] : outputs)
    write_npy((directory / (name + ".npy")).string(), tensor);
  if (arguments.has("save-params")) {
    std::filesystem::create_directories(directory / "params", error);
    if (error)
      throw Error("cannot create " + (directory / "params").string() + ": " + error.message());
    for (const auto& [name, tensor] : state)
      write_npy((directory / "params" / (name + ".npy")).string(), tensor);
  }
  return 0;
}

}  // namespace rnnc::driver
