// The pack cache (CompileOptions::cache_parameter_packs): a graph that packs its weights for
// its products but never writes them (inference, forward+backward) packs them on its first
// run and keeps the panels; a later run packs again only when a weight is bound to other
// memory or after Executable::parameters_changed(). A training step, which writes its weights,
// keeps nothing. Every run is checked against the interpreter.
#include <gtest/gtest.h>

#include <string>

#include "codegen/backend.h"
#include "codegen/interp/interpreter.h"
#include "frontend/training.h"
#include "tests/support/backend_cases.h"
#include "tests/support/compare.h"
#include "tests/support/recurrent_layers.h"

#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/cpu_backend.h"

namespace rnnc {
namespace {

using testlayers::LayerShape;
using testlayers::Problem;

/// 64 rows (8 steps of 8) make the input projection a packed top-level product; the
/// recurrent product packs its weight before each loop.
LayerShape layer_shape(bool gradients) {
  return {.steps = 8, .batch = 8, .input = 24, .hidden = 40, .h_n = true, .gradients = gradients};
}

std::unique_ptr<cpu::CpuExecutable> compile_cpu(const ir::Graph& graph, bool cache) {
  codegen::CompileOptions options;
  options.cache_parameter_packs = cache;
  return cpu::compile(graph, options);
}

void expect_matches(const Bindings& want, const Bindings& got, const std::string& what) {
  for (const auto& [output, tensor] : want)
    EXPECT_LE(max_relative_difference(got.at(output), tensor), 1e-10) << what << " " << output;
}

void expect_same(const Bindings& want, const Bindings& got, const std::string& what) {
  for (const auto& [output, tensor] : want)
    EXPECT_EQ(max_relative_difference(got.at(output), tensor), 0.0) << what << " " << output;
}

/// Multiplies every element of `tensor` by `factor`, in place.
void scale(Tensor& tensor, double factor) {
  for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, tensor.get(i) * factor);
}

TEST(CpuParameterPacks, CachedPacksMatchTheInterpreterRunAfterRun) {
  // Inference caches W_ih^T (the input projection's) and W_hh^T (the recurrent product's);
  // forward+backward also W_hh (the backward step's product by the weight itself).
  for (nn::CellKind cell : {nn::CellKind::Lstm, nn::CellKind::Gru})
    for (bool gradients : {false, true}) {
      const std::string what = std::string(cell == nn::CellKind::Lstm ? "LSTM" : "GRU") +
                               (gradients ? " forward+backward" : " inference");
      Problem p = testlayers::recurrent_layer(cell, layer_shape(gradients));
      const ir::Graph& graph = p.model->graph();
      auto executable = compile_cpu(graph, true);
      EXPECT_EQ(executable->cached_packs(), gradients ? 3 : 2) << what;
      EXPECT_EQ(compile_cpu(graph, false)->cached_packs(), 0) << what;
      Bindings interp_state = p.state;
      const Bindings want = interp::run_graph(graph, p.inputs, interp_state);
      for (int run = 0; run < 3; ++run)
        expect_matches(want, executable->run(p.inputs, p.state),
                       what + " run " + std::to_string(run));
    }
}

TEST(CpuParameterPacks, ChangedWeightsArePackedAgain) {
  Problem p = testlayers::recurrent_layer(nn::CellKind::Lstm, layer_shape(false));
  const ir::Graph& graph = p.model->graph();
  auto want_for = [&](const Bindings& state) {
    Bindings copy = state;
    return interp::run_graph(graph, p.inputs, copy);
  };
  auto cached = compile_cpu(graph, true);
  const Bindings first = cached->run(p.inputs, p.state);
  expect_matches(want_for(p.state), first, "first run");

  // Changed in place without a word: the run still multiplies by the packs of the old values
  // (which is why the caller must say so), to the bit.
  scale(p.state.at("rnn.weight_hh_l0"), 0.5);
  scale(p.state.at("rnn.weight_ih_l0"), -1.5);
  expect_same(first, cached->run(p.inputs, p.state), "in place, unannounced");
  cached->parameters_changed();
  expect_matches(want_for(p.state), cached->run(p.inputs, p.state), "after parameters_changed");

  // Weights bound to other memory are packed again, and so are the first ones afterwards.
  Bindings other = p.state;
  scale(other.at("rnn.weight_hh_l0"), 0.25);
  expect_matches(want_for(other), cached->run(p.inputs, other), "other memory");
  expect_matches(want_for(p.state), cached->run(p.inputs, p.state), "the first memory again");

  // Without the cache every run packs what it multiplies by.
  auto uncached = compile_cpu(graph, false);
  uncached->run(p.inputs, p.state);
  scale(p.state.at("rnn.weight_hh_l0"), 2.0);
  expect_matches(want_for(p.state), uncached->run(p.inputs, p.state), "uncached, in place");
}

TEST(CpuParameterPacks, NestedScansPackOnceForEveryOuterStep) {
  // The inner loop's weight is packed before the inner loop, inside the outer one: the first
  // outer step packs it, the others and the next run find it packed.
  auto graph = cases::nested_scans();
  Bindings state;
  Bindings inputs = cases::random_bindings(*graph, 13, state);
  auto executable = compile_cpu(*graph, true);
  EXPECT_EQ(executable->cached_packs(), 1);
  Bindings interp_state = state;
  const Bindings want = interp::run_graph(*graph, inputs, interp_state);
  for (int run = 0; run < 2; ++run)
    expect_matches(want, executable->run(inputs, state), "run " + std::to_string(run));
  scale(state.at("w"), -2.0);
  executable->parameters_changed();
  interp_state = state;
  expect_matches(interp::run_graph(*graph, inputs, interp_state), executable->run(inputs, state),
                 "after parameters_changed");
}

TEST(CpuParameterPacks, TrainingStepsKeepNothing) {
  // The optimizer writes every weight, so nothing is cached, and each step multiplies by the
  // weights the step before left.
  for (nn::CellKind cell : {nn::CellKind::Lstm, nn::CellKind::Gru}) {
    Problem p = testlayers::recurrent_layer(cell, layer_shape(false));
    ir::Graph& graph = p.model->graph();
    ir::Value* loss = testrand::weighted_sum(graph, graph.output("outputs"), 31);
    nn::TrainingConfig config;
    config.optimizer = nn::OptimizerConfig::defaults(nn::OptimizerKind::adagrad);
    nn::make_training_step(graph, loss, config);
    Bindings state = initialize_parameters(graph);
    Bindings interp_state = state;
    auto executable = compile_cpu(graph, true);
    EXPECT_EQ(executable->cached_packs(), 0);
    for (int step = 0; step < 3; ++step)
      expect_matches(interp::run_graph(graph, p.inputs, interp_state),
                     executable->run(p.inputs, state), "step " + std::to_string(step));
  }
}

}  // namespace
}  // namespace rnnc
#endif  // RNNC_HAVE_CPU
