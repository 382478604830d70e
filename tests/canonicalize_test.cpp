// canonicalize and its parts (simplify, fold-constants, cse, dce): each rewrite's structure
// (node kinds and counts after) and numbers (interpreter outputs before and after, f64), and
// a property test over random graphs (tests/support/random_graph.h).
#include "passes/canonicalize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "codegen/interp/constant_evaluator.h"
#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/fold_constants.h"
#include "passes/simplify.h"
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
namespace build = ir::build;

passes::PassContext kernels() { return interp::pass_context_with_kernels(); }

/// Runs pass `name` through a PassManager, so the verifier checks the result.
bool run_pass(Graph& graph, std::string_view name, passes::PassContext context = kernels()) {
  passes::PassManager manager(context);
  manager.add(name);
  return manager.run(graph);
}

/// Random f64 values in [-1, 1] for every input and parameter of `graph`.
void random_bindings(const Graph& graph, uint64_t seed, Bindings& inputs, Bindings& state) {
  testgen::SplitMix rng(seed);
  for (const auto& node : graph.nodes()) {
    if (node->kind() != OpKind::Input && node->kind() != OpKind::Parameter) continue;
    const ir::TensorType& type = node->result()->type();
    std::vector<double> values(type.num_elements());
    for (double& v : values) v = type.dtype == DType::i32 ? double(rng.between(-5, 5)) : rng.unit();
    Tensor tensor = Tensor::from_doubles(type.dtype, type.shape, values);
    (node->kind() == OpKind::Input ? inputs : state)[node->result()->name()] = tensor;
  }
}

/// Runs `pass` on `graph`, checking its outputs on random data before and after.
void run_and_compare(Graph& graph, std::string_view pass = "canonicalize",
                     passes::PassContext context = kernels(), double tolerance = 1e-12) {
  Bindings inputs, state;
  random_bindings(graph, 7, inputs, state);
  Bindings before = run_all(graph, inputs, state);
  run_pass(graph, pass, context);
  expect_close(before, run_all(graph, inputs, state), tolerance);
}

/// The op names of the graph's non-source nodes, in order.
std::vector<std::string> ops(const Graph& graph) {
  std::vector<std::string> names;
  for (const auto& node : graph.nodes())
    if (!node->info().has(ir::kSource)) names.emplace_back(node->info().name);
  return names;
}

size_t count(const Graph& graph, OpKind kind) { return graph.nodes_of(kind).size(); }

using Names = std::vector<std::string>;

TEST(Simplify, ArithmeticIdentities) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* ones = build::full(graph, x->type(), 1.0);
  Value* broadcast_one = build::broadcast(build::scalar(graph, DType::f64, 1.0), {2, 3});
  Value* zeros = build::full(graph, x->type(), 0.0);
  Value* negative_zeros = build::full(graph, x->type(), -0.0);
  graph.add_output("mul_one", build::mul(x, ones));
  graph.add_output("one_mul", build::mul(broadcast_one, x));
  graph.add_output("add_zero", build::add(x, zeros));
  graph.add_output("zero_add", build::add(negative_zeros, x));
  graph.add_output("sub_zero", build::sub(x, zeros));
  graph.add_output("div_one", build::div(x, broadcast_one));
  graph.add_output("neg_neg", build::neg(build::neg(x)));
  graph.add_output("max_self", build::max(x, x));
  graph.add_output("min_self", build::min(x, x));
  run_and_compare(graph);
  EXPECT_EQ(ops(graph), Names{});
  for (const ir::GraphOutput& output : graph.outputs()) EXPECT_EQ(output.value, x) << output.name;
  EXPECT_EQ(graph.nodes().size(), 1u) << ir::print_graph(graph);
}

TEST(Simplify, SeesConstantsThroughDataMovement) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* y = graph.add_input("y", {DType::f64, {2, 3}});
  Value* one = build::broadcast(build::scalar(graph, DType::f64, 1.0), {2, 3});
  Value* zero =
      build::transpose(build::reshape(build::full(graph, {DType::f64, {6}}, 0.0), {3, 2}), {1, 0});
  Value* condition = build::broadcast(graph.add_constant({DType::f64, {3}}, {1, -2, 4}), {2, 3});
  graph.add_output("a", build::mul(x, one));
  graph.add_output("b", build::add(zero, x));
  graph.add_output("c", build::select(condition, y, x));
  run_and_compare(graph, "simplify");  // alone: no folding of the broadcasts first
  for (const char* name : {"a", "b"}) EXPECT_EQ(graph.output(name), x) << name;
  EXPECT_EQ(graph.output("c"), y);
}

TEST(Simplify, NonIdentitiesStay) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {3}});
  graph.add_output("twice", build::mul(x, build::full(graph, x->type(), 2.0)));
  graph.add_output("zero_sub", build::sub(build::full(graph, x->type(), 0.0), x));
  graph.add_output("one_div", build::div(build::full(graph, x->type(), 1.0), x));
  graph.add_output("mixed", build::mul(x, graph.add_constant(x->type(), {1, 1, 2})));
  run_and_compare(graph);
  EXPECT_EQ(ops(graph), (Names{"mul", "sub", "div", "mul"}));
}

TEST(Simplify, FloatTimesZeroIsKept) {
  // Inf * 0 and NaN * 0 are NaN and -1 * 0 is -0: no fast-math rewrite to 0.
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {4}});
  graph.add_output("y", build::mul(x, build::full(graph, x->type(), 0.0)));
  Bindings inputs{
      {"x", Tensor::from_doubles(DType::f64, {4},
                                 {std::numeric_limits<double>::infinity(), NAN, -1, 2})}};
  Bindings state;
  Bindings before = run_all(graph, inputs, state);
  run_pass(graph, "canonicalize");
  EXPECT_EQ(ops(graph), Names{"mul"});
  Bindings after = run_all(graph, inputs, state);
  expect_close(before, after, 0);
  EXPECT_TRUE(std::isnan(after.at("y").get(0)));
  EXPECT_TRUE(std::signbit(after.at("y").get(2)));
}

TEST(Simplify, IntegerTimesZeroIsZero) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::i32, {3}});
  Value* zero = build::full(graph, x->type(), 0.0);
  graph.add_output("a", build::mul(x, zero));
  graph.add_output("b", build::mul(zero, x));
  run_and_compare(graph);
  EXPECT_EQ(ops(graph), Names{});
  EXPECT_EQ(count(graph, OpKind::Constant), 1u);
  EXPECT_EQ(graph.outputs()[0].value, graph.outputs()[1].value);
}

TEST(Simplify, TransposeOfTransposeComposesPerms) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3, 4}});
  Value* t = build::transpose(x, {1, 2, 0});  // [3, 4, 2]
  graph.add_output("back", build::transpose(t, {2, 0, 1}));
  graph.add_output("swapped", build::transpose(t, {1, 0, 2}));  // [4, 3, 2]
  graph.add_output("identity", build::transpose(x, {0, 1, 2}));
  run_and_compare(graph);
  EXPECT_EQ(ops(graph), Names{"transpose"});
  const ir::Node& left = *graph.nodes_of(OpKind::Transpose)[0];
  EXPECT_EQ(left.operand(0), x);
  EXPECT_EQ(left.attrs().get_ints("perm"), (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(graph.output("back"), x);
  EXPECT_EQ(graph.output("identity"), x);
}

TEST(Simplify, ReshapeAndBroadcastChains) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3, 4}});
  Value* v = graph.add_input("v", {DType::f64, {3}});
  graph.add_output("reshape2", build::reshape(build::reshape(x, {6, 4}), {4, 6}));
  graph.add_output("round_trip", build::reshape(build::reshape(x, {24}), {2, 3, 4}));
  graph.add_output("same_reshape", build::reshape(x, {2, 3, 4}));
  graph.add_output("same_broadcast", build::broadcast(x, {2, 3, 4}));
  graph.add_output("broadcast2", build::broadcast(build::broadcast(v, {2, 3}), {4, 2, 3}));
  run_and_compare(graph);
  EXPECT_EQ(ops(graph), (Names{"reshape", "broadcast"}));
  EXPECT_EQ(graph.output("reshape2")->producer()->operand(0), x);
  EXPECT_EQ(graph.output("broadcast2")->producer()->operand(0), v);
  for (const char* name : {"round_trip", "same_reshape", "same_broadcast"})
    EXPECT_EQ(graph.output(name), x) << name;
}

TEST(Simplify, SliceRules) {
  Graph graph;
  Value* a = graph.add_input("a", {DType::f64, {2, 3}});
  Value* b = graph.add_input("b", {DType::f64, {2, 4}});
  Value* joined = build::concat({a, b}, 1);  // [2, 7]
  graph.add_output("full", build::slice(a, {0, 0}, {2, 3}));
  graph.add_output("nested", build::slice(build::slice(b, {0, 1}, {2, 4}), {1, 1}, {2, 3}));
  graph.add_output("in_b", build::slice(joined, {0, 4}, {1, 6}));
  graph.add_output("all_of_a", build::slice(joined, {0, 0}, {2, 3}));
  graph.add_output("across", build::slice(joined, {0, 2}, {2, 5}));
  run_and_compare(graph);
  EXPECT_EQ(ops(graph), (Names{"concat", "slice", "slice", "slice"}));
  EXPECT_EQ(graph.output("full"), a);
  EXPECT_EQ(graph.output("all_of_a"), a);
  const ir::Node& nested = *graph.output("nested")->producer();
  EXPECT_EQ(nested.operand(0), b);
  EXPECT_EQ(nested.attrs().get_ints("starts"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(nested.attrs().get_ints("ends"), (std::vector<int64_t>{2, 4}));
  const ir::Node& in_b = *graph.output("in_b")->producer();
  EXPECT_EQ(in_b.operand(0), b);
  EXPECT_EQ(in_b.attrs().get_ints("starts"), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(in_b.attrs().get_ints("ends"), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(graph.output("across")->producer()->operand(0)->producer()->kind(), OpKind::Concat);
}

TEST(Simplify, ConcatCastAndSelect) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 2}});
  Value* y = graph.add_input("y", {DType::f64, {2, 2}});
  graph.add_output("concat1", build::concat({x}, 1));
  graph.add_output("cast_same", build::cast(x, DType::f64));
  graph.add_output("cast_f32", build::cast(x, DType::f32));
  graph.add_output("select_same", build::select(build::greater(x, y), x, x));
  graph.add_output("select_true",
                   build::select(graph.add_constant(x->type(), {1, 2, -1, 3}), x, y));
  graph.add_output("select_false", build::select(build::full(graph, x->type(), 0.0), x, y));
  graph.add_output("select_mixed",
                   build::select(graph.add_constant(x->type(), {1, 0, 1, 0}), x, y));
  run_and_compare(graph);
  EXPECT_EQ(ops(graph), (Names{"cast", "select"}));
  for (const char* name : {"concat1", "cast_same", "select_same", "select_true"})
    EXPECT_EQ(graph.output(name), x) << name;
  EXPECT_EQ(graph.output("select_false"), y);
}

TEST(Simplify, SumOfPadsTilingAnAxisIsAConcat) {
  Graph graph;
  Value* a = graph.add_input("a", {DType::f64, {2, 3}});
  Value* b = graph.add_input("b", {DType::f64, {2, 2}});
  Value* c = graph.add_input("c", {DType::f64, {2, 1}});
  // The gradient of slicing [2, 6] into gates of 3, 2 and 1 columns, summed in any order.
  Value* pa = build::pad(a, {0, 0}, {0, 3});
  Value* pb = build::pad(b, {0, 3}, {0, 1});
  Value* pc = build::pad(c, {0, 5}, {0, 0});
  graph.add_output("sum", build::add(pc, build::add(pa, pb)));
  // A gap (no part covers column 5) or an overlap is not a concat.
  graph.add_output("gap", build::add(pa, pb));
  graph.add_output("overlap", build::add(pa, build::pad(c, {0, 2}, {0, 3})));
  // Pads along two axes are not a concat either.
  graph.add_output("two_axes", build::add(build::pad(a, {0, 0}, {1, 3}),
                                          build::pad(graph.add_input("d", {DType::f64, {3, 6}}),
                                                     {0, 0}, {0, 0})));
  run_and_compare(graph);
  const ir::Node* concat = graph.output("sum")->producer();
  ASSERT_EQ(concat->kind(), OpKind::Concat);
  EXPECT_EQ(concat->operands(), (std::vector<Value*>{a, b, c}));
  EXPECT_EQ(concat->attrs().get_int("axis"), 1);
  for (const char* name : {"gap", "overlap", "two_axes"})
    EXPECT_EQ(graph.output(name)->producer()->kind(), OpKind::Add) << name;
}

TEST(Cse, MergesEqualNodesAndCommutedOperands) {
  Graph graph;
  Value* a = graph.add_input("a", {DType::f64, {2, 2}});
  Value* b = graph.add_input("b", {DType::f64, {2, 2}});
  graph.add_output("s1", build::add(a, b));
  graph.add_output("s2", build::add(b, a));
  graph.add_output("d1", build::sub(a, b));
  graph.add_output("d2", build::sub(b, a));
  graph.add_output("t1", build::transpose(a, {1, 0}));
  graph.add_output("t2", build::transpose(a, {1, 0}));
  graph.add_output("m1", build::matmul(a, b));
  graph.add_output("m2", build::matmul(a, b, false, true));
  graph.add_output("u1", build::tanh(build::add(a, b)));
  graph.add_output("u2", build::tanh(build::add(b, a)));
  run_and_compare(graph, "cse");
  EXPECT_EQ(graph.output("s1"), graph.output("s2"));
  EXPECT_NE(graph.output("d1"), graph.output("d2"));
  EXPECT_EQ(graph.output("t1"), graph.output("t2"));
  EXPECT_NE(graph.output("m1"), graph.output("m2"));
  EXPECT_EQ(graph.output("u1"), graph.output("u2"));
  run_pass(graph, "dce");
  EXPECT_EQ(ops(graph), (Names{"add", "sub", "sub", "transpose", "matmul", "matmul", "tanh"}));
}

TEST(Cse, NeverMergesInputsOrParameters) {
  Graph graph;
  Value* a = graph.add_input("a", {DType::f64, {3}});
  Value* b = graph.add_input("b", {DType::f64, {3}});
  Value* p = graph.add_parameter("p", {DType::f64, {3}}, "zeros");
  Value* q = graph.add_parameter("q", {DType::f64, {3}}, "zeros");
  graph.add_output("y", build::add(build::add(a, b), build::add(p, q)));
  EXPECT_FALSE(run_pass(graph, "cse"));
  run_and_compare(graph);
  EXPECT_EQ(count(graph, OpKind::Input), 2u);
  EXPECT_EQ(count(graph, OpKind::Parameter), 2u);
}

TEST(Cse, MergesEqualConstantsButNotSignedZeros) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {3}});
  Value* c1 = graph.add_constant(x->type(), {1, 2, 3});
  Value* c2 = graph.add_constant(x->type(), {1, 2, 3});
  Value* splat = graph.add_constant(x->type(), {2});
  Value* expanded = graph.add_constant(x->type(), {2, 2, 2});
  Value* other_type = graph.add_constant({DType::f32, {3}}, {1, 2, 3});
  Value* zero = graph.add_constant(x->type(), {0});
  Value* negative_zero = graph.add_constant(x->type(), {-0.0});
  graph.add_output("a", build::pow(x, c1));
  graph.add_output("b", build::pow(x, c2));
  graph.add_output("c", build::pow(x, splat));
  graph.add_output("d", build::pow(x, expanded));
  graph.add_output("e", build::cast(other_type, DType::f64));
  graph.add_output("f", build::div(build::full(graph, x->type(), 1.0), build::sub(zero, x)));
  graph.add_output("g",
                   build::div(build::full(graph, x->type(), 1.0), build::sub(negative_zero, x)));
  run_and_compare(graph);
  EXPECT_EQ(graph.output("a"), graph.output("b"));
  EXPECT_EQ(graph.output("c"), graph.output("d"));
  EXPECT_NE(graph.output("f"), graph.output("g"));
  EXPECT_EQ(count(graph, OpKind::Pow), 2u);
  EXPECT_EQ(count(graph, OpKind::Sub), 2u);
}

TEST(Dce, RemovesWhatReachesNoOutputOrUpdate) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2}});
  graph.add_input("unused", {DType::f64, {2}});
  Value* p = graph.add_parameter("p", {DType::f64, {2}}, "zeros");
  graph.add_parameter("frozen", {DType::f64, {2}}, "zeros");
  build::exp(build::tanh(x));          // dead chain
  graph.add_constant(x->type(), {5});  // dead constant
  graph.add_update(p, build::sub(p, build::sigmoid(x)));
  graph.add_output("y", build::relu(x));
  run_and_compare(graph, "dce");
  EXPECT_EQ(ops(graph), (Names{"sigmoid", "sub", "relu"}));
  EXPECT_EQ(count(graph, OpKind::Input), 2u);
  EXPECT_EQ(count(graph, OpKind::Parameter), 2u);
  EXPECT_EQ(count(graph, OpKind::Constant), 0u);
  EXPECT_FALSE(run_pass(graph, "dce"));
}

TEST(FoldConstants, FoldsConstantSubgraphsWithTheKernels) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* c1 = graph.add_constant(x->type(), {0.5, -1, 2, 0.25, 3, -2});
  Value* c2 = graph.add_constant({DType::f64, {3, 3}}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Value* folded = build::matmul(build::tanh(c1), c2);
  Value* iota =
      graph.add_node(OpKind::Iota, {}, {{"axis", int64_t{1}}}, {{DType::f64, {2, 3}}})->result();
  graph.add_output("y", build::add(x, build::add(folded, iota)));
  run_and_compare(graph);
  EXPECT_EQ(ops(graph), Names{"add"});
  const ir::Node& constant = *graph.nodes_of(OpKind::Constant)[0];
  std::vector<double> values = constant.attrs().get_floats("value");
  ASSERT_EQ(values.size(), 6u);
  // Row 0 of tanh(c1) x c2, plus iota along axis 1, computed independently.
  double t0 = std::tanh(0.5), t1 = std::tanh(-1.0), t2 = std::tanh(2.0);
  EXPECT_DOUBLE_EQ(values[0], t0 * 1 + t1 * 4 + t2 * 7 + 0);
  EXPECT_DOUBLE_EQ(values[2], t0 * 3 + t1 * 6 + t2 * 9 + 2);
}

TEST(FoldConstants, RespectsTheSizeLimitExceptForSplats) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {4, 4}});
  std::vector<double> values(16);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.1 * double(i);
  Value* big = graph.add_constant(x->type(), values);
  Value* big_splat = build::broadcast(build::scalar(graph, DType::f64, 0.5), {4, 4});
  graph.add_output("a", build::add(x, build::tanh(big)));
  graph.add_output("b", build::add(x, build::exp(big_splat)));
  passes::PassContext context = kernels();
  context.fold_limit_elements = 8;
  run_and_compare(graph, "canonicalize", context);
  EXPECT_EQ(ops(graph), (Names{"tanh", "add", "add"}));
  const ir::Node& splat = *graph.output("b")->producer()->operand(1)->producer();
  ASSERT_EQ(splat.kind(), OpKind::Constant);
  EXPECT_EQ(splat.attrs().get_floats("value"), std::vector<double>{std::exp(0.5)});
}

TEST(FoldConstants, DataMovementOfSplats) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 2}});
  Value* two = build::full(graph, {DType::f64, {2, 1}}, 2.0);
  Value* three = build::full(graph, {DType::f64, {2, 1}}, 3.0);
  Value* also_two = graph.add_constant({DType::f64, {2, 1}}, {2, 2});
  graph.add_output("mixed", build::add(x, build::concat({two, three}, 1)));
  graph.add_output("same", build::add(x, build::concat({two, also_two}, 1)));
  Value* moved = build::transpose(build::reshape(three, {1, 2}), {1, 0});  // [2, 1]
  graph.add_output("moved", build::add(x, build::broadcast(moved, {2, 2})));
  passes::PassContext context = kernels();
  context.fold_limit_elements = 1;  // only splats fold
  run_and_compare(graph, "canonicalize", context);
  EXPECT_EQ(ops(graph), (Names{"concat", "add", "add", "add"}));
  auto constant_of = [&](const char* output) {
    return graph.output(output)->producer()->operand(1)->producer()->attrs().get_floats("value");
  };
  EXPECT_EQ(constant_of("same"), std::vector<double>{2});
  EXPECT_EQ(constant_of("moved"), std::vector<double>{3});
  run_pass(graph, "canonicalize");  // without the limit the concat folds too
  EXPECT_EQ(constant_of("mixed"), (std::vector<double>{2, 3, 2, 3}));
}

TEST(FoldConstants, BadDataIsLeftForRunTime) {
  Graph graph;
  Value* table = graph.add_constant({DType::f64, {3, 2}}, {1, 2, 3, 4, 5, 6});
  Value* indices = graph.add_constant({DType::i32, {1}}, {5});
  Value* n = graph.add_constant({DType::i32, {2}}, {7, 8});
  graph.add_output("row", build::gather(table, indices));
  graph.add_output("quotient", build::div(n, build::full(graph, n->type(), 0)));
  run_pass(graph, "canonicalize");
  EXPECT_EQ(ops(graph), (Names{"gather", "div"}));
  Bindings inputs, state;
  EXPECT_THROW(interp::run_graph(graph, inputs, state), Error);
}

TEST(FoldConstants, NeedsAnEvaluator) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {3}});
  Value* c = graph.add_constant(x->type(), {1, 2, 3});
  graph.add_output("y",
                   build::mul(build::add(x, build::tanh(c)), build::full(graph, x->type(), 1)));
  run_and_compare(graph, "canonicalize", passes::PassContext{});
  EXPECT_EQ(ops(graph), (Names{"tanh", "add"}));
}

/// A scan whose body holds identities, duplicates, a constant subgraph, dead nodes and an
/// unused invariant.
std::vector<Value*> add_messy_scan(Graph& graph, Value* xs, Value* h0, Value* w, Value* unused) {
  ir::ScanBuilder scan(graph, "step");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  Value* wi = scan.invariant(w, "w");
  scan.invariant(unused, "unused");
  Graph& body = scan.body();
  Value* one = build::full(body, h->type(), 1.0);
  Value* folded = build::tanh(build::add(one, build::full(body, h->type(), 0.5)));
  Value* a = build::mul(build::mul(h, one), wi);
  Value* b = build::mul(wi, h);
  build::exp(a);  // dead
  Value* next = build::tanh(build::add(build::add(a, b), build::add(x, folded)));
  scan.set_next(h, next);
  scan.add_output("y", build::neg(build::neg(next)));
  return scan.finish();
}

TEST(CanonicalizeScan, RewritesBodiesKeepingTheirInterface) {
  Graph graph;
  Value* xs = graph.add_input("xs", {DType::f64, {5, 2, 3}});
  Value* h0 = graph.add_input("h0", {DType::f64, {2, 3}});
  Value* w = graph.add_parameter("w", {DType::f64, {2, 3}}, "zeros");
  Value* u = graph.add_parameter("u", {DType::f64, {4}}, "zeros");
  std::vector<Value*> results = add_messy_scan(graph, xs, h0, w, u);
  graph.add_output("h", results[0]);
  graph.add_output("ys", results[1]);
  add_messy_scan(graph, xs, h0, w, u);  // a dead scan
  run_and_compare(graph);
  ASSERT_EQ(count(graph, OpKind::Scan), 1u);
  const Graph& body = graph.nodes_of(OpKind::Scan)[0]->body();
  std::vector<std::string> inputs;
  for (const ir::Node* input : body.nodes_of(OpKind::Input))
    inputs.push_back(input->result()->name());
  EXPECT_EQ(inputs, (Names{"h", "x", "w", "unused"}));
  EXPECT_EQ(body.outputs().size(), 2u);
  EXPECT_EQ(ops(body), (Names{"mul", "add", "add", "add", "tanh"})) << ir::print_graph(body);
  EXPECT_EQ(body.outputs()[0].value, body.outputs()[1].value);
}

TEST(CanonicalizeScan, MergesEqualScans) {
  Graph graph;
  Value* xs = graph.add_input("xs", {DType::f64, {3, 2, 3}});
  Value* h0 = graph.add_input("h0", {DType::f64, {2, 3}});
  Value* w = graph.add_parameter("w", {DType::f64, {2, 3}}, "zeros");
  Value* u = graph.add_parameter("u", {DType::f64, {4}}, "zeros");
  Value* first = add_messy_scan(graph, xs, h0, w, u)[0];
  Value* second = add_messy_scan(graph, xs, h0, w, u)[0];
  // Same operands, another body: not merged.
  ir::ScanBuilder other(graph, "step");
  Value* h = other.carry(h0, "h");
  Value* x = other.sequence(xs, "x");
  Value* wi = other.invariant(w, "w");
  other.invariant(u, "unused");
  other.set_next(h, build::tanh(build::add(build::mul(h, wi), build::neg(x))));
  other.add_output("y", x);
  Value* third = other.finish()[0];
  graph.add_output("y", build::add(first, second));
  graph.add_output("z", third);
  run_and_compare(graph);
  EXPECT_EQ(count(graph, OpKind::Scan), 2u);
  EXPECT_EQ(graph.output("y")->producer()->operand(0), graph.output("y")->producer()->operand(1));
}

/// The property every canonicalization pass must have on random graphs: outputs and updated
/// state unchanged (1e-9 relative), the result verifies (run_pass), and, for canonicalize, a
/// second run changes nothing. Returns how many graphs the pass changed.
int check_random_graphs(std::string_view pass, int count, bool idempotent) {
  int changed = 0;
  for (int seed = 0; seed < count; ++seed) {
    testgen::RandomGraph random = testgen::make_random_graph(seed);
    Graph& graph = *random.graph;
    std::string context = "seed " + std::to_string(seed) + ": ";
    EXPECT_NO_THROW(ir::verify(graph)) << context;
    Bindings before = run_all(graph, random.inputs, random.state);
    std::string original = ir::print_graph(graph);
    bool did_change = false;
    try {
      did_change = run_pass(graph, pass);
    } catch (const Error& error) {
      ADD_FAILURE() << context << error.what() << "\n" << original;
      continue;
    }
    changed += did_change;
    EXPECT_EQ(did_change, ir::print_graph(graph) != original) << context;
    expect_close(before, run_all(graph, random.inputs, random.state), 1e-9, context);
    if (!idempotent) continue;
    std::string once = ir::print_graph(graph);
    EXPECT_FALSE(run_pass(graph, pass)) << context;
    EXPECT_EQ(ir::print_graph(graph), once) << context;
  }
  return changed;
}

TEST(CanonicalizeProperty, RandomGraphsKeepTheirOutputsAndReachAFixedPoint) {
  constexpr int kGraphs = 200;
  int changed = check_random_graphs("canonicalize", kGraphs, /*idempotent=*/true);
  // The generator plants identities, duplicates, dead nodes and constants in every graph.
  EXPECT_EQ(changed, kGraphs);
}

TEST(CanonicalizeProperty, EachPartKeepsOutputsOnRandomGraphs) {
  for (const char* pass : {"simplify", "fold-constants", "cse", "dce"})
    EXPECT_GT(check_random_graphs(pass, 40, /*idempotent=*/false), 20) << pass;
}

TEST(RandomGraph, IsSeededAndVaried) {
  EXPECT_EQ(ir::print_graph(*testgen::make_random_graph(3).graph),
            ir::print_graph(*testgen::make_random_graph(3).graph));
  EXPECT_NE(ir::print_graph(*testgen::make_random_graph(3).graph),
            ir::print_graph(*testgen::make_random_graph(4).graph));
  int scans = 0, matmuls = 0, concats = 0;
  for (int seed = 0; seed < 60; ++seed) {
    auto random = testgen::make_random_graph(seed);
    scans += !random.graph->nodes_of(OpKind::Scan).empty();
    matmuls += !random.graph->nodes_of(OpKind::MatMul).empty();
    concats += !random.graph->nodes_of(OpKind::Concat).empty();
  }
  EXPECT_GT(scans, 15);
  EXPECT_GT(matmuls, 15);
  EXPECT_GT(concats, 15);
}

}  // namespace
}  // namespace rnnc
