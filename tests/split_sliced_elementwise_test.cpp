// split-sliced-elementwise (passes/split_sliced_elementwise.h): a GRU-like input projection
// plus bias cut into gates is computed per gate (a chain of ops split all the way up, slices
// of a broadcast moved below it); what it leaves alone (a result read whole, an output,
// overlapping slices, scan bodies); unchanged numbers on the interpreter (f64, bit for bit)
// and, after O1, on every available backend.
#include "passes/split_sliced_elementwise.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "runtime/initializers.h"
#include "tests/support/compare.h"

namespace rnnc {
namespace {

using ir::DType;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;
namespace build = ir::build;

Bindings random_inputs(const Graph& graph, uint64_t seed) {
  Bindings inputs;
  for (Node* node : graph.nodes_of(OpKind::Input))
    inputs[node->result()->name()] = initialize(node->result()->type(), "uniform:-2,2", seed++);
  return inputs;
}

/// Gates x w + b (tanh(x w + b) * c when `chain`), cut into three [6, 3] slices read by r, z and n
/// of a GRU-like step. `whole`: the gates are an output too.
std::unique_ptr<Graph> gates_graph(DType dtype, bool chain, bool whole) {
  auto graph = std::make_unique<Graph>("gates");
  Value* x = graph->add_input("x", {dtype, {6, 5}});
  Value* w = graph->add_input("w", {dtype, {5, 9}});
  Value* b = graph->add_input("b", {dtype, {9}});
  Value* gates = build::add(build::matmul(x, w), build::broadcast(b, {6, 9}));
  if (chain) gates = build::mul(build::tanh(gates), graph->add_input("c", {dtype, {6, 9}}));
  Value* r = build::sigmoid(build::slice(gates, {0, 0}, {6, 3}));
  Value* z = build::sigmoid(build::slice(gates, {0, 3}, {6, 6}));
  Value* n = build::tanh(build::mul(r, build::slice(gates, {0, 6}, {6, 9})));
  graph->add_output("h", build::add(build::mul(z, n), r));
  if (whole) graph->add_output("gates", gates);
  return graph;
}

/// The elementwise nodes of `graph` (top level) whose result has `columns` columns.
int elementwise_of_width(const Graph& graph, int64_t columns) {
  int count = 0;
  for (const auto& node : graph.nodes())
    count += node->info().has(ir::kElementwise) && node->result()->shape().back() == columns;
  return count;
}

/// Runs the pass on `graph`; checks that it verifies and that the interpreter gives the same
/// bits as before. Returns whether it changed the graph.
bool split_and_compare(Graph& graph, const std::string& context) {
  Bindings inputs = random_inputs(graph, 3), state;
  Bindings before = testcmp::run_all(graph, inputs, state);
  bool changed = passes::split_sliced_elementwise(graph, passes::PassContext{});
  EXPECT_NO_THROW(ir::verify(graph)) << context << ir::print_graph(graph);
  testcmp::expect_close(before, testcmp::run_all(graph, inputs, state), 0.0, context);
  return changed;
}

TEST(SplitSlicedElementwise, GatesAreComputedPerSlice) {
  for (bool chain : {false, true}) {
    auto graph = gates_graph(DType::f64, chain, false);
    const std::string context = chain ? "chain: " : "";
    EXPECT_TRUE(split_and_compare(*graph, context));
    EXPECT_EQ(elementwise_of_width(*graph, 9), 0) << context << ir::print_graph(*graph);
    EXPECT_EQ(graph->nodes_of(OpKind::Add).size(), 4u) << context;  // 3 gates, 1 for h
    // The bias is sliced before its broadcast; the product is sliced, not recomputed.
    for (Node* broadcast : graph->nodes_of(OpKind::Broadcast))
      EXPECT_EQ(broadcast->operand(0)->shape(), ir::Shape({3})) << context;
    EXPECT_EQ(graph->nodes_of(OpKind::MatMul).size(), 1u) << context;
    EXPECT_FALSE(split_and_compare(*graph, context)) << "a second run changes nothing";
  }
}

TEST(SplitSlicedElementwise, LeavesAloneWhatItCannotSplit) {
  // Gates read whole (an output).
  auto whole = gates_graph(DType::f64, false, true);
  EXPECT_FALSE(split_and_compare(*whole, "whole: "));

  // A value read by two ops split per slice is read by overlapping slices: it stays whole.
  auto shared = std::make_unique<Graph>("shared");
  Value* g = build::exp(shared->add_input("g", {DType::f64, {2, 4}}));
  Value* twice = build::mul(g, build::add(g, g));
  shared->add_output(
      "y", build::sub(build::slice(twice, {0, 0}, {2, 2}), build::slice(twice, {0, 2}, {2, 4})));
  EXPECT_TRUE(split_and_compare(*shared, "shared: "));
  EXPECT_EQ(shared->nodes_of(OpKind::Exp).size(), 1u);
  EXPECT_EQ(shared->nodes_of(OpKind::Exp).at(0)->result()->shape(), ir::Shape({2, 4}));

  // Overlapping slices would compute some elements twice.
  auto graph = std::make_unique<Graph>("overlap");
  Value* x = graph->add_input("x", {DType::f64, {4, 6}});
  Value* e = build::exp(x);
  graph->add_output("y",
                    build::add(build::slice(e, {0, 0}, {4, 4}), build::slice(e, {0, 2}, {4, 6})));
  EXPECT_FALSE(split_and_compare(*graph, "overlap: "));

  // A scan body is left as it is (the CPU backend folds a step's sum into its product).
  auto scan_graph = std::make_unique<Graph>("scan");
  Value* xs = scan_graph->add_input("xs", {DType::f64, {3, 2, 6}});
  Value* h0 = scan_graph->add_input("h0", {DType::f64, {2, 3}});
  ir::ScanBuilder scan(*scan_graph, "cell");
  Value* h = scan.carry(h0, "h");
  Value* gates = build::exp(scan.sequence(xs, "x"));
  Value* next = build::mul(build::slice(gates, {0, 0}, {2, 3}),
                           build::tanh(build::add(h, build::slice(gates, {0, 3}, {2, 6}))));
  scan.set_next(h, next);
  scan_graph->add_output("h", scan.finish().at(0));
  EXPECT_FALSE(split_and_compare(*scan_graph, "scan: "));
}

TEST(SplitSlicedElementwise, EveryBackendAfterO1) {
  for (bool chain : {false, true}) {
    auto graph = gates_graph(DType::f32, chain, false);
    Bindings inputs = random_inputs(*graph, 5), state;
    Bindings want = interp::run_graph(*graph, inputs, state);
    for (const std::string& backend : codegen::available_backends()) {
      Bindings got = codegen::compile(*graph, backend)->run(inputs, state);
      testcmp::expect_close(want, got, 1e-5, backend + (chain ? " chain: " : ": "));
    }
  }
}

}  // namespace
}  // namespace rnnc
