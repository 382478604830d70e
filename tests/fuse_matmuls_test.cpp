// fuse-matmuls (passes/fuse_matmuls.h): how many products remain (the lecture's cells, the
// PyTorch cells, cells built by hand, at the top level and in Scan bodies, forward and
// backward), what is left alone, and that no number changes: interpreter outputs, gradients
// and training-step updates before and after the pass in f64, plus random graphs
// (tests/support/random_graph.h). The result verifies, and a second run changes nothing.
#include "passes/fuse_matmuls.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "codegen/interp/interpreter.h"
#include "frontend/cells.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "runtime/initializers.h"
#include "tests/support/compare.h"
#include "tests/support/random_graph.h"

namespace rnnc {
namespace {

using testcmp::expect_close;
using testcmp::run_all;

using ir::DType;
using ir::Graph;
using ir::OpKind;
using ir::Value;
using nn::CellKind;
namespace build = ir::build;

// ---- Counting, running, comparing. ----

/// Matmuls of `graph` itself (not of its bodies).
int64_t matmuls(const Graph& graph) {
  return static_cast<int64_t>(graph.nodes_of(OpKind::MatMul).size());
}

/// The body of the `index`-th Scan of `graph`.
const Graph& scan_body(const Graph& graph, size_t index = 0) {
  return graph.nodes_of(OpKind::Scan).at(index)->body();
}

/// Runs the pass, checks that the result verifies and that a second run changes nothing.
bool fuse(Graph& graph) {
  passes::PassContext context;
  bool changed = passes::fuse_matmuls(graph, context);
  EXPECT_NO_THROW(ir::verify(graph));
  std::string once = ir::print_graph(graph);
  EXPECT_FALSE(passes::fuse_matmuls(graph, context)) << "not idempotent";
  EXPECT_EQ(once, ir::print_graph(graph));
  return changed;
}

/// Seeded random f64 values in [-1, 1] for every input and parameter of `graph`.
void random_bindings(const Graph& graph, uint64_t seed, Bindings& inputs, Bindings& state) {
  testgen::SplitMix rng(seed);
  for (const auto& node : graph.nodes()) {
    if (node->kind() != OpKind::Input && node->kind() != OpKind::Parameter) continue;
    const ir::TensorType& type = node->result()->type();
    std::vector<double> values(type.num_elements());
    for (double& v : values) v = rng.unit();
    (node->kind() == OpKind::Input ? inputs : state)[node->result()->name()] =
        Tensor::from_doubles(type.dtype, type.shape, values);
  }
}

/// Fuses `graph` and checks its outputs and updated state on the given data, 1e-12 relative.
void expect_same_numbers_after_fusing(Graph& graph, const Bindings& inputs, const Bindings& state) {
  Bindings before = run_all(graph, inputs, state);
  fuse(graph);
  expect_close(before, run_all(graph, inputs, state), 1e-12, graph.name() + ": ");
}

// ---- Models. ----

/// A recurrent stack over a [T, B, E] input, its outputs, and optionally the gradients of a
/// weighted sum of them with respect to every weight and the input.
struct RecurrentModel {
  std::unique_ptr<nn::Model> model = std::make_unique<nn::Model>(DType::f64, 5);
  Bindings inputs, state;
  Graph& graph() { return model->graph(); }
};

RecurrentModel recurrent_model(const nn::RecurrentConfig& config, bool gradients) {
  RecurrentModel m;
  const int64_t steps = 3, batch = 2;
  nn::Recurrent rnn(*m.model, "rnn", config);
  Value* xs = m.model->input("xs", {steps, batch, config.input_size});
  nn::RecurrentResult result = rnn(xs);
  m.model->output("ys", result.outputs);
  m.model->output("h_n", result.h_n);
  if (result.c_n) m.model->output("c_n", result.c_n);
  random_bindings(m.graph(), 3, m.inputs, m.state);
  if (gradients) {
    Graph& graph = m.graph();
    Value* weights = graph.add_constant(result.outputs->type(), {0.7});
    Value* loss = build::reduce_sum(build::mul(build::tanh(result.outputs), weights), {0, 1, 2});
    std::vector<Value*> wrt = m.model->weights();
    wrt.push_back(xs);
    std::vector<Value*> grads = passes::append_gradients(graph, loss, wrt);
    for (size_t i = 0; i < grads.size(); ++i)
      graph.add_output("grad" + std::to_string(i), grads[i]);
  }
  return m;
}

nn::RecurrentConfig config_of(CellKind cell, const std::string& gates = "all",
                              bool peepholes = false) {
  nn::RecurrentConfig config;
  config.cell = cell;
  config.input_size = 3;
  config.hidden_size = 4;
  config.gates = nn::LstmGates::parse(gates);
  config.gates.peepholes = peepholes;
  return config;
}

// ---- Structure: the cells' products. ----

TEST(FuseMatmuls, LectureLstmBodyGoesFromEightProductsToOnePerInput) {
  RecurrentModel m = recurrent_model(config_of(CellKind::LectureLstm, "all", true), false);
  ASSERT_EQ(matmuls(scan_body(m.graph())), 8);
  EXPECT_TRUE(fuse(m.graph()));
  const Graph& body = scan_body(m.graph());
  // x_t's products stay apart from h's: they do not depend on the carry, so they can be
  // hoisted out of the loop as one product over all steps.
  ASSERT_EQ(matmuls(body), 2);
  for (const ir::Node* product : body.nodes_of(OpKind::MatMul)) {
    const ir::Node& weights = *product->operand(1)->producer();
    ASSERT_EQ(weights.kind(), OpKind::Concat);
    EXPECT_EQ(weights.attrs().get_int("axis"), 0);  // transpose_b: N is axis 0 of [N, K]
    std::string order;
    for (const Value* w : weights.operands()) order += w->name().substr(0, 4) + " ";
    // The products' graph order: gates i, f, c, o.
    std::string input = product->operand(0)->name() == "x" ? "W_x" : "W_h";
    EXPECT_EQ(order, input + "i " + input + "f " + input + "c " + input + "o ");
  }
}

TEST(FuseMatmuls, PyTorchCellsKeepTheirTwoProductsLectureGruFusesToThree) {
  for (CellKind cell : {CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh}) {
    RecurrentModel m = recurrent_model(config_of(cell), false);
    ASSERT_EQ(matmuls(scan_body(m.graph())), 2);
    EXPECT_FALSE(fuse(m.graph()));
    EXPECT_EQ(matmuls(scan_body(m.graph())), 2);
  }
  RecurrentModel gru = recurrent_model(config_of(CellKind::LectureGru), false);
  ASSERT_EQ(matmuls(scan_body(gru.graph())), 6);
  EXPECT_TRUE(fuse(gru.graph()));
  // U_u x, U_r x, U_h x; W_u h, W_r h; W_h (r * h).
  EXPECT_EQ(matmuls(scan_body(gru.graph())), 3);
}

TEST(FuseMatmuls, LectureLstmBackwardBodyFuses) {
  RecurrentModel m = recurrent_model(config_of(CellKind::LectureLstm, "all", true), true);
  ASSERT_EQ(m.graph().nodes_of(OpKind::Scan).size(), 2u);
  const Graph& backward = scan_body(m.graph(), 1);
  // Per gate: g W_x, g W_h (input and state adjoints), g^T x, g^T h (weight adjoints).
  ASSERT_EQ(matmuls(backward), 16);
  Bindings before = run_all(m.graph(), m.inputs, m.state);
  EXPECT_TRUE(fuse(m.graph()));
  EXPECT_EQ(matmuls(scan_body(m.graph(), 0)), 2);
  // [g_i g_f g_c g_o] W_h and [g_i g_f g_c g_o]^T [x h], and [g_i g_f g_c g_o] W_x apart: the
  // input adjoint is read only as a per-step output (hoist-scan-invariants computes it after
  // the loop), so it does not join the product the loop needs.
  EXPECT_EQ(matmuls(scan_body(m.graph(), 1)), 3);
  expect_close(before, run_all(m.graph(), m.inputs, m.state), 1e-12);
}

/// A cell built by hand with ScanBuilder, weights [in, out] (no transposes): three gates,
/// each x W_g + h U_g.
Graph& hand_built_cell(Graph& graph) {
  const int64_t steps = 3, batch = 2, in = 3, hidden = 2;
  Value* xs = graph.add_input("xs", {DType::f64, {steps, batch, in}});
  Value* h0 = graph.add_input("h0", {DType::f64, {batch, hidden}});
  ir::ScanBuilder scan(graph, "my_cell");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  auto gate = [&](const std::string& name) {
    Value* w = scan.invariant(graph.add_parameter("W" + name, {DType::f64, {in, hidden}}, "zeros"),
                              "W" + name);
    Value* u = scan.invariant(
        graph.add_parameter("U" + name, {DType::f64, {hidden, hidden}}, "zeros"), "U" + name);
    Value* from_x = build::matmul(x, w);
    Value* from_h = build::matmul(h, u);
    return build::add(from_x, from_h);
  };
  Value* z = build::sigmoid(gate("z"));
  Value* r = build::sigmoid(gate("r"));
  Value* n = build::tanh(gate("n"));
  Value* next = build::add(build::mul(z, h),
                           build::mul(build::sub(build::full_like(z, 1), z), build::mul(r, n)));
  scan.set_next(h, next);
  scan.add_output("y", next);
  std::vector<Value*> results = scan.finish();
  graph.add_output("h_T", results[0]);
  graph.add_output("ys", results[1]);
  return graph;
}

TEST(FuseMatmuls, HandBuiltScanCell) {
  Graph graph("hand_built");
  hand_built_cell(graph);
  ASSERT_EQ(matmuls(scan_body(graph)), 6);
  Bindings inputs, state;
  random_bindings(graph, 11, inputs, state);
  expect_same_numbers_after_fusing(graph, inputs, state);
  EXPECT_EQ(matmuls(scan_body(graph)), 2);
}

TEST(FuseMatmuls, LectureLstmCellOutsideALoopBecomesOneProduct) {
  Graph graph("cell");
  const int64_t batch = 2, in = 3, hidden = 4;
  Value* x = graph.add_input("x", {DType::f64, {batch, in}});
  nn::cells::CellState state{graph.add_input("h", {DType::f64, {batch, hidden}}),
                             graph.add_input("c", {DType::f64, {batch, hidden}})};
  nn::RecurrentConfig config = config_of(CellKind::LectureLstm, "all", true);
  nn::cells::CellParameters params;
  for (const nn::cells::ParameterSpec& spec : nn::cells::parameter_specs(config, in))
    params[spec.short_name] =
        graph.add_parameter(spec.short_name, {DType::f64, spec.shape}, "zeros");
  nn::cells::CellState next = nn::cells::lecture_lstm_step(x, state, params, config.gates);
  graph.add_output("h_next", next.h);
  graph.add_output("c_next", next.c);
  ASSERT_EQ(matmuls(graph), 8);
  Bindings inputs, values;
  random_bindings(graph, 5, inputs, values);
  expect_same_numbers_after_fusing(graph, inputs, values);
  // Each gate's x W_x + h W_h becomes [x h] [W_x W_h]^T, and the four share [x h].
  EXPECT_EQ(matmuls(graph), 1);
}

TEST(FuseMatmuls, NestedScanBodies) {
  // An outer scan over [T1, T2, B, E] whose body runs an inner scan over [T2, B, E]; the inner
  // body has two products of its sequence slice and two of its carry.
  Graph graph("nested");
  Value* xss = graph.add_input("xss", {DType::f64, {2, 3, 2, 3}});
  Value* h0 = graph.add_input("h0", {DType::f64, {2, 2}});
  Value* w = graph.add_parameter("w", {DType::f64, {3, 2}}, "zeros");
  Value* u = graph.add_parameter("u", {DType::f64, {2, 2}}, "zeros");
  ir::ScanBuilder outer(graph, "outer");
  Value* h = outer.carry(h0, "h");
  Value* xs = outer.sequence(xss, "xs");
  Value* w_outer = outer.invariant(w, "w");
  Value* u_outer = outer.invariant(u, "u");
  ir::ScanBuilder inner(outer.body(), "inner");
  Value* g = inner.carry(h, "g");
  Value* x = inner.sequence(xs, "x");
  Value* w_inner = inner.invariant(w_outer, "w");
  Value* u_inner = inner.invariant(u_outer, "u");
  Value* a = build::tanh(build::add(build::matmul(x, w_inner), build::matmul(g, u_inner)));
  Value* b = build::sigmoid(
      build::add(build::matmul(x, build::neg(w_inner)), build::matmul(g, build::neg(u_inner))));
  Value* next = build::mul(a, b);
  inner.set_next(g, next);
  inner.add_output("y", next);
  std::vector<Value*> inner_results = inner.finish();
  outer.set_next(h, inner_results[0]);
  outer.add_output("ys", inner_results[1]);
  std::vector<Value*> results = outer.finish();
  graph.add_output("h_T", results[0]);
  graph.add_output("ys", results[1]);
  const Graph& inner_body = scan_body(scan_body(graph));
  ASSERT_EQ(matmuls(inner_body), 4);
  Bindings inputs, state;
  random_bindings(graph, 13, inputs, state);
  expect_same_numbers_after_fusing(graph, inputs, state);
  // x [w, -w] and g [u, -u].
  EXPECT_EQ(matmuls(scan_body(scan_body(graph))), 2);
}

// ---- Structure: the rewrites one by one, and what they leave alone. ----

/// A graph with f64 inputs (activations) and parameters (weights) of the given shapes.
struct Small {
  Graph graph{"small"};
  Value* input(const std::string& name, const ir::Shape& shape) {
    return graph.add_input(name, {DType::f64, shape});
  }
  Value* weight(const std::string& name, const ir::Shape& shape) {
    return graph.add_parameter(name, {DType::f64, shape}, "zeros");
  }
  /// Fuses and compares numbers; returns the matmuls left.
  int64_t fuse_and_count() {
    Bindings inputs, state;
    random_bindings(graph, 17, inputs, state);
    expect_same_numbers_after_fusing(graph, inputs, state);
    return matmuls(graph);
  }
};

TEST(FuseMatmuls, SharedLeftOperand) {
  Small s;
  Value* a = s.input("a", {2, 3});
  s.graph.add_output("p", build::matmul(a, s.input("b1", {3, 4})));
  s.graph.add_output("q", build::tanh(build::matmul(a, s.input("b2", {3, 2}))));
  s.graph.add_output("r", build::matmul(a, s.input("b3", {3, 4})));
  EXPECT_EQ(s.fuse_and_count(), 1);
}

TEST(FuseMatmuls, SharedRightOperandTransposedAndBatched) {
  Small s;
  Value* b = s.input("b", {2, 3, 4});
  s.graph.add_output("p", build::matmul(s.input("a1", {2, 3, 5}), b, true, false));
  s.graph.add_output("q", build::matmul(s.input("a2", {2, 3, 1}), b, true, false));
  EXPECT_EQ(s.fuse_and_count(), 1);
  const ir::Node& fused = *s.graph.nodes_of(OpKind::MatMul).at(0);
  EXPECT_EQ(fused.operand(0)->producer()->attrs().get_int("axis"), 2);  // M of [.., K, M]
}

TEST(FuseMatmuls, EqualProductsShareASlice) {
  Small s;
  Value* a = s.input("a", {2, 3});
  Value* w = s.weight("w", {3, 3});
  s.graph.add_output("p", build::matmul(a, w));
  s.graph.add_output("q", build::matmul(a, s.weight("v", {3, 2})));
  s.graph.add_output("r", build::matmul(a, w));
  EXPECT_EQ(s.fuse_and_count(), 1);
  EXPECT_EQ(s.graph.nodes_of(OpKind::Slice).size(), 2u);
  EXPECT_EQ(s.graph.output("p"), s.graph.output("r"));
}

TEST(FuseMatmuls, SumOfProductsKeepsOtherTerms) {
  Small s;
  Value* x = s.input("x", {2, 3});
  Value* h = s.input("h", {2, 4});
  Value* from_x = build::matmul(x, s.weight("W", {5, 3}), false, true);
  Value* bias = s.input("bias", {2, 5});
  Value* from_h = build::matmul(h, s.weight("U", {5, 4}), false, true);
  s.graph.add_output("y", build::add(build::add(from_x, bias), from_h));
  EXPECT_EQ(s.fuse_and_count(), 1);
  EXPECT_EQ(s.graph.nodes_of(OpKind::Add).size(), 1u);
}

TEST(FuseMatmuls, LeavesAloneWhatCannotOrShouldNotFuse) {
  Small s;
  Value* a = s.input("a", {3, 3});
  Value* b = s.input("b", {3, 3});
  // Different transpose flags on a shared operand.
  s.graph.add_output("flags1", build::matmul(a, s.weight("w1", {3, 2})));
  s.graph.add_output("flags2", build::matmul(a, s.weight("w2", {4, 3}), false, true));
  // The same value on different sides.
  s.graph.add_output("side", build::matmul(s.input("c", {2, 3}), a, false, true));
  // A product whose other operand depends on the first.
  Value* first = build::matmul(b, s.weight("w3", {3, 3}));
  s.graph.add_output("chain", build::matmul(b, build::tanh(first)));
  // A sum of products with different flags, and one of activations only.
  Value* d = s.input("d", {2, 3});
  s.graph.add_output("sum_flags",
                     build::add(build::matmul(d, s.weight("w4", {3, 2})),
                                build::matmul(d, s.weight("w5", {2, 3}), false, true)));
  s.graph.add_output("sum_runtime", build::add(build::matmul(s.input("e", {2, 3}), b),
                                               build::matmul(s.input("f", {2, 3}), a)));
  const int64_t before = matmuls(s.graph);
  std::string text = ir::print_graph(s.graph);
  EXPECT_FALSE(fuse(s.graph));
  EXPECT_EQ(matmuls(s.graph), before);
  EXPECT_EQ(ir::print_graph(s.graph), text);
}

TEST(FuseMatmuls, DependencesFromAnEarlierFusionAreRespected) {
  // Fusing r1, r2 (sharing a0) makes b1 = tanh(r1) depend on p2 through r2's operand; fusing
  // p1 = a b1 with p2 = a w2 afterwards would then make a cycle.
  Small s;
  Value* a0 = s.input("a0", {2, 2});
  Value* a = s.input("a", {2, 2});
  Value* r1 = build::matmul(a0, s.weight("w1", {2, 2}));
  Value* p1 = build::matmul(a, build::tanh(r1));
  Value* p2 = build::matmul(a, s.weight("w2", {2, 2}));
  Value* r2 = build::matmul(a0, build::tanh(p2));
  s.graph.add_output("p1", p1);
  s.graph.add_output("r2", r2);
  EXPECT_EQ(s.fuse_and_count(), 3);
}

// ---- Numbers: every recurrent cell with its gradients, and a training step. ----

TEST(FuseMatmuls, RecurrentOutputsAndGradientsUnchanged) {
  std::vector<nn::RecurrentConfig> configs;
  for (const std::string variant : {"none", "input", "forget", "output", "input+output",
                                    "input+forget", "forget+output", "all"})
    configs.push_back(config_of(CellKind::LectureLstm, variant, variant != "none"));
  configs.push_back(config_of(CellKind::LectureLstm, "all", false));
  for (CellKind cell : {CellKind::Gru, CellKind::LectureGru, CellKind::RnnTanh, CellKind::Lstm})
    configs.push_back(config_of(cell));
  nn::RecurrentConfig stacked = config_of(CellKind::LectureLstm);
  stacked.num_layers = 2;
  stacked.bidirectional = true;
  configs.push_back(stacked);
  for (const nn::RecurrentConfig& config : configs) {
    SCOPED_TRACE(static_cast<int>(config.cell));
    SCOPED_TRACE(config.gates.name());
    RecurrentModel m = recurrent_model(config, true);
    expect_same_numbers_after_fusing(m.graph(), m.inputs, m.state);
  }
}

/// A small sequence model's training step: lecture LSTM, linear readout, MSE, Adam.
std::unique_ptr<nn::Model> training_model() {
  auto model = std::make_unique<nn::Model>(DType::f64, 9, "train");
  nn::Recurrent rnn(*model, "rnn", config_of(CellKind::LectureLstm, "all", true));
  nn::Linear readout(*model, "readout", 4, 2);
  Value* xs = model->input("xs", {3, 2, 3});
  Value* targets = model->input("targets", {3, 2, 2});
  Value* loss = nn::mse(readout(rnn(xs).outputs), targets);
  nn::TrainingConfig config;
  config.optimizer = nn::OptimizerConfig::defaults(nn::OptimizerKind::adam);
  config.clip_norm = 1.0;
  nn::make_training_step(model->graph(), loss, config);
  return model;
}

TEST(FuseMatmuls, TrainingStepUnchangedAndDeterministic) {
  std::unique_ptr<nn::Model> model = training_model();
  Graph& graph = model->graph();
  Bindings inputs, state;
  random_bindings(graph, 21, inputs, state);
  int64_t before = 0;
  for (const ir::Node* scan : graph.nodes_of(OpKind::Scan)) before += matmuls(scan->body());
  expect_same_numbers_after_fusing(graph, inputs, state);
  int64_t after = 0;
  for (const ir::Node* scan : graph.nodes_of(OpKind::Scan)) after += matmuls(scan->body());
  // Forward: 4 gates x 2 inputs. Backward (no gradient of xs): per gate g W_h, g^T x, g^T h.
  EXPECT_EQ(before, 8 + 12);
  EXPECT_EQ(after, 2 + 2);
  // The same model built again fuses to the same text.
  std::unique_ptr<nn::Model> again = training_model();
  passes::fuse_matmuls(again->graph(), {});
  EXPECT_EQ(ir::print_graph(again->graph()), ir::print_graph(graph));
}

// ---- Random graphs. ----

TEST(FuseMatmuls, RandomGraphsKeepTheirNumbers) {
  int fused = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    testgen::RandomGraph random = testgen::make_random_graph(seed);
    Graph& graph = *random.graph;
    Bindings before = run_all(graph, random.inputs, random.state);
    fused += fuse(graph);
    expect_close(before, run_all(graph, random.inputs, random.state), 1e-12,
                 "seed " + std::to_string(seed) + ": ");
    if (HasFailure()) break;
  }
  EXPECT_GT(fused, 10);
}

}  // namespace
}  // namespace rnnc
