// Graph algorithms over the Boost.Graph adaptor: topological order, cycles, liveness.
#include <gtest/gtest.h>

#include <unordered_map>

#include "ir/builder.h"
#include "ir/error.h"
#include "ir/graph_algorithms.h"
#include "ir/verifier.h"

namespace rnnc {
namespace {

using namespace ir;

TensorType f32(Shape shape) { return {DType::f32, std::move(shape)}; }

std::vector<std::string> names_of(const std::vector<Node*>& nodes) {
  std::vector<std::string> names;
  for (const Node* node : nodes) names.push_back(node->result()->name());
  return names;
}

std::vector<Node*> nodes_of(const Graph& graph) {
  std::vector<Node*> nodes;
  for (const auto& node : graph.nodes()) nodes.push_back(node.get());
  return nodes;
}

/// True when every operand of every node in `order` comes from an earlier node.
bool is_topological(const std::vector<Node*>& order) {
  std::unordered_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  for (size_t i = 0; i < order.size(); ++i)
    for (Value* operand : order[i]->operands())
      if (!position.count(operand->producer()) || position[operand->producer()] >= i) return false;
  return true;
}

/// y = tanh(x w + b) and z = exp(y) + y (a diamond), in build order.
struct Layer {
  Graph graph{"layer"};
  Value* x = graph.add_input("x", f32({4, 3}));
  Value* w = graph.add_parameter("w", f32({3, 2}), "zeros");
  Value* b = graph.add_parameter("b", f32({2}), "zeros");
  // One node per statement: the order of evaluating function arguments is unspecified.
  Value* product = build::matmul(x, w);
  Value* bias = build::broadcast(b, {4, 2});
  Value* y = build::tanh(build::add(product, bias));
  Value* z = build::add(build::exp(y), y);
  Layer() { graph.add_output("z", z); }
};

TEST(GraphAlgorithms, TopologicalOrderKeepsAnOrderThatIsAlreadyTopological) {
  Layer layer;
  EXPECT_EQ(topological_order(layer.graph), nodes_of(layer.graph));
}

TEST(GraphAlgorithms, SortTopologicallyRepairsAScrambledOrder) {
  Layer layer;
  std::vector<Node*> reversed = nodes_of(layer.graph);
  std::reverse(reversed.begin(), reversed.end());
  layer.graph.reorder(reversed);
  EXPECT_THROW(verify(layer.graph), Error);
  std::vector<Node*> order = topological_order(layer.graph);
  EXPECT_TRUE(is_topological(order));
  EXPECT_EQ(order.size(), reversed.size());
  sort_topologically(layer.graph);
  verify(layer.graph);
  // Depth first from the first node in graph order (the last add), operands left to right.
  EXPECT_EQ(names_of(nodes_of(layer.graph)),
            (std::vector<std::string>{"x", "w", "matmul", "b", "broadcast", "add", "tanh", "exp",
                                      "add_1"}));
}

TEST(GraphAlgorithms, SortTopologicallyAfterAppendingAProducer) {
  // A pass appends a new node and rewires an earlier user to it.
  Layer layer;
  Value* scaled = build::mul(layer.x, layer.x);  // appended last
  layer.product->producer()->set_operand(0, scaled);
  EXPECT_THROW(verify(layer.graph), Error);
  sort_topologically(layer.graph);
  verify(layer.graph);
  EXPECT_EQ(names_of(nodes_of(layer.graph)),
            (std::vector<std::string>{"x", "w", "b", "mul", "matmul", "broadcast", "add", "tanh",
                                      "exp", "add_1"}));
}

TEST(GraphAlgorithms, CycleIsAnErrorNamingANodeOnIt) {
  Graph graph;
  Value* x = graph.add_input("x", f32({2}));
  Value* a = build::exp(x);
  Value* b = build::sigmoid(a);
  build::neg(b);
  a->producer()->set_operand(0, b);
  try {
    topological_order(graph);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(),
                 "graph @main: node %exp (exp) is on a cycle through node %sigmoid (sigmoid)");
  }
  EXPECT_THROW(sort_topologically(graph), Error);
}

TEST(GraphAlgorithms, SelfLoopIsACycle) {
  Graph graph;
  Value* x = graph.add_input("x", f32({2}));
  Value* a = build::relu(x);
  a->producer()->set_operand(0, a);
  try {
    topological_order(graph);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "graph @main: node %relu (relu) uses its own result");
  }
}

TEST(GraphAlgorithms, LiveNodesReachAnOutputOrAnUpdate) {
  Graph graph;
  Value* x = graph.add_input("x", f32({4, 3}));
  graph.add_input("unused", f32({1}));
  Value* w = graph.add_parameter("w", f32({3, 2}), "zeros");
  Value* v = graph.add_parameter("v", f32({2}), "zeros");
  build::exp(x);  // dead
  Value* y = build::matmul(x, w);
  build::tanh(y);  // dead, though it uses a live value
  Value* v_new = build::neg(build::reduce_sum(y, {0}));
  graph.add_output("y", y);
  graph.add_update(v, v_new);
  EXPECT_EQ(names_of(live_nodes(graph)),
            (std::vector<std::string>{"x", "w", "v", "matmul", "reduce_sum", "neg"}));
  Graph empty;
  empty.add_input("x", f32({1}));
  EXPECT_TRUE(live_nodes(empty).empty());
}

}  // namespace
}  // namespace rnnc
