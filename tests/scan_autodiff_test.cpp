// The gradient of Scan (passes/autodiff/scan.cpp): backpropagation through time against
// central finite differences of the interpreter in float64, for hand-built cells in both
// directions, with and without lengths, and for composed models (bidirectional, stacked,
// nested scans). scan_autodiff_structure_test.cpp checks the shape of the backward scan.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "codegen/interp/interpreter.h"
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

/// Central finite differences of the loss for every element of every wrt value, computed
/// before the backward pass is appended; then the symbolic gradients (after ir::verify of
/// the whole graph), which must agree within `tolerance` * max(1, |g|).
/// Entries named in `zero_gradients` must get exactly zero; every other gradient must be
/// non-zero somewhere (else the check would check nothing).
void expect_gradients_match_finite_differences(Problem& p, Value* loss,
                                               const std::set<std::string>& zero_gradients = {},
                                               double tolerance = 1e-7) {
  p.graph.add_output("loss", loss);
  const double eps = 1e-6;
  const double loss_before = p.loss_at(p.inputs, p.state);
  std::vector<std::vector<double>> numeric;
  for (Value* value : p.wrt) {
    bool is_input = value->producer()->kind() == OpKind::Input;
    std::vector<double> slopes(value->type().num_elements());
    for (int64_t i = 0; i < value->type().num_elements(); ++i) {
      double losses[2];
      for (int side = 0; side < 2; ++side) {
        Bindings inputs = p.inputs, state = p.state;
        Tensor& tensor = is_input ? inputs.at(value->name()) : state.at(value->name());
        tensor.set(i, tensor.get(i) + (side == 0 ? eps : -eps));
        losses[side] = p.loss_at(inputs, state);
      }
      slopes[i] = (losses[0] - losses[1]) / (2 * eps);
    }
    numeric.push_back(slopes);
  }
  std::vector<std::string> names;
  for (Value* value : p.wrt) names.push_back(value->name());
  std::vector<Value*> grads = append_gradients(p.graph, loss, p.wrt);
  ASSERT_EQ(grads.size(), p.wrt.size());
  for (size_t k = 0; k < grads.size(); ++k) {
    EXPECT_EQ(grads[k]->type(), p.wrt[k]->type()) << names[k];
    EXPECT_EQ(grads[k]->name(), "grad_" + names[k]);
    p.graph.add_output("gradient_" + std::to_string(k), grads[k]);
  }
  ASSERT_NO_THROW(verify(p.graph));
  Bindings state = p.state;
  Bindings outputs = interp::run_graph(p.graph, p.inputs, state);
  EXPECT_DOUBLE_EQ(outputs.at("loss").get(0), loss_before) << "the forward pass changed";
  for (size_t k = 0; k < grads.size(); ++k) {
    std::vector<double> symbolic = outputs.at("gradient_" + std::to_string(k)).to_doubles();
    double largest = 0;
    for (size_t i = 0; i < symbolic.size(); ++i) {
      largest = std::max(largest, std::abs(symbolic[i]));
      EXPECT_NEAR(symbolic[i], numeric[k][i], tolerance * std::max(1.0, std::abs(symbolic[i])))
          << "d loss / d " << names[k] << "[" << i << "]";
    }
    if (zero_gradients.count(names[k]))
      EXPECT_EQ(largest, 0.0) << "d loss / d " << names[k] << " must be zero";
    else
      EXPECT_GT(largest, 1e-6) << "d loss / d " << names[k] << " is zero: the test checks nothing";
  }
}

// ---- Finite-difference cases. ----

struct ScanCase {
  std::string name;
  Cell cell;
  bool reverse;
  bool lengths;
  Loss loss;
  Sizes sizes;
};

void PrintTo(const ScanCase& c, std::ostream* os) { *os << c.name; }

std::vector<ScanCase> scan_cases() {
  std::vector<ScanCase> cases;
  const std::vector<std::pair<std::string, Cell>> cells = {
      {"running_sum", running_sum}, {"rnn", vanilla_rnn}, {"lstm", lstm}, {"gru", gru}};
  const std::vector<std::pair<std::string, Loss>> losses = {
      {"final", Loss::FinalCarry}, {"outputs", Loss::Outputs}, {"both", Loss::Both}};
  for (const auto& [cell_name, cell] : cells)
    for (bool reverse : {false, true})
      for (bool lengths : {false, true})
        for (const auto& [loss_name, loss] : losses) {
          std::string name = cell_name + (reverse ? "_reverse" : "_forward") +
                             (lengths ? "_lengths" : "") + "_" + loss_name;
          cases.push_back({name, cell, reverse, lengths, loss, Sizes{}});
        }
  // Long sequences: 20 steps.
  Sizes long_sizes{20, 3, 2, 3};
  cases.push_back(
      {"rnn_forward_lengths_both_T20", vanilla_rnn, false, true, Loss::Both, long_sizes});
  cases.push_back({"gru_reverse_lengths_both_T20", gru, true, true, Loss::Both, long_sizes});
  return cases;
}

class ScanGradient : public testing::TestWithParam<ScanCase> {};

TEST_P(ScanGradient, MatchesFiniteDifferences) {
  const ScanCase& c = GetParam();
  Problem p;
  p.random = Random(seed_of(c.name));
  const Sizes& n = c.sizes;
  Value* xs = p.wrt_input("xs", {n.steps, n.batch, n.input});
  Value* lengths = c.lengths ? p.lengths(test_lengths(n)) : nullptr;
  CellResults results = c.cell(p, xs, n, c.reverse, lengths);
  expect_gradients_match_finite_differences(p, loss_of(p, results, c.loss));
}

INSTANTIATE_TEST_SUITE_P(Cells, ScanGradient, testing::ValuesIn(scan_cases()),
                         [](const testing::TestParamInfo<ScanCase>& info) {
                           return info.param.name;
                         });

// ---- Composed models. ----

TEST(ScanGradientComposed, BidirectionalPairWithLengths) {
  Problem p;
  p.random = Random(21);
  Sizes n{6, 3, 2, 3};
  Value* xs = p.wrt_input("xs", {n.steps, n.batch, n.input});
  Value* lengths = p.lengths({3, 6, 1});
  CellResults forward = rnn_layer(p, xs, n, false, lengths, "fw_");
  CellResults backward = rnn_layer(p, xs, n, true, lengths, "bw_");
  Value* outputs = build::concat({forward.outputs, backward.outputs}, 2);
  Value* loss = build::add(p.weighted_sum(outputs), build::add(p.weighted_sum(forward.finals[0]),
                                                               p.weighted_sum(backward.finals[0])));
  expect_gradients_match_finite_differences(p, loss);
}

TEST(ScanGradientComposed, TwoStackedLayersWithLengths) {
  Problem p;
  p.random = Random(22);
  Sizes first{5, 3, 2, 3}, second{5, 3, 3, 2};
  Value* xs = p.wrt_input("xs", {first.steps, first.batch, first.input});
  Value* lengths = p.lengths({5, 1, 3});
  CellResults lower = rnn_layer(p, xs, first, false, lengths, "l0_");
  CellResults upper = rnn_layer(p, lower.outputs, second, true, lengths, "l1_");
  Value* loss = build::add(p.weighted_sum(upper.outputs), p.weighted_sum(upper.finals[0]));
  expect_gradients_match_finite_differences(p, loss);
}

/// Options of the nested model.
struct Nesting {
  bool outer_reverse = false, inner_reverse = false;
  bool outer_lengths = false, inner_lengths = false;
};

/// An outer scan over T whose body runs an inner RNN scan over the S sub-steps of its slice
/// (xs [T, S, B, E]): the inner carry starts at the outer carry h, the inner step adds a gate
/// sigmoid(h W_g) computed in the outer body (an inner invariant that varies in the outer
/// loop), and the inner final carry is the outer next carry and per-step output. Without
/// outer lengths the inner stacked outputs [S, B, H] are an outer per-step output too.
CellResults nested_rnn(Problem& p, const Sizes& n, int64_t sub_steps, const Nesting& options) {
  Value* xs = p.wrt_input("xs", {n.steps, sub_steps, n.batch, n.input});
  Value* h0 = p.wrt_input("h0", {n.batch, n.hidden});
  Value* w_x = p.wrt_parameter("w_x", {n.input, n.hidden});
  Value* w_h = p.wrt_parameter("w_h", {n.hidden, n.hidden});
  Value* w_g = p.wrt_parameter("w_g", {n.hidden, n.hidden});
  ScanBuilder outer(p.graph, "outer_step");
  Value* h = outer.carry(h0, "h");
  Value* x = outer.sequence(xs, "x");
  Value* wx = outer.invariant(w_x, "wx");
  Value* wh = outer.invariant(w_h, "wh");
  Value* wg = outer.invariant(w_g, "wg");
  Value* gate = build::sigmoid(build::matmul(h, wg));
  ScanBuilder inner(outer.body(), "inner_step");
  Value* hi = inner.carry(h, "hi");
  Value* xi = inner.sequence(x, "xi");
  Value* wxi = inner.invariant(wx, "wxi");
  Value* whi = inner.invariant(wh, "whi");
  Value* gi = inner.invariant(gate, "gi");
  Value* next =
      build::tanh(build::add(build::add(build::matmul(xi, wxi), build::matmul(hi, whi)), gi));
  inner.set_next(hi, next);
  inner.add_output("yi", next);
  inner.set_reverse(options.inner_reverse);
  if (options.inner_lengths) {
    std::vector<double> inner_lengths(n.batch);
    for (int64_t b = 0; b < n.batch; ++b) inner_lengths[b] = 1 + b % sub_steps;
    inner.set_lengths(outer.invariant(p.lengths(inner_lengths, "inner_lengths"), "li"));
  }
  std::vector<Value*> inner_results = inner.finish();
  outer.set_next(h, inner_results[0]);
  outer.add_output("y", inner_results[0]);
  if (!options.outer_lengths) outer.add_output("ys_inner", inner_results[1]);
  outer.set_reverse(options.outer_reverse);
  if (options.outer_lengths) outer.set_lengths(p.lengths(test_lengths(n)));
  std::vector<Value*> results = outer.finish();
  Value* outputs = results[1];
  if (!options.outer_lengths) outputs = build::add(build::reduce_sum(results[2], {1}), results[1]);
  return {{results[0]}, outputs};
}

class NestedScanGradient : public testing::TestWithParam<Nesting> {};

TEST_P(NestedScanGradient, MatchesFiniteDifferences) {
  const Nesting& options = GetParam();
  Problem p;
  p.random = Random(seed_of("nested") + options.outer_reverse + 2 * options.inner_reverse +
                    4 * options.outer_lengths + 8 * options.inner_lengths);
  CellResults results = nested_rnn(p, Sizes{3, 3, 2, 2}, 3, options);
  expect_gradients_match_finite_differences(p, loss_of(p, results, Loss::Both));
  // The outer backward body runs the inner backward scan only: the inner forward values it
  // needs were stacked by the (replaced) outer forward scan, not recomputed.
  std::map<std::string, const Node*> scans;
  for (const Node* scan : p.graph.nodes_of(OpKind::Scan)) scans[scan->body().name()] = scan;
  ASSERT_EQ(scans.size(), 2u);
  ASSERT_TRUE(scans.count("outer_step") && scans.count("outer_step_grad"));
  std::vector<Node*> inner_forward = scans["outer_step"]->body().nodes_of(OpKind::Scan);
  std::vector<Node*> inner_backward = scans["outer_step_grad"]->body().nodes_of(OpKind::Scan);
  ASSERT_EQ(inner_forward.size(), 1u);
  ASSERT_EQ(inner_backward.size(), 1u);
  EXPECT_EQ(inner_forward[0]->body().name(), "inner_step");
  EXPECT_EQ(inner_backward[0]->body().name(), "inner_step_grad");
  EXPECT_TRUE(inner_backward[0]->body().nodes_of(OpKind::Tanh).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Nesting, NestedScanGradient,
    testing::Values(Nesting{false, false, false, false}, Nesting{false, true, false, false},
                    Nesting{true, false, true, false}, Nesting{false, false, true, true},
                    Nesting{true, true, true, true}, Nesting{false, true, false, true}),
    [](const testing::TestParamInfo<Nesting>& info) {
      const Nesting& o = info.param;
      return std::string(o.outer_reverse ? "outer_reverse" : "outer_forward") +
             (o.outer_lengths ? "_lengths" : "") +
             (o.inner_reverse ? "_inner_reverse" : "_inner_forward") +
             (o.inner_lengths ? "_lengths" : "");
    });

// A carry that no loss term depends on gets no adjoint carry, and its init no gradient.
TEST(ScanGradientComposed, CarryNoAdjointReachesIsNotCarriedBack) {
  Problem p;
  p.random = Random(23);
  Sizes n;
  Value* xs = p.wrt_input("xs", {n.steps, n.batch, n.input});
  Value* h0 = p.wrt_input("h0", {n.batch, n.input});
  Value* k0 = p.wrt_input("k0", {n.batch, n.input});
  Value* w = p.wrt_parameter("w", {n.input, n.input});
  ScanBuilder scan(p.graph, "step");
  Value* h = scan.carry(h0, "h");
  Value* k = scan.carry(k0, "k");  // a clock the outputs never read
  Value* x = scan.sequence(xs, "x");
  Value* wi = scan.invariant(w, "w");
  Value* next = build::tanh(build::add(build::matmul(h, wi), x));
  scan.set_next(h, next);
  scan.set_next(k, build::add(build::mul(k, k), x));
  scan.add_output("y", next);
  std::vector<Value*> results = scan.finish();
  Value* loss = p.weighted_sum(results[2]);
  expect_gradients_match_finite_differences(p, loss, {"k0"});
  Node* backward = nullptr;
  for (Node* node : p.graph.nodes_of(OpKind::Scan))
    if (node->body().name() == "step_grad") backward = node;
  ASSERT_TRUE(backward);
  EXPECT_EQ(backward->attrs().get_int("num_carry"), 2) << "d h and the accumulator of w";
}

// s' = s + c x with a constant c: the product reads no forward value, so the forward scan
// stays as it is and the backward scan reads only a forward sequence it needs for its trip
// count.
TEST(ScanGradientComposed, LinearRecurrenceNeedsNoResiduals) {
  for (bool lengths : {false, true}) {
    Problem p;
    p.random = Random(26);
    Sizes n;
    Value* xs = p.wrt_input("xs", {n.steps, n.batch, n.input});
    Value* s0 = p.wrt_input("s0", {n.batch, n.input});
    ScanBuilder scan(p.graph, "step");
    Value* s = scan.carry(s0, "s");
    Value* x = scan.sequence(xs, "x");
    Value* next = build::add(s, build::mul(x, build::full_like(x, 0.5)));
    scan.set_next(s, next);
    if (lengths) scan.set_lengths(p.lengths(test_lengths(n)));
    std::vector<Value*> results = scan.finish();
    Node* forward = results[0]->producer();
    expect_gradients_match_finite_differences(p, p.weighted_sum(results[0]));
    std::vector<Node*> scans = p.graph.nodes_of(OpKind::Scan);
    ASSERT_EQ(scans.size(), 2u);
    EXPECT_EQ(scans[0], forward) << "the forward scan was replaced though nothing is stacked";
    EXPECT_EQ(scans[0]->attrs().get_int("has_lengths"), lengths ? 1 : 0);
  }
}

// sign(w) passes no gradient: the backward scan is unused and removed, while the forward
// scan, replaced to stack residuals and reading the row mask, stays valid.
TEST(ScanGradientComposed, UnusedBackwardLeavesAValidForward) {
  Problem p;
  p.random = Random(27);
  Sizes n;
  Value* xs = p.wrt_input("xs", {n.steps, n.batch, n.hidden});
  p.wrt.clear();
  Value* w = p.wrt_parameter("w", {n.hidden, n.hidden});
  Value* h0 = p.graph.add_constant({DType::f64, {n.batch, n.hidden}}, {0.5});
  ScanBuilder scan(p.graph, "step");
  Value* h = scan.carry(h0, "h");
  Value* binary = scan.invariant(build::sign(w), "binary");
  Value* next = build::tanh(build::add(build::matmul(h, binary), scan.sequence(xs, "x")));
  scan.set_next(h, next);
  scan.set_lengths(p.lengths(test_lengths(n)));
  std::vector<Value*> results = scan.finish();
  expect_gradients_match_finite_differences(p, p.weighted_sum(results[0]), {"w"});
  ASSERT_EQ(p.graph.nodes_of(OpKind::Scan).size(), 1u);
  EXPECT_EQ(p.graph.nodes_of(OpKind::Scan)[0]->attrs().get_int("has_lengths"), 0)
      << "the forward scan was replaced (it masks rows itself)";
}

}  // namespace
}  // namespace rnnc
