// The rnnc side of the benchmarks: each model is built with the frontend (nn::Recurrent with
// CellKind::Lstm or CellKind::Gru: PyTorch's cells), compiled by codegen::compile for the
// chosen backend and timed like the anchors (bench/harness.h).
//
// Modes:
//   infer   x [T, B, E] -> the layer's outputs [T, B, H] and final states.
//   fwdbwd  the layer forward, then the gradients of x, every weight and every bias for an
//           upstream gradient dy [T, B, H] on all outputs (loss = sum(outputs * dy),
//           passes::append_gradients).
//   train   one training step (nn::make_training_step): an embedding of a 16000-word
//           vocabulary on token ids [T, B] (or, with --train-input dense, x [T, B, E]), the
//           layer, a linear head on h_T, cross entropy, backward, clipping by global norm at
//           5, AdaGrad (lr 0.01).
//
// Usage: rnnc_rnn [--config NAME:E:H:B:T]... [--cell lstm,gru] [--mode infer,fwdbwd,train]
//                 [--min-time S] [--threads LABEL] [--backend NAME] [--train-input embed|dense]
//                 [--classes C] [--vocab V] [--write-models DIR] [--weight-packs once|each-run]
// --write-models DIR also writes each timed graph as text IR to DIR/CELL_CONFIG_MODE.rnn, for
// `rnnc dump`, `rnnc bench` or `rnnc compile` of exactly what is timed.
// --weight-packs: whether inference packs the weights once and keeps the panels from call to
// call (once, the default: as a compiled library does, and as the oneDNN harness reorders its
// inference weights once) or on every call (each-run; CompileOptions::cache_parameter_packs).
// fwdbwd and train pack them on every call either way, as oneDNN's fwdbwd reorders them.
// --backend defaults to "cpu" when this build has it, else "interp" (with a warning: the
// interpreter is the oracle, not a fast backend; use it with tiny shapes only).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "bench/harness.h"
#include "bench/rnn_graphs.h"
#include "codegen/backend.h"
#include "ir/printer.h"
#include "runtime/initializers.h"

namespace {

using rnnc::Bindings;
using namespace rnnc::bench;

/// The harness's own options (after the shared ones).
struct RnncOptions {
  std::string backend;
  bool embedding = true;
  int64_t classes = 2;
  int64_t vocabulary = 16000;
  std::string models_folder;       ///< --write-models
  bool cache_weight_packs = true;  ///< --weight-packs once
};

RnncOptions parse_rnnc_options(const std::vector<std::string>& rest) {
  RnncOptions options;
  for (size_t i = 0; i < rest.size(); i += 2) {
    const std::string& flag = rest[i];
    if (i + 1 >= rest.size()) throw std::runtime_error("unknown option or missing value: " + flag);
    const std::string& value = rest[i + 1];
    if (flag == "--backend") {
      options.backend = value;
    } else if (flag == "--train-input") {
      if (value != "embed" && value != "dense")
        throw std::runtime_error("--train-input must be embed or dense, got '" + value + "'");
      options.embedding = value == "embed";
    } else if (flag == "--classes") {
      options.classes = parse_count(flag, value, 1);
    } else if (flag == "--vocab") {
      options.vocabulary = parse_count(flag, value, 1);
    } else if (flag == "--write-models") {
      options.models_folder = value;
    } else if (flag == "--weight-packs") {
      if (value != "once" && value != "each-run")
        throw std::runtime_error("--weight-packs must be once or each-run, got '" + value + "'");
      options.cache_weight_packs = value == "once";
    } else {
      throw std::runtime_error("unknown option '" + flag + "'");
    }
  }
  if (options.backend.empty()) {
    options.backend = rnnc::codegen::default_backend();
    if (options.backend != "cpu")
      std::fprintf(stderr,
                   "rnnc_rnn: no cpu backend in this build; timing the interpreter instead\n");
  }
  return options;
}

int run(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  const RnncOptions rnnc_options = parse_rnnc_options(options.rest);
  if (options.modes.empty()) options.modes = {"infer", "fwdbwd", "train"};
  for (const Config& config : options.configs) {
    for (const std::string& cell : options.cells) {
      for (const std::string& mode : options.modes) {
        RnnGraphOptions graph_options;
        graph_options.embedding = rnnc_options.embedding;
        graph_options.vocabulary = rnnc_options.vocabulary;
        graph_options.classes = rnnc_options.classes;
        std::unique_ptr<rnnc::ir::Graph> graph = rnn_graph(
            cell, {config.input, config.hidden, config.batch, config.steps}, mode, graph_options);
        if (!rnnc_options.models_folder.empty()) {
          const std::string path =
              rnnc_options.models_folder + "/" + cell + "_" + config.name + "_" + mode + ".rnn";
          std::ofstream file(path);
          file << rnnc::ir::print_graph(*graph);
          if (!file.flush()) throw std::runtime_error("cannot write " + path);
        }
        Bindings inputs;
        generate_inputs(*graph, 1, inputs);
        rnnc::codegen::CompileOptions compile_options;
        compile_options.cache_parameter_packs = rnnc_options.cache_weight_packs && mode == "infer";
        std::unique_ptr<rnnc::Executable> executable =
            rnnc::codegen::compile(*graph, rnnc_options.backend, compile_options);
        Bindings state = rnnc::initialize_parameters(*graph);
        // Outputs land in the same tensors every call, as the anchors reuse their memory.
        Bindings outputs;
        const Timing timing =
            time_calls([&] { executable->run_into(inputs, state, outputs); }, options.timing);
        print_result("rnnc-" + rnnc_options.backend, cell, config, mode, options.threads, timing);
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rnnc_rnn: %s\n", error.what());
  }
  return 1;
}
