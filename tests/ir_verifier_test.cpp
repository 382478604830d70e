// The verifier: graphs broken the way passes can break them, and the messages that say so.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/builder.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/verifier.h"

namespace rnnc {
namespace {

using namespace ir;

TensorType f32(Shape shape) { return {DType::f32, std::move(shape)}; }

/// Verifies `graph` and expects an rnnc::Error with exactly `message`.
void expect_invalid(const Graph& graph, const std::string& message) {
  try {
    verify(graph);
    ADD_FAILURE() << "verify accepted the graph";
  } catch (const Error& error) {
    EXPECT_EQ(error.what(), message);
  }
}

/// The mutable attributes of `node`, as a buggy pass could leave them (Node exposes no
/// setter; the member itself is not const).
Attributes& attrs_of(Node* node) { return const_cast<Attributes&>(node->attrs()); }

/// x -> exp -> exp_1, with output y = exp_1.
struct Chain {
  Graph graph;
  Value* x = graph.add_input("x", f32({2}));
  Value* a = build::exp(x);
  Value* b = build::exp(a);
  Chain() { graph.add_output("y", b); }
};

TEST(Verifier, AcceptsValidGraphs) {
  Chain chain;
  verify(chain.graph);
  Graph graph("train");
  Value* x = graph.add_input("x", f32({4, 3}));
  Value* w = graph.add_parameter("w", f32({3, 2}), "xavier_uniform", 3);
  Value* c = graph.add_constant(f32({3, 2}), {std::nan("")});  // NaN != NaN must not matter
  Value* y = build::matmul(x, w, false, false);
  graph.add_output("y", build::concat({y, y}, 1));
  graph.add_update(w, build::sub(w, c));
  verify(graph);
}

TEST(Verifier, OperandDefinedLaterAfterSetOperand) {
  Chain chain;
  chain.a->producer()->set_operand(0, chain.b);
  expect_invalid(chain.graph,
                 "graph @main: node %exp = exp(%exp_1: f32[2]): operand %exp_1 is not defined "
                 "by an earlier node");
}

TEST(Verifier, OwnResultAsOperand) {
  Chain chain;
  chain.a->producer()->set_operand(0, chain.a);
  expect_invalid(chain.graph,
                 "graph @main: node %exp = exp(%exp: f32[2]): operand %exp is not defined by an "
                 "earlier node");
}

TEST(Verifier, UserBeforeProducerAfterReorder) {
  Chain chain;
  const auto& nodes = chain.graph.nodes();
  chain.graph.reorder({nodes[0].get(), nodes[2].get(), nodes[1].get()});
  expect_invalid(chain.graph,
                 "graph @main: node %exp_1 = exp(%exp: f32[2]): operand %exp is not defined by "
                 "an earlier node");
}

TEST(Verifier, OperandFromAnotherGraph) {
  Chain chain;
  Graph other("other");
  Value* foreign = other.add_input("x", f32({2}));
  chain.b->producer()->set_operand(0, foreign);
  expect_invalid(chain.graph,
                 "graph @main: node %exp_1 = exp(%?): operand 0 is not a value of graph @main "
                 "(erased, or from another graph)");
}

TEST(Verifier, OperandErasedWhileStillUsed) {
  Chain chain;
  Node* dead = chain.a->producer();
  chain.graph.erase_nodes_if([&](const Node& node) { return &node == dead; });
  expect_invalid(chain.graph,
                 "graph @main: node %exp_1 = exp(%?): operand 0 is not a value of graph @main "
                 "(erased, or from another graph)");
}

TEST(Verifier, ResultTypeNoLongerMatchesShapeInference) {
  Graph graph;
  Value* x = graph.add_input("x", f32({2}));
  Value* z = graph.add_input("z", f32({3}));
  Value* e = build::exp(x);
  e->producer()->set_operand(0, z);
  expect_invalid(graph,
                 "graph @main: node %exp = exp(%z: f32[3]): result %exp has type f32[2], but "
                 "shape inference gives f32[3]");
}

TEST(Verifier, ShapeInferenceFailsAfterRewiring) {
  Graph graph;
  Value* x = graph.add_input("x", f32({4, 3}));
  Value* w = graph.add_input("w", f32({3, 2}));
  Value* v = graph.add_input("v", f32({4, 2}));
  Value* y = build::matmul(x, w);
  graph.replace_all_uses(w, v);
  (void)y;
  expect_invalid(graph,
                 "graph @main: node %matmul = matmul(%x: f32[4, 3], %v: f32[4, 2]): inner "
                 "dimensions 3 and 4 differ");
}

TEST(Verifier, AttributeOfWrongKindOrMissing) {
  Graph graph;
  Value* x = graph.add_input("x", f32({2, 3}));
  Value* joined = build::concat({x, x}, 1);
  attrs_of(joined->producer()).set("axis", std::string("1"));
  expect_invalid(graph,
                 "graph @main: node %concat = concat(%x: f32[2, 3], %x: f32[2, 3]): attribute "
                 "'axis' of op 'concat' must be of kind int, not str");
  attrs_of(joined->producer()) = Attributes{};
  expect_invalid(graph,
                 "graph @main: node %concat = concat(%x: f32[2, 3], %x: f32[2, 3]): op 'concat' "
                 "needs attribute 'axis'");
  attrs_of(joined->producer()) = Attributes{{"axis", int64_t{1}}, {"scale", 2.0}};
  expect_invalid(graph,
                 "graph @main: node %concat = concat(%x: f32[2, 3], %x: f32[2, 3]): op 'concat' "
                 "has no attribute 'scale'");
}

TEST(Verifier, AttributeLeftOutOrNotConverted) {
  Graph graph;
  Value* x = graph.add_input("x", f32({2, 3}));
  Value* product = build::matmul(x, x, false, true);
  attrs_of(product->producer()) = Attributes{{"transpose_b", int64_t{1}}};
  expect_invalid(graph,
                 "graph @main: node %matmul = matmul(%x: f32[2, 3], %x: f32[2, 3]): attribute "
                 "'transpose_a' is missing");
  Value* c = graph.add_constant(f32({2}), {1.0, 2.0});
  attrs_of(product->producer()) =
      Attributes{{"transpose_a", int64_t{0}}, {"transpose_b", int64_t{1}}};
  attrs_of(c->producer()).set("value", std::vector<int64_t>{1, 2});
  expect_invalid(graph,
                 "graph @main: node %c = constant(): attribute 'value' is of kind ints, not "
                 "floats");
}

TEST(Verifier, OutputOfErasedValue) {
  Chain chain;
  Node* last = chain.b->producer();
  chain.graph.erase_nodes_if([&](const Node& node) { return &node == last; });
  expect_invalid(chain.graph, "graph @main: output 'y' is not a value of this graph");
}

TEST(Verifier, UpdateWithValueOfAnotherType) {
  Graph graph("step");
  Value* w = graph.add_parameter("w", f32({2}), "zeros");
  Value* v = graph.add_input("v", f32({3}));
  Value* w_new = build::mul(w, w);
  graph.add_update(w, w_new);
  verify(graph);
  graph.replace_all_uses(w_new, v);
  expect_invalid(graph, "graph @step: update of %w: the new value %v has type f32[3], not f32[2]");
}

TEST(Verifier, UpdateWithErasedValue) {
  Graph graph("step");
  Value* w = graph.add_parameter("w", f32({2}), "zeros");
  Value* w_new = build::neg(w);
  graph.add_update(w, w_new);
  Node* producer = w_new->producer();
  graph.erase_nodes_if([&](const Node& node) { return &node == producer; });
  expect_invalid(graph, "graph @step: update of %w: the new value is not a value of this graph");
}

TEST(Verifier, ParsedGraphsVerify) {
  auto graph = parse_graph(
      "graph @g {\n"
      "  %x = input() : f32[2, 3]\n"
      "  %c = constant() {value = [nan, inf]} : f64[2]\n"
      "  %t = transpose(%x) {perm = [1, 0]} : f32[3, 2]\n"
      "  output t = %t\n"
      "}\n",
      "g.rnn");
  verify(*graph);
}

}  // namespace
}  // namespace rnnc
