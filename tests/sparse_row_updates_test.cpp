// sparse-row-updates (passes/sparse_row_updates.h): which optimizer steps on an embedding's
// gradient become row-sparse (SGD and AdaGrad, with and without clipping) and which stay
// dense (momentum, RMSprop, Adam, weight decay, a gradient read elsewhere, batches as large as
// half the table); the structure after it (no table-sized work left but the in-place row
// writes); unchanged numbers over several steps with repeated tokens, on the interpreter in
// f64 and on every available backend.
#include "passes/sparse_row_updates.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "codegen/interp/interpreter.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/dce.h"
#include "passes/plan_memory.h"
#include "runtime/initializers.h"
#include "tests/support/compare.h"

namespace rnnc {
namespace {

using ir::DType;
using ir::Graph;
using ir::OpKind;
using ir::Value;
using nn::OptimizerConfig;
using nn::OptimizerKind;
namespace build = ir::build;

constexpr int64_t kVocabulary = 40;

/// Token batches [4, 2] with repeated tokens (three times in the first), rows never used.
const std::vector<std::vector<int32_t>> kBatches = {
    {3, 17, 3, 5, 3, 39, 0, 17}, {21, 21, 8, 5, 30, 2, 2, 2}, {3, 4, 5, 6, 7, 8, 9, 10}};

struct Case {
  std::string name;
  OptimizerKind kind;
  bool clip = false;
  double momentum = 0, weight_decay = 0;
  bool sparse = true;  ///< the pass applies
};

/// A training step of an embedding (f64, kVocabulary x 3 unless `vocabulary`), a tanh and a
/// trained head, with the optimizer of `c`.
std::unique_ptr<Graph> embedding_step(const Case& c, int64_t vocabulary = kVocabulary,
                                      bool gradient_output = false) {
  auto graph = std::make_unique<Graph>("embedding_step");
  Value* table = graph->add_parameter("embedding", {DType::f64, {vocabulary, 3}}, "normal:0,1", 7);
  Value* head = graph->add_parameter("head", {DType::f64, {3}}, "normal:0,1", 8);
  Value* tokens = graph->add_input("tokens", {DType::i32, {4, 2}});
  Value* scores =
      build::mul(build::tanh(build::gather(table, tokens)), build::broadcast(head, {4, 2, 3}));
  Value* loss = build::add(build::reduce_sum(build::mul(scores, scores), {0, 1, 2}),
                           build::reduce_sum(scores, {0, 1, 2}));
  nn::TrainingConfig config;
  config.optimizer = OptimizerConfig::defaults(c.kind);
  config.optimizer.lr = 0.1;
  config.optimizer.momentum = c.momentum;
  config.optimizer.weight_decay = c.weight_decay;
  if (c.clip) config.clip_norm = 0.5;  // small enough to clip
  nn::TrainingStep step = nn::make_training_step(*graph, loss, config);
  if (gradient_output) graph->add_output("gradient", step.grads.at(0));
  return graph;
}

std::unique_ptr<Graph> copy_of(const Graph& graph) {
  return ir::parse_graph(ir::print_graph(graph), graph.name());
}

/// Runs the pass (and dce), checks that the result verifies and that a second run changes
/// nothing; returns whether it changed the graph.
bool sparsify(Graph& graph) {
  passes::PassContext context;
  bool changed = passes::sparse_row_updates(graph, context);
  passes::eliminate_dead_code(graph, context);
  EXPECT_NO_THROW(ir::verify(graph));
  EXPECT_FALSE(passes::sparse_row_updates(graph, context)) << "not idempotent";
  return changed;
}

Bindings tokens(size_t batch) {
  return {{"tokens", Tensor::from_ints({4, 2}, kBatches.at(batch))}};
}

/// Three steps of `dense` and `sparse` from the same state: every output and the state after
/// each step agree within `tolerance`.
void expect_same_steps(const Graph& dense, const Graph& sparse, double tolerance) {
  Bindings dense_state = initialize_parameters(dense);
  Bindings sparse_state = dense_state;
  for (size_t batch = 0; batch < kBatches.size(); ++batch) {
    std::string context = "step " + std::to_string(batch) + ": ";
    testcmp::expect_close(interp::run_graph(dense, tokens(batch), dense_state),
                          interp::run_graph(sparse, tokens(batch), sparse_state), tolerance,
                          context);
    testcmp::expect_close(dense_state, sparse_state, tolerance, context + "state ");
  }
}

/// Nodes of `graph` (not sources) whose result has the embedding's shape.
std::vector<OpKind> table_sized_steps(const Graph& graph) {
  std::vector<OpKind> kinds;
  for (const auto& node : graph.nodes())
    if (!ir::op_info(node->kind()).has(ir::kSource) && node->num_results() == 1 &&
        node->result()->shape() == ir::Shape{kVocabulary, 3})
      kinds.push_back(node->kind());
  return kinds;
}

class Optimizers : public ::testing::TestWithParam<Case> {};

TEST_P(Optimizers, SparseWhereRowsWithoutGradientStayAndNumbersAreUnchanged) {
  const Case& c = GetParam();
  auto dense = embedding_step(c);
  auto sparse = copy_of(*dense);
  EXPECT_EQ(sparsify(*sparse), c.sparse);
  std::vector<OpKind> big = table_sized_steps(*sparse);
  if (c.sparse) {
    EXPECT_EQ(sparse->nodes_of(OpKind::CoalesceRows).size(), 1u);
    EXPECT_TRUE(sparse->nodes_of(OpKind::ScatterAdd).empty());
    // Left at the table's size: the row writes into the embedding and its state only.
    for (OpKind kind : big) EXPECT_EQ(kind, OpKind::ScatterRows);
    EXPECT_EQ(big.size(), c.kind == OptimizerKind::adagrad ? 2u : 1u);
    for (const ir::GraphUpdate& update : sparse->updates()) {
      if (update.parameter->shape() != ir::Shape{kVocabulary, 3}) continue;
      EXPECT_EQ(update.new_value->producer()->kind(), OpKind::ScatterRows);
    }
  } else {
    EXPECT_EQ(ir::print_graph(*sparse), ir::print_graph(*copy_of(*dense)));
  }
  expect_same_steps(*dense, *sparse, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(
    SparseRowUpdates, Optimizers,
    ::testing::Values(Case{"sgd", OptimizerKind::sgd},
                      Case{"sgd_clipped", OptimizerKind::sgd, true},
                      Case{"adagrad", OptimizerKind::adagrad},
                      Case{"adagrad_clipped", OptimizerKind::adagrad, true},
                      Case{"sgd_momentum", OptimizerKind::sgd, false, 0.9, 0, false},
                      Case{"sgd_weight_decay", OptimizerKind::sgd, false, 0, 0.01, false},
                      Case{"adagrad_weight_decay", OptimizerKind::adagrad, true, 0, 0.01, false},
                      Case{"rmsprop", OptimizerKind::rmsprop, false, 0, 0, false},
                      Case{"adam", OptimizerKind::adam, true, 0, 0, false}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(SparseRowUpdates, LeavesAGradientReadElsewhereOrABatchAsLargeAsHalfTheTable) {
  Case adagrad{"adagrad", OptimizerKind::adagrad, true};
  auto read_elsewhere = embedding_step(adagrad, kVocabulary, true);
  EXPECT_FALSE(sparsify(*read_elsewhere));
  auto small_table = embedding_step(adagrad, 15);  // 8 tokens > 15 / 2
  EXPECT_FALSE(sparsify(*small_table));
  auto just_enough = embedding_step(adagrad, 16);
  EXPECT_TRUE(sparsify(*just_enough));
}

TEST(SparseRowUpdates, TheRowWritesAreDoneInPlace) {
  auto graph = embedding_step({"adagrad", OptimizerKind::adagrad, true});
  ASSERT_TRUE(sparsify(*graph));
  ir::Program program = passes::plan_memory(*graph);
  int writes = 0;
  for (const ir::Step& step : program.steps) {
    if (step.kind != ir::StepKind::scatter_rows) continue;
    ++writes;
    EXPECT_EQ(step.results.at(0), step.operands.at(0)) << ir::print_program(program);
    EXPECT_NE(program.buffers.at(step.results.at(0)).role, ir::BufferRole::scratch);
  }
  EXPECT_EQ(writes, 2);
}

TEST(SparseRowUpdates, EveryBackendMatchesTheDenseStepOnTheInterpreter) {
  for (const Case& c :
       {Case{"sgd", OptimizerKind::sgd, true}, Case{"adagrad", OptimizerKind::adagrad, true}}) {
    auto graph = embedding_step(c);
    for (const std::string& backend : codegen::available_backends()) {
      SCOPED_TRACE(backend + " " + c.name);
      auto executable = codegen::compile(*graph, backend);  // the default pipeline has the pass
      Bindings want_state = initialize_parameters(*graph);
      Bindings got_state = want_state;
      for (size_t batch = 0; batch < kBatches.size(); ++batch) {
        testcmp::expect_close(interp::run_graph(*graph, tokens(batch), want_state),
                              executable->run(tokens(batch), got_state), 1e-9);
        testcmp::expect_close(want_state, got_state, 1e-9, "state ");
      }
    }
  }
}

}  // namespace
}  // namespace rnnc
