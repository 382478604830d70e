// The structure of the Scan gradient (passes/autodiff/scan.cpp): the backward scan runs the
// other way, reads residuals instead of recomputing the forward body, carries only what it
// needs, and its size does not depend on the sequence length.
#include <gtest/gtest.h>

#include <map>

#include "ir/builder.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "tests/scan_autodiff_cells.h"

namespace rnnc {
namespace {

using namespace ir;
using namespace scan_test;
using passes::append_gradients;

/// Nodes of `graph` and of every body within, recursively.
size_t count_nodes(const Graph& graph) {
  size_t count = graph.nodes().size();
  for (const auto& node : graph.nodes())
    for (const auto& body : node->bodies()) count += count_nodes(*body);
  return count;
}

size_t count_kind(const Graph& graph, OpKind kind) { return graph.nodes_of(kind).size(); }

/// The forward and the backward scan of a graph with one recurrent layer after
/// append_gradients (the backward body's name ends in "_grad").
std::pair<Node*, Node*> forward_and_backward(const Graph& graph) {
  Node *forward = nullptr, *backward = nullptr;
  for (Node* scan : graph.nodes_of(OpKind::Scan)) {
    const std::string& name = scan->body().name();
    bool is_backward = name.size() > 5 && name.substr(name.size() - 5) == "_grad";
    (is_backward ? backward : forward) = scan;
  }
  return {forward, backward};
}

/// A cell's graph with its gradients appended: the loss reads outputs and final carries.
std::unique_ptr<Problem> differentiated(const Cell& cell, const Sizes& n, bool reverse,
                                        bool lengths, bool wrt_sequence = true) {
  auto p = std::make_unique<Problem>();
  Value* xs = p->wrt_input("xs", {n.steps, n.batch, n.input});
  if (!wrt_sequence) p->wrt.clear();
  Value* lengths_value = lengths ? p->lengths(test_lengths(n)) : nullptr;
  CellResults results = cell(*p, xs, n, reverse, lengths_value);
  Value* loss = loss_of(*p, results, Loss::Both);
  p->graph.add_output("loss", loss);
  std::vector<Value*> grads = append_gradients(p->graph, loss, p->wrt);
  for (size_t k = 0; k < grads.size(); ++k) p->graph.add_output("g" + std::to_string(k), grads[k]);
  verify(p->graph);
  return p;
}

TEST(ScanGradientStructure, BackwardScanRunsTheOtherWay) {
  for (bool reverse : {false, true})
    for (bool lengths : {false, true}) {
      auto p = differentiated(lstm, Sizes{}, reverse, lengths);
      auto [forward, backward] = forward_and_backward(p->graph);
      ASSERT_TRUE(forward && backward);
      EXPECT_EQ(count_kind(p->graph, OpKind::Scan), 2u);
      EXPECT_EQ(forward->attrs().get_int("reverse"), reverse ? 1 : 0);
      EXPECT_EQ(backward->attrs().get_int("reverse"), reverse ? 0 : 1);
      EXPECT_EQ(backward->attrs().get_int("has_lengths"), 0);
    }
}

// The backward body reads the forward values it needs from the stacks the forward scan
// made: it recomputes no nonlinearity and no forward product, only the products of the
// vector-Jacobian product (two per forward product when both operands need adjoints).
TEST(ScanGradientStructure, ResidualsAreReadNotRecomputed) {
  const std::vector<std::pair<std::string, Cell>> cells = {
      {"rnn", vanilla_rnn}, {"lstm", lstm}, {"gru", gru}};
  for (const auto& [name, cell] : cells)
    for (bool lengths : {false, true}) {
      SCOPED_TRACE(name + (lengths ? " with lengths" : ""));
      auto p = differentiated(cell, Sizes{}, false, lengths);
      auto [forward, backward] = forward_and_backward(p->graph);
      ASSERT_TRUE(forward && backward);
      const Graph& body = backward->body();
      EXPECT_EQ(count_kind(body, OpKind::Tanh), 0u);
      EXPECT_EQ(count_kind(body, OpKind::Sigmoid), 0u);
      EXPECT_EQ(count_kind(body, OpKind::MatMul), 2 * count_kind(forward->body(), OpKind::MatMul));
      // Some of the backward scan's sequences are stacks of the forward scan.
      size_t num_carry = backward->attrs().get_int("num_carry");
      size_t num_sequences = backward->attrs().get_int("num_sequences");
      size_t from_forward = 0;
      for (size_t i = num_carry; i < num_carry + num_sequences; ++i)
        from_forward += backward->operand(i)->producer() == forward;
      EXPECT_GE(from_forward, 1u);
    }
}

TEST(ScanGradientStructure, NoSequenceAdjointWhenOnlyWeightsAreTrained) {
  auto p = differentiated(vanilla_rnn, Sizes{}, false, true, /*wrt_sequence=*/false);
  auto [forward, backward] = forward_and_backward(p->graph);
  ASSERT_TRUE(forward && backward);
  // Carries: d h, and accumulators for w_x, w_h, b; no per-step output.
  EXPECT_EQ(backward->attrs().get_int("num_carry"), 4);
  EXPECT_EQ(backward->num_results(), 4u);
  EXPECT_EQ(count_kind(backward->body(), OpKind::MatMul), 3u);
}

TEST(ScanGradientStructure, NodeCountDoesNotDependOnSequenceLength) {
  for (const Cell& cell : {Cell(lstm), Cell(gru)})
    for (bool lengths : {false, true}) {
      auto short_one = differentiated(cell, Sizes{3, 3, 2, 3}, true, lengths);
      auto long_one = differentiated(cell, Sizes{20, 3, 2, 3}, true, lengths);
      EXPECT_EQ(count_nodes(short_one->graph), count_nodes(long_one->graph));
      EXPECT_EQ(count_kind(long_one->graph, OpKind::Scan), 2u);
    }
}

// Asking for the gradient with respect to a scan's own result, while the pass replaces that
// scan by one stacking residuals, gives the adjoint of that result (and keeps the graph valid).
TEST(ScanGradientStructure, GradientWithRespectToAScanResult) {
  Problem p;
  p.random = Random(24);
  Sizes n;
  Value* xs = p.wrt_input("xs", {n.steps, n.batch, n.input});
  CellResults results = vanilla_rnn(p, xs, n, false, nullptr);
  Value* h_final = results.finals[0];
  std::vector<double> weights = p.random.signed_values(n.batch * n.hidden);
  Value* w = p.graph.add_constant(h_final->type(), weights);
  Value* loss = build::add(build::reduce_sum(build::mul(build::tanh(h_final), w), {0, 1}),
                           p.weighted_sum(results.outputs));
  p.graph.add_output("h_final", h_final);
  std::vector<Value*> grads = append_gradients(p.graph, loss, {h_final, p.wrt[1]});
  EXPECT_EQ(grads[0]->name(), "grad_h_final");
  p.graph.add_output("grad_h", grads[0]);
  verify(p.graph);
  Bindings state = p.state;
  Bindings out = interp::run_graph(p.graph, p.inputs, state);
  for (int64_t i = 0; i < n.batch * n.hidden; ++i) {
    double t = std::tanh(out.at("h_final").get(i));
    EXPECT_NEAR(out.at("grad_h").get(i), weights[i] * (1 - t * t), 1e-12);
  }
}

// The rules build values of the graph's dtype: an f32 LSTM's gradients match the f64 one's.
TEST(ScanGradientStructure, Float32MatchesFloat64) {
  std::map<DType, std::vector<double>> gradients;
  for (DType dtype : {DType::f32, DType::f64}) {
    Graph graph;
    Random random(25);
    const int64_t steps = 4, batch = 2, hidden = 3;
    auto input = [&](const std::string& name, const Shape& shape) {
      return graph.add_input(name, {dtype, shape});
    };
    Value* xs = input("xs", {steps, batch, hidden});
    Value* h0 = input("h0", {batch, hidden});
    Value* w = input("w", {hidden, hidden});
    Value* lengths = graph.add_input("lengths", {DType::i32, {batch}});
    ScanBuilder scan(graph, "step");
    Value* h = scan.carry(h0, "h");
    Value* x = scan.sequence(xs, "x");
    Value* next = build::tanh(build::add(build::matmul(h, scan.invariant(w, "w")), x));
    scan.set_next(h, next);
    scan.add_output("y", build::sigmoid(next));
    scan.set_lengths(lengths);
    std::vector<Value*> results = scan.finish();
    Value* loss = build::reduce_sum(build::mul(results[1], results[1]), {0, 1, 2});
    std::vector<Value*> grads = append_gradients(graph, loss, {w, xs});
    graph.add_output("gw", grads[0]);
    graph.add_output("gx", grads[1]);
    Bindings inputs{
        {"xs", Tensor::from_doubles(dtype, {steps, batch, hidden},
                                    random.signed_values(steps * batch * hidden))},
        {"h0", Tensor::from_doubles(dtype, {batch, hidden}, random.signed_values(batch * hidden))},
        {"w", Tensor::from_doubles(dtype, {hidden, hidden}, random.signed_values(hidden * hidden))},
        {"lengths", Tensor::from_ints({batch}, {2, 4})}};
    Bindings state;
    Bindings out = interp::run_graph(graph, inputs, state);
    gradients[dtype] = out.at("gw").to_doubles();
    for (double g : out.at("gx").to_doubles()) gradients[dtype].push_back(g);
  }
  ASSERT_EQ(gradients[DType::f32].size(), gradients[DType::f64].size());
  for (size_t i = 0; i < gradients[DType::f64].size(); ++i)
    EXPECT_NEAR(gradients[DType::f32][i], gradients[DType::f64][i], 1e-5);
}

}  // namespace
}  // namespace rnnc

namespace rnnc {
namespace {

TEST(ScanGradientStructure, ResultPointersStayValidWhenTheForwardScanStacksResiduals) {
  using namespace ir;
  Graph graph;
  Value* xs = graph.add_input("xs", {DType::f64, {6, 2, 3}});
  Value* lengths = graph.add_input("lengths", {DType::i32, {2}});
  Value* w = graph.add_parameter("w", {DType::f64, {3, 3}}, "uniform:-0.5,0.5", 7);
  ScanBuilder scan(graph, "step");
  Value* h = scan.carry(build::full(graph, {DType::f64, {2, 3}}, 0.5), "h");
  Value* x = scan.sequence(xs, "x");
  Value* wi = scan.invariant(w, "w");
  Value* next = build::tanh(build::add(build::matmul(h, wi), x));
  scan.set_next(h, next);
  scan.add_output("y", next);
  scan.set_lengths(lengths);
  std::vector<Value*> results = scan.finish();
  Node* forward = results[0]->producer();
  Value* loss = build::reduce_sum(build::mul(results[1], results[1]), {0, 1, 2});
  passes::append_gradients(graph, loss, {w});
  // The forward scan now also stacks residuals, as the same node with the same results.
  EXPECT_GT(forward->num_results(), 2u);
  EXPECT_EQ(results[0]->producer(), forward);
  graph.add_output("h_final", results[0]);
  graph.add_output("ys", results[1]);
  verify(graph);
}

}  // namespace
}  // namespace rnnc
