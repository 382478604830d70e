#include <gtest/gtest.h>

#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/error.h"

namespace rnnc {
namespace {

using namespace ir;

TEST(Graph, ShapeInferenceOfMatMulAndBroadcast) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f32, {4, 3}});
  Value* w = graph.add_parameter("w", {DType::f32, {3, 2}}, "zeros");
  Value* b = graph.add_parameter("b", {DType::f32, {2}}, "zeros");
  Value* y = build::add(build::matmul(x, w), build::broadcast(b, {4, 2}));
  EXPECT_EQ(y->type().to_string(), "f32[4, 2]");
}

TEST(Graph, ShapeErrorNamesNodeAndOperands) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f32, {4, 3}});
  Value* w = graph.add_input("w", {DType::f32, {4, 2}});
  try {
    build::matmul(x, w);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(),
                 "node %matmul = matmul(%x: f32[4, 3], %w: f32[4, 2]): inner dimensions 3 and 4 differ");
  }
}

TEST(Graph, UniqueNames) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f32, {2}});
  Value* a = build::exp(x);
  Value* b = build::exp(a);
  EXPECT_EQ(a->name(), "exp");
  EXPECT_EQ(b->name(), "exp_1");
  EXPECT_THROW(graph.add_input("x", {DType::f32, {2}}), Error);
}

TEST(Interpreter, LinearLayer) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* w = graph.add_parameter("w", {DType::f64, {3, 1}}, "zeros");
  graph.add_output("y", build::matmul(x, w));
  Bindings state{{"w", Tensor::from_doubles(DType::f64, {3, 1}, {1, 2, 3})}};
  Bindings outputs = interp::run_graph(
      graph, {{"x", Tensor::from_doubles(DType::f64, {2, 3}, {1, 0, 0, 1, 1, 1})}}, state);
  EXPECT_EQ(outputs.at("y").to_doubles(), (std::vector<double>{1, 6}));
}

}  // namespace
}  // namespace rnnc
