#pragma once
#include <memory>

#include "ir/graph.h"
#include "tools/rnnc/arguments.h"

namespace rnnc::driver {

/// `rnnc dump`: parses and verifies a model file, optionally optimizes it, and prints it as
/// text IR or Graphviz. Returns the exit status.
int dump_command(int argc, char** argv);
/// `rnnc run`: runs a model's graph once on .npy inputs and writes each output as .npy.
int run_command(int argc, char** argv);

/// True when a word after the command is --help or -h.
bool wants_help(int argc, char** argv);
/// Parses and verifies the one model file among `arguments.positional`; `help` follows the
/// error when there is not exactly one.
std::unique_ptr<ir::Graph> load_model(const Arguments& arguments, const std::string& help);

}  // namespace rnnc::driver
