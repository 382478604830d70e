// The default optimization pipeline (O1) on the lecture's recurrent cells: the structure
// issue 4 asks for, and unchanged numbers (interpreter before against after, f64).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "codegen/interp/constant_evaluator.h"
#include "codegen/interp/interpreter.h"
#include "frontend/losses.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "runtime/initializers.h"
#include "runtime/random.h"

namespace rnnc {
namespace {

using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr int64_t kSteps = 5, kBatch = 3, kInput = 4, kHidden = 6, kClasses = 2;

struct CellCase {
  std::string name;
  nn::CellKind cell;
  std::string gates;         ///< lecture LSTM variant, else empty
  int64_t matmuls_per_step;  ///< in the forward body after O1
  /// Elementwise kernels per backward step after O1. The lecture's GRU needs 3: its two
  /// dependent products per step (the candidate reads r * h) split the step's elementwise
  /// work into three stages, forward two.
  int64_t backward_kernels = 2;
};

std::vector<CellCase> cell_cases() {
  std::vector<CellCase> cases = {{"rnn", nn::CellKind::RnnTanh, "", 1},
                                 {"lstm", nn::CellKind::Lstm, "", 1, 2},
                                 {"gru", nn::CellKind::Gru, "", 1, 2},
                                 {"lecture_gru", nn::CellKind::LectureGru, "", 2, 3}};
  for (const char* gates : {"none", "input", "forget", "output", "input+output", "input+forget",
                            "forget+output", "all"}) {
    std::string name = std::string("lecture_lstm_") + gates;
    for (char& c : name)
      if (c == '+') c = '_';
    cases.push_back({name, nn::CellKind::LectureLstm, gates, 1});
  }
  return cases;
}

/// A sequence classifier: recurrent layer (with lengths) -> linear head on h_n -> CE; with
/// `train`, the whole AdaGrad training step with clipping.
std::unique_ptr<Graph> classifier(const CellCase& c, bool train) {
  nn::Model model(ir::DType::f64, 5, "classifier_" + c.name);
  Value* xs = model.input("xs", {kSteps, kBatch, kInput});
  Value* lengths = model.input("lengths", {kBatch}, ir::DType::i32);
  Value* labels = model.input("labels", {kBatch}, ir::DType::i32);
  nn::RecurrentConfig config;
  config.cell = c.cell;
  config.input_size = kInput;
  config.hidden_size = kHidden;
  if (!c.gates.empty()) {
    config.gates = nn::LstmGates::parse(c.gates);
    config.gates.peepholes = true;
  }
  nn::Recurrent rnn(model, "rnn", config);
  nn::RecurrentResult result = rnn(xs, lengths);
  Value* final_h = ir::build::reshape(result.h_n, {kBatch, kHidden});
  nn::Linear head(model, "head", kHidden, kClasses);
  Value* logits = head(final_h);
  Value* loss = nn::cross_entropy(logits, labels);
  model.output("logits", logits);
  if (train) {
    nn::TrainingConfig training;
    training.optimizer = nn::OptimizerConfig::parse("adagrad:lr=0.1");
    training.clip_norm = 5.0;
    nn::make_training_step(model.graph(), loss, training);
  } else {
    model.output("loss", loss);
  }
  return model.release_graph();
}

Bindings inputs_for() {
  Rng rng(11);
  std::vector<double> xs(kSteps * kBatch * kInput);
  for (double& v : xs) v = rng.uniform(-1, 1);
  return {{"xs", Tensor::from_doubles(ir::DType::f64, {kSteps, kBatch, kInput}, xs)},
          {"lengths", Tensor::from_ints({kBatch}, {kSteps, 2, 1})},
          {"labels", Tensor::from_ints({kBatch}, {0, 1, 1})}};
}

void optimize(Graph& graph) {
  interp::KernelConstantEvaluator evaluator;
  passes::PassContext context;
  context.evaluator = &evaluator;
  passes::PassManager manager(context);
  manager.add_pipeline(passes::default_pipeline("O1"));
  manager.run(graph);
}

int64_t count(const Graph& graph, OpKind kind) {
  return static_cast<int64_t>(graph.nodes_of(kind).size());
}

/// Every scan body of `graph` (not nested deeper).
std::vector<const Graph*> scan_bodies(const Graph& graph) {
  std::vector<const Graph*> bodies;
  for (const Node* scan : graph.nodes_of(OpKind::Scan)) bodies.push_back(&scan->body());
  return bodies;
}

/// True when `value` is a sequence slice of `scan` (a body input that is neither a carry nor
/// an invariant): a product reading it would be per-step input work left in the loop.
bool is_sequence_slice(const Value* value, const Node& scan) {
  int64_t num_carry = scan.attrs().get_int("num_carry");
  int64_t num_sequences = scan.attrs().get_int("num_sequences");
  std::vector<Node*> inputs = scan.body().nodes_of(OpKind::Input);
  for (int64_t i = num_carry; i < num_carry + num_sequences; ++i)
    if (inputs[i] == value->producer()) return true;
  return false;
}

/// Elementwise kernels a step runs: Fused nodes plus elementwise ops left on their own.
int64_t elementwise_kernels(const Graph& body) {
  int64_t kernels = 0;
  for (const auto& node : body.nodes())
    kernels += node->kind() == OpKind::Fused || node->info().has(ir::kElementwise);
  return kernels;
}

class PipelineOnCells : public ::testing::TestWithParam<CellCase> {};

TEST_P(PipelineOnCells, ForwardBodyHasOnlyTheRecurrentProductsAndOneFusedKernel) {
  auto graph = classifier(GetParam(), false);
  optimize(*graph);
  std::vector<Node*> scans = graph->nodes_of(OpKind::Scan);
  ASSERT_EQ(scans.size(), 1u);
  const Graph& body = scans[0]->body();
  EXPECT_EQ(count(body, OpKind::MatMul), GetParam().matmuls_per_step);
  for (const Node* matmul : body.nodes_of(OpKind::MatMul))
    for (const Value* operand : matmul->operands())
      EXPECT_FALSE(is_sequence_slice(operand, *scans[0])) << "a product reads x_t in the loop";
  for (const Value* operand : scans[0]->operands())
    EXPECT_NE(operand->name(), "xs") << "the raw input sequence is still read inside the loop";
  EXPECT_LE(elementwise_kernels(body), 2);
}

TEST_P(PipelineOnCells, TrainingStepBodiesHaveFewElementwiseKernelsPerStep) {
  auto graph = classifier(GetParam(), true);
  optimize(*graph);
  std::vector<const Graph*> bodies = scan_bodies(*graph);
  ASSERT_EQ(bodies.size(), 2u);  // forward, then the backward running the other way
  std::vector<Node*> scans = graph->nodes_of(OpKind::Scan);
  ASSERT_EQ(scans[0]->attrs().get_int("reverse"), 0);
  ASSERT_EQ(scans[1]->attrs().get_int("reverse"), 1);
  EXPECT_LE(elementwise_kernels(*bodies[0]), 2) << ir::print_graph(*bodies[0]);
  EXPECT_LE(elementwise_kernels(*bodies[1]), GetParam().backward_kernels)
      << ir::print_graph(*bodies[1]);
}

TEST_P(PipelineOnCells, NumbersAreUnchanged) {
  for (bool train : {false, true}) {
    auto reference = classifier(GetParam(), train);
    auto optimized = classifier(GetParam(), train);
    optimize(*optimized);
    Bindings state_a = initialize_parameters(*reference);
    Bindings state_b = state_a;
    Bindings out_a = interp::run_graph(*reference, inputs_for(), state_a);
    Bindings out_b = interp::run_graph(*optimized, inputs_for(), state_b);
    for (const auto& [name, tensor] : out_a)
      EXPECT_LE(max_relative_difference(out_b.at(name), tensor), 1e-9) << name;
    for (const auto& [name, tensor] : state_a)
      EXPECT_LE(max_relative_difference(state_b.at(name), tensor), 1e-9) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Cells, PipelineOnCells, ::testing::ValuesIn(cell_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace rnnc
