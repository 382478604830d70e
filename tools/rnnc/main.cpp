// rnnc: the command-line driver.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "ir/error.h"
#include "tools/rnnc/commands.h"

namespace {

const char* kUsage =
    "usage: rnnc <command> [options]\n"
    "\n"
    "commands:\n"
    "  dump   parse, verify, optionally optimize and print a model (text IR or Graphviz)\n"
    "  run    run a model (text IR or ONNX) once on .npy inputs; outputs as .npy\n"
    "  compile  compile a model ahead of time into a C library (header, .o, .a, .so)\n"
    "  train  train a model's training-step graph on .npy data (progress, loss curve)\n"
    "  bench  time a model's compilation and its runs\n"
    "\n"
    "'rnnc <command> --help' describes each command.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  try {
    if (command == "dump") return rnnc::driver::dump_command(argc, argv);
    if (command == "run") return rnnc::driver::run_command(argc, argv);
    if (command == "compile") return rnnc::driver::compile_command(argc, argv);
    if (command == "train") return rnnc::driver::train_command(argc, argv);
    if (command == "bench") return rnnc::driver::bench_command(argc, argv);
    std::fprintf(stderr, "rnnc: error: unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return 2;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "rnnc: error: %s\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rnnc: internal error: %s\n", error.what());
    return 3;
  }
}
