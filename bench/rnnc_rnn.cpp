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
//                 [--classes C] [--vocab V]
// --backend defaults to "cpu" when this build has it, else "interp" (with a warning: the
// interpreter is the oracle, not a fast backend; use it with tiny shapes only).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>

#include "bench/harness.h"
#include "codegen/backend.h"
#include "frontend/losses.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "passes/autodiff.h"
#include "runtime/initializers.h"

namespace {

namespace nn = rnnc::nn;
namespace build = rnnc::ir::build;
using rnnc::Bindings;
using rnnc::Tensor;
using rnnc::ir::DType;
using rnnc::ir::Value;
using namespace rnnc::bench;

/// The harness's own options (after the shared ones).
struct RnncOptions {
  std::string backend;
  bool embedding = true;
  int64_t classes = 2;
  int64_t vocabulary = 16000;
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

/// A model ready to run: its graph, the inputs of one call and the parameters.
struct Bench {
  std::unique_ptr<rnnc::ir::Graph> graph;
  Bindings inputs;
};

/// Declares float input `name` of `shape` and binds it to uniform(-1, 1) values.
Value* random_input(nn::Model& model, Bench& bench, const std::string& name,
                    const rnnc::ir::Shape& shape, std::mt19937_64& random) {
  Value* value = model.input(name, shape);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::vector<double> values(static_cast<size_t>(value->type().num_elements()));
  for (double& v : values) v = uniform(random);
  bench.inputs[name] = Tensor::from_doubles(DType::f32, shape, values);
  return value;
}

/// Declares i32 input `name` of `shape` and binds it to uniform integers in [0, bound).
Value* random_ids(nn::Model& model, Bench& bench, const std::string& name,
                  const rnnc::ir::Shape& shape, int64_t bound, std::mt19937_64& random) {
  Value* value = model.input(name, shape, DType::i32);
  std::uniform_int_distribution<int32_t> uniform(0, static_cast<int32_t>(bound - 1));
  std::vector<int32_t> values(static_cast<size_t>(value->type().num_elements()));
  for (int32_t& v : values) v = uniform(random);
  bench.inputs[name] = Tensor::from_ints(shape, values);
  return value;
}

Bench build_bench(const std::string& cell, const Config& c, const std::string& mode,
                  const RnncOptions& options) {
  std::mt19937_64 random(1);
  nn::Model model(DType::f32, 1);
  Bench bench;
  nn::RecurrentConfig config;
  config.cell = cell == "lstm" ? nn::CellKind::Lstm : nn::CellKind::Gru;
  config.input_size = c.input;
  config.hidden_size = c.hidden;
  if (mode == "infer") {
    nn::Recurrent rnn(model, "rnn", config);
    nn::RecurrentResult result =
        rnn(random_input(model, bench, "x", {c.steps, c.batch, c.input}, random));
    model.output("y", result.outputs);
    model.output("h_n", result.h_n);
    if (result.c_n) model.output("c_n", result.c_n);
  } else if (mode == "fwdbwd") {
    nn::Recurrent rnn(model, "rnn", config);
    Value* x = random_input(model, bench, "x", {c.steps, c.batch, c.input}, random);
    Value* y = rnn(x).outputs;
    Value* dy = random_input(model, bench, "dy", {c.steps, c.batch, c.hidden}, random);
    Value* loss = build::reduce_sum(build::mul(y, dy), {0, 1, 2});
    std::vector<Value*> wrt = {x};
    for (Value* parameter : rnn.parameters()) wrt.push_back(parameter);
    std::vector<Value*> grads = rnnc::passes::append_gradients(model.graph(), loss, wrt);
    model.output("y", y);
    for (size_t i = 0; i < wrt.size(); ++i) model.output("grad_" + wrt[i]->name(), grads[i]);
  } else if (mode == "train") {
    Value* x = nullptr;
    if (options.embedding) {
      nn::Embedding embedding(model, "embedding", options.vocabulary, c.input);
      x = embedding(
          random_ids(model, bench, "tokens", {c.steps, c.batch}, options.vocabulary, random));
    } else {
      x = random_input(model, bench, "x", {c.steps, c.batch, c.input}, random);
    }
    nn::Recurrent rnn(model, "rnn", config);
    Value* h_n = rnn(x).h_n;  // [1, B, H]
    nn::Linear head(model, "head", c.hidden, options.classes);
    Value* logits = head(build::reshape(h_n, {c.batch, c.hidden}));
    Value* labels = random_ids(model, bench, "labels", {c.batch}, options.classes, random);
    nn::TrainingConfig training;
    training.optimizer = nn::OptimizerConfig::defaults(nn::OptimizerKind::adagrad);
    training.clip_norm = 5.0;
    nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), training);
  } else {
    throw std::runtime_error("unknown mode '" + mode + "' (infer, fwdbwd, train)");
  }
  bench.graph = model.release_graph();
  return bench;
}

int run(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  const RnncOptions rnnc_options = parse_rnnc_options(options.rest);
  if (options.modes.empty()) options.modes = {"infer", "fwdbwd", "train"};
  for (const Config& config : options.configs) {
    for (const std::string& cell : options.cells) {
      for (const std::string& mode : options.modes) {
        Bench bench = build_bench(cell, config, mode, rnnc_options);
        std::unique_ptr<rnnc::Executable> executable =
            rnnc::codegen::compile(*bench.graph, rnnc_options.backend);
        Bindings state = rnnc::initialize_parameters(*bench.graph);
        const Timing timing =
            time_calls([&] { executable->run(bench.inputs, state); }, options.timing);
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
