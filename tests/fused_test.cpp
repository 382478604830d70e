// The Fused op (ir/ops.def): its shape rule's errors, the interpreter running its body, and
// the text IR round trip of a graph holding one.
#include <gtest/gtest.h>

#include <cmath>

#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/fuse_elementwise.h"
#include "tests/support/errors.h"

namespace rnnc {
namespace {

using namespace ir;
using passes::add_fused_node;

/// A graph computing y = sigmoid(x * broadcast(b)) + 2 and z = x - y in one fused node.
struct FusedGraph {
  Graph graph;
  Node* fused;
  FusedGraph() {
    Value* x = graph.add_input("x", {DType::f64, {2, 3}});
    Value* b = graph.add_input("b", {DType::f64, {3}});
    fused = add_fused_node(graph, {x, b}, [](const std::vector<Value*>& in) {
      Graph& body = build::graph_of(in[0]);
      Value* y = build::add(build::sigmoid(build::mul(in[0], build::broadcast(in[1], {2, 3}))),
                            body.add_constant({DType::f64, {2, 3}}, {2.0}));
      return std::vector<Value*>{y, build::sub(in[0], y)};
    });
    graph.add_output("y", fused->result(0));
    graph.add_output("z", fused->result(1));
  }
};

using testerr::error_of;

TEST(Fused, ResultsAreTheBodyOutputs) {
  FusedGraph g;
  ASSERT_EQ(g.fused->num_results(), 2u);
  EXPECT_EQ(g.fused->result(0)->type(), (TensorType{DType::f64, {2, 3}}));
  EXPECT_EQ(g.fused->result(1)->type(), (TensorType{DType::f64, {2, 3}}));
  verify(g.graph);
}

TEST(Fused, InterpreterRunsTheBodyOnce) {
  FusedGraph g;
  std::vector<double> x = {0.5, -1.0, 2.0, 0.0, 1.5, -0.25}, b = {1.0, -2.0, 0.5};
  Bindings inputs{{"x", Tensor::from_doubles(DType::f64, {2, 3}, x)},
                  {"b", Tensor::from_doubles(DType::f64, {3}, b)}};
  Bindings state;
  Bindings out = interp::run_graph(g.graph, inputs, state);
  for (int i = 0; i < 6; ++i) {
    double y = 1.0 / (1.0 + std::exp(-x[i] * b[i % 3])) + 2.0;
    EXPECT_NEAR(out.at("y").get(i), y, 1e-15);
    EXPECT_NEAR(out.at("z").get(i), x[i] - y, 1e-15);
  }
}

TEST(Fused, TextRoundTrip) {
  FusedGraph g;
  std::string text = print_graph(g.graph);
  EXPECT_NE(text.find("fused("), std::string::npos) << text;
  std::unique_ptr<Graph> parsed = parse_graph(text, "fused.rnn");
  verify(*parsed);
  EXPECT_EQ(print_graph(*parsed), text);
}

TEST(Fused, ShapeErrors) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* m = graph.add_input("m", {DType::f64, {3, 3}});
  auto expect_error = [&](const std::vector<Value*>& operands, auto expression,
                          const std::string& part) {
    std::string message = error_of([&] { add_fused_node(graph, operands, expression); });
    EXPECT_NE(message.find(part), std::string::npos) << "got: " << message;
  };
  expect_error(
      {x},
      [](const std::vector<Value*>& in) {
        return std::vector<Value*>{build::matmul(in[0], build::transpose(in[0], {1, 0}))};
      },
      "may hold only inputs, constants, elementwise ops and broadcasts");
  expect_error(
      {x, m},
      [](const std::vector<Value*>& in) {
        return std::vector<Value*>{build::exp(in[0]), build::exp(in[1])};
      },
      "outputs differ in shape");
  expect_error(
      {x}, [](const std::vector<Value*>&) { return std::vector<Value*>{}; }, "at least one output");
  // A body input whose type differs from its operand.
  auto body = std::make_unique<Graph>("fused");
  Value* wrong = body->add_input("x", {DType::f64, {3, 2}});
  body->add_output("out", build::exp(wrong));
  std::vector<std::unique_ptr<Graph>> bodies;
  bodies.push_back(std::move(body));
  std::string message =
      error_of([&] { graph.add_node(OpKind::Fused, {x}, {}, {}, {}, std::move(bodies)); });
  EXPECT_NE(message.find("fused body input %x is f64[3, 2]"), std::string::npos) << message;
  // One input too few.
  auto short_body = std::make_unique<Graph>("fused");
  short_body->add_output("out", build::exp(short_body->add_input("x", {DType::f64, {2, 3}})));
  std::vector<std::unique_ptr<Graph>> short_bodies;
  short_bodies.push_back(std::move(short_body));
  message = error_of([&] {
    graph.add_node(OpKind::Fused, {x, x}, {}, {}, {}, std::move(short_bodies));
  });
  EXPECT_NE(message.find("has 1 inputs, but the node passes 2 operands"), std::string::npos)
      << message;
  EXPECT_NE(error_of([&] { graph.add_node(OpKind::Fused, {x}); }), "");
}

}  // namespace
}  // namespace rnnc
