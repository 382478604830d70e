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
    EXPECT_STREQ(
        error.what(),
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

namespace rnnc {
namespace {

TEST(Graph, HugeShapesAreErrorsNotOverflows) {
  using namespace ir;
  Graph graph;
  Value* x = graph.add_input("x", {DType::f32, {32, 4}});
  EXPECT_THROW(build::reshape(x, {32, 1111111111111111112}), Error);
  EXPECT_THROW(build::broadcast(x, {int64_t{1} << 40, 1 << 20, 32, 4}), Error);
  EXPECT_THROW(build::pad(x, {0, 0}, {int64_t{1} << 62, 0}), Error);
  EXPECT_THROW(graph.add_input("big", {DType::f32, {int64_t{1} << 30, int64_t{1} << 30}}), Error);
  Value* tall = graph.add_input("tall", {DType::f32, {int64_t{1} << 30, 1}});
  Value* wide = graph.add_input("wide", {DType::f32, {1, int64_t{1} << 30}});
  try {
    build::matmul(tall, wide);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("more than 2^48 elements"), std::string::npos);
  }
}

}  // namespace
}  // namespace rnnc

namespace rnnc {
namespace {

TEST(Graph, ParameterRoleIsWeightOrState) {
  ir::Graph graph;
  try {
    graph.add_parameter("w", {ir::DType::f32, {2}}, "zeros", 0, "weights");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(),
                 "node %w = parameter(): parameter role must be \"weight\" or \"state\", got "
                 "\"weights\"");
  }
}

}  // namespace
}  // namespace rnnc
