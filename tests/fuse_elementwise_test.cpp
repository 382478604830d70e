// The fuse-elementwise pass (passes/fuse_elementwise.h): the structure it makes (the lecture
// LSTM's gate math, an Adam update, a hand-built cell), numbers unchanged on random graphs
// and the committed models (f64, 1e-12 relative), idempotence and acyclicity.
#include "passes/fuse_elementwise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "codegen/interp/constant_evaluator.h"
#include "codegen/interp/interpreter.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "passes/pass_manager.h"
#include "tests/support/compare.h"
#include "tests/support/random_graph.h"

namespace rnnc {
namespace {

namespace fs = std::filesystem;
using namespace ir;

/// Values in [-1, 1] for every float input and parameter; i32 inputs get 1 (a valid index
/// and a valid length in every committed model).
void bind_all(const Graph& graph, uint64_t seed, Bindings& inputs, Bindings& state) {
  testgen::SplitMix rng(seed);
  for (const auto& node : graph.nodes()) {
    if (node->kind() != OpKind::Input && node->kind() != OpKind::Parameter) continue;
    const TensorType& type = node->result()->type();
    std::vector<double> values(type.num_elements());
    for (double& v : values) v = type.dtype == DType::i32 ? 1.0 : rng.unit();
    (node->kind() == OpKind::Input ? inputs : state)[node->result()->name()] =
        Tensor::from_doubles(type.dtype, type.shape, values);
  }
}

using testcmp::run_all;

/// Every element equal within 1e-12 relative (see testcmp::expect_close).
void expect_close(const Bindings& expected, const Bindings& actual, const std::string& context) {
  testcmp::expect_close(expected, actual, 1e-12, context);
}

/// Fuses `graph`, checking that it verifies, computes the same numbers, that a second run
/// changes nothing and that its text IR reads back.
void fuse_and_compare(Graph& graph, const Bindings& inputs, const Bindings& state,
                      const std::string& context) {
  Bindings before = run_all(graph, inputs, state);
  passes::fuse_elementwise(graph, {});
  ASSERT_NO_THROW(verify(graph)) << context << print_graph(graph);
  expect_close(before, run_all(graph, inputs, state), context);
  std::string once = print_graph(graph);
  EXPECT_FALSE(passes::fuse_elementwise(graph, {})) << context;
  EXPECT_EQ(print_graph(graph), once) << context;
  // The fused graph survives the text IR.
  EXPECT_EQ(print_graph(*parse_graph(once, "fused.rnn")), once) << context;
}

size_t count_elementwise(const Graph& graph) {
  return std::count_if(graph.nodes().begin(), graph.nodes().end(),
                       [](const auto& node) { return node->info().has(kElementwise); });
}

TEST(FuseElementwise, ChainBecomesOneNodeWithSplatConstantsInside) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* b = graph.add_input("b", {DType::f64, {3}});
  Value* y = build::mul(build::sigmoid(build::add(x, build::broadcast(b, {2, 3}))),
                        build::full(graph, {DType::f64, {2, 3}}, 3.0));
  graph.add_output("y", build::tanh(y));
  graph.add_output("s", build::reduce_sum(y, {0}));
  Bindings inputs{{"x", Tensor::from_doubles(DType::f64, {2, 3}, {1, -2, 3, 0.5, 0, -1})},
                  {"b", Tensor::from_doubles(DType::f64, {3}, {0.25, -0.5, 2})}};
  fuse_and_compare(graph, inputs, {}, "chain: ");
  std::vector<Node*> fused = graph.nodes_of(OpKind::Fused);
  ASSERT_EQ(fused.size(), 1u) << print_graph(graph);
  EXPECT_EQ(count_elementwise(graph), 0u);
  EXPECT_EQ(graph.nodes_of(OpKind::Broadcast).size(), 0u);
  EXPECT_EQ(graph.nodes_of(OpKind::Constant).size(), 0u) << "the splat moves into the body";
  // Operands x and b; results: y (read by the reduction) and tanh(y) (an output).
  EXPECT_EQ(fused[0]->operands().size(), 2u);
  EXPECT_EQ(fused[0]->num_results(), 2u);
  EXPECT_EQ(fused[0]->body().nodes_of(OpKind::Constant).size(), 1u);
}

TEST(FuseElementwise, SingleOpsAndOtherShapesStayAlone) {
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* e = build::exp(x);
  Value* s = build::reduce_sum(e, {1});
  graph.add_output("y", build::neg(s));
  EXPECT_FALSE(passes::fuse_elementwise(graph, {}));
  EXPECT_EQ(graph.nodes_of(OpKind::Fused).size(), 0u);
}

TEST(FuseElementwise, NoCycleThroughAnUnfusedNode) {
  // a = exp(x); r = reduce+broadcast of a (not fusible with a); c = a * r. Fusing {a, c}
  // would need r both after and before the group, so they stay apart.
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* a = build::tanh(build::exp(x));
  Value* r = build::broadcast(build::reduce_sum(a, {0, 1}), {2, 3});
  graph.add_output("y", build::sub(build::mul(a, r), x));
  Bindings inputs{{"x", Tensor::from_doubles(DType::f64, {2, 3}, {1, -2, 3, 0.5, 0, -1})}};
  fuse_and_compare(graph, inputs, {}, "cycle: ");
  EXPECT_EQ(graph.nodes_of(OpKind::Fused).size(), 2u) << print_graph(graph);
}

TEST(FuseElementwise, SiblingsReadingOneValueJoin) {
  // Two chains of one shape reading x (a backward step's gate gradients all read dh) become one
  // node; a chain of another shape reading x, and one that a product of the first feeds
  // (joining would make a cycle), stay apart.
  Graph graph;
  Value* x = graph.add_input("x", {DType::f64, {2, 3}});
  Value* y = graph.add_input("y", {DType::f64, {2, 3}});
  Value* w = graph.add_input("w", {DType::f64, {3, 3}});
  Value* first = build::tanh(build::mul(x, y));
  Value* second = build::sigmoid(build::add(x, y));
  Value* wide = build::exp(build::neg(build::broadcast(x, {4, 2, 3})));
  Value* after = build::sub(build::tanh(x), build::matmul(first, w));
  graph.add_output("first", first);
  graph.add_output("second", second);
  graph.add_output("wide", wide);
  graph.add_output("after", after);
  Bindings inputs{
      {"x", Tensor::from_doubles(DType::f64, {2, 3}, {1, -2, 3, 0.5, 0, -1})},
      {"y", Tensor::from_doubles(DType::f64, {2, 3}, {0.5, 1, -1, 2, 0.25, 3})},
      {"w", Tensor::from_doubles(DType::f64, {3, 3}, {1, 0.5, -1, 0, 2, 1, -0.5, 1, 0.25})}};
  fuse_and_compare(graph, inputs, {}, "siblings: ");
  std::vector<Node*> fused = graph.nodes_of(OpKind::Fused);
  ASSERT_EQ(fused.size(), 3u) << print_graph(graph);
  EXPECT_EQ(graph.output("first")->producer(), graph.output("second")->producer())
      << print_graph(graph);
  EXPECT_NE(graph.output("first")->producer(), graph.output("after")->producer());
  EXPECT_NE(graph.output("first")->producer(), graph.output("wide")->producer());
}

TEST(FuseElementwise, LectureLstmGateMathInAtMostTwoNodes) {
  nn::Model model(DType::f64, 3);
  nn::RecurrentConfig config;
  config.cell = nn::CellKind::LectureLstm;
  config.input_size = 3;
  config.hidden_size = 4;
  config.gates.peepholes = true;
  nn::Recurrent rnn(model, "rnn", config);
  Value* x = model.input("x", {5, 2, 3});
  nn::RecurrentResult result = rnn(x);
  Graph& graph = model.graph();
  graph.add_output("y", result.outputs);
  graph.add_output("c", result.c_n);
  Bindings inputs, state;
  bind_all(graph, 11, inputs, state);
  fuse_and_compare(graph, inputs, state, "lstm: ");
  std::vector<Node*> scans = graph.nodes_of(OpKind::Scan);
  ASSERT_EQ(scans.size(), 1u);
  const Graph& body = scans[0]->body();
  EXPECT_LE(body.nodes_of(OpKind::Fused).size(), 2u) << print_graph(body);
  EXPECT_GE(body.nodes_of(OpKind::Fused).size(), 1u);
  EXPECT_EQ(count_elementwise(body), 0u) << print_graph(body);
}

TEST(FuseElementwise, AdamUpdateBecomesFewNodes) {
  nn::Model model(DType::f64, 5);
  Value* w = model.graph().add_parameter("w", {DType::f64, {3, 4}}, "zeros");
  Value* b = model.graph().add_parameter("b", {DType::f64, {4}}, "zeros");
  Value* x = model.input("x", {2, 3});
  Value* y = build::tanh(build::add(build::matmul(x, w), build::broadcast(b, {2, 4})));
  Value* loss = build::reduce_mean(build::mul(y, y), {0, 1});
  nn::TrainingConfig training;
  training.optimizer = nn::OptimizerConfig::defaults(nn::OptimizerKind::adam);
  nn::make_training_step(model.graph(), loss, training);
  Graph& graph = model.graph();
  Bindings inputs, state;
  bind_all(graph, 13, inputs, state);
  size_t elementwise_before = count_elementwise(graph);
  fuse_and_compare(graph, inputs, state, "adam: ");
  size_t fused = graph.nodes_of(OpKind::Fused).size();
  EXPECT_GE(fused, 2u);
  EXPECT_LE(fused, 8u) << print_graph(graph);
  EXPECT_LE(count_elementwise(graph), 2u) << "of " << elementwise_before << "\n"
                                          << print_graph(graph);
  // Each parameter's update (and its moments) comes from one fused node.
  for (const GraphUpdate& update : graph.updates())
    EXPECT_EQ(update.new_value->producer()->kind(), OpKind::Fused) << update.parameter->name();
}

/// A user's own cell built with ir::ScanBuilder: a gated blend of h and tanh(x) with a
/// per-feature invariant. Outputs "h" and "ys"; inputs xs, h0 and a.
std::unique_ptr<Graph> hand_built_cell() {
  auto graph = std::make_unique<Graph>("cell");
  Value* xs = graph->add_input("xs", {DType::f64, {4, 2, 3}});
  Value* h0 = graph->add_input("h0", {DType::f64, {2, 3}});
  Value* a = graph->add_input("a", {DType::f64, {3}});
  ScanBuilder scan(*graph, "cell");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  Value* alpha = scan.invariant(a, "alpha");
  Value* gate = build::sigmoid(build::mul(x, build::broadcast(alpha, {2, 3})));
  Value* next =
      build::add(build::mul(gate, h),
                 build::mul(build::sub(build::full_like(gate, 1.0), gate), build::tanh(x)));
  scan.set_next(h, next);
  scan.add_output("y", build::relu(next));
  std::vector<Value*> results = scan.finish();
  graph->add_output("h", results[0]);
  graph->add_output("ys", results[1]);
  return graph;
}

TEST(FuseElementwise, HandBuiltCellInAScan) {
  std::unique_ptr<Graph> graph = hand_built_cell();
  Bindings inputs, state;
  bind_all(*graph, 17, inputs, state);
  fuse_and_compare(*graph, inputs, state, "cell: ");
  const Graph& body = graph->nodes_of(OpKind::Scan)[0]->body();
  ASSERT_EQ(body.nodes_of(OpKind::Fused).size(), 1u) << print_graph(body);
  EXPECT_EQ(body.nodes_of(OpKind::Fused)[0]->num_results(), 2u);
  EXPECT_EQ(count_elementwise(body), 0u);
}

// Backpropagation through a scan whose body holds a Fused node (the scan rule differentiates
// the body, the fused rule the node in it) gives the gradients of the unfused graph.
TEST(FuseElementwise, GradientsThroughAFusedScanBodyAreUnchanged) {
  auto gradients = [](bool fuse) {
    std::unique_ptr<Graph> graph = hand_built_cell();
    if (fuse) passes::fuse_elementwise(*graph, {});
    Value* ys = graph->output("ys");
    Value* loss = build::reduce_sum(build::mul(ys, build::tanh(ys)), {0, 1, 2});
    std::vector<Value*> wrt = {graph->find("xs"), graph->find("h0"), graph->find("a")};
    std::vector<Value*> grads = passes::append_gradients(*graph, loss, wrt);
    for (size_t i = 0; i < grads.size(); ++i) graph->add_output("d" + wrt[i]->name(), grads[i]);
    verify(*graph);
    Bindings inputs, state;
    bind_all(*graph, 29, inputs, state);
    return interp::run_graph(*graph, inputs, state);
  };
  Bindings plain = gradients(false), fused = gradients(true);
  expect_close(plain, fused, "gradients: ");
}

TEST(FuseElementwiseProperty, RandomGraphsKeepTheirNumbers) {
  size_t fused_nodes = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    testgen::RandomGraph random = testgen::make_random_graph(seed);
    fuse_and_compare(*random.graph, random.inputs, random.state,
                     "seed " + std::to_string(seed) + ": ");
    if (testing::Test::HasFatalFailure()) return;
    fused_nodes += random.graph->nodes_of(OpKind::Fused).size();
  }
  EXPECT_GE(fused_nodes, 200u) << "the random graphs should exercise the pass";
}

/// The committed models the interpreter runs in about a second or less; the others
/// (names_gru.*, char_lstm.train: 4 to 24 s per run) are checked for structure only, to keep
/// the suite fast.
bool cheap_to_interpret(const std::string& file) {
  return file != "names_gru.forward.rnn" && file != "names_gru.train.rnn" &&
         file != "char_lstm.train.rnn";
}

TEST(FuseElementwiseProperty, CommittedModelsKeepTheirNumbers) {
  fs::path models = fs::path(RNNC_SOURCE_DIR) / "examples" / "models";
  int interpreted = 0, checked = 0;
  for (const auto& entry : fs::directory_iterator(models)) {
    if (entry.path().extension() != ".rnn") continue;
    const std::string file = entry.path().filename().string();
    std::unique_ptr<Graph> graph = parse_graph_file(entry.path().string());
    size_t before = count_elementwise(*graph);
    if (cheap_to_interpret(file)) {
      Bindings inputs, state;
      bind_all(*graph, 19, inputs, state);
      fuse_and_compare(*graph, inputs, state, file + ": ");
      ++interpreted;
    } else {
      EXPECT_TRUE(passes::fuse_elementwise(*graph, {})) << file;
      ASSERT_NO_THROW(verify(*graph)) << file;
      std::string once = print_graph(*graph);
      EXPECT_FALSE(passes::fuse_elementwise(*graph, {})) << file;
      EXPECT_EQ(print_graph(*graph), once) << file;
    }
    EXPECT_LT(count_elementwise(*graph), before) << file;
    EXPECT_FALSE(graph->nodes_of(OpKind::Fused).empty() && graph->nodes_of(OpKind::Scan).empty())
        << file;
    ++checked;
  }
  EXPECT_EQ(checked, 10);
  EXPECT_EQ(interpreted, 7);
}

/// The pass as passes.def registers it (PASS("fuse-elementwise", ...)), for a PassManager
/// pipeline that verifies after each pass.
const passes::PassInfo kFuseElementwise{
    "fuse-elementwise", passes::fuse_elementwise,
    "maximal groups of elementwise ops (and their broadcasts) become Fused nodes"};

// The O1 pipeline with fusion after canonicalization.
TEST(FuseElementwiseProperty, CanonicalizeThenFuseKeepsCommittedModelsNumbers) {
  fs::path models = fs::path(RNNC_SOURCE_DIR) / "examples" / "models";
  for (const auto& entry : fs::directory_iterator(models)) {
    const std::string file = entry.path().filename().string();
    if (entry.path().extension() != ".rnn" || !cheap_to_interpret(file)) continue;
    std::unique_ptr<Graph> graph = parse_graph_file(entry.path().string());
    Bindings inputs, state;
    bind_all(*graph, 23, inputs, state);
    Bindings before = run_all(*graph, inputs, state);
    passes::PassManager manager(interp::pass_context_with_kernels());
    manager.add_pipeline("canonicalize");
    manager.add(kFuseElementwise);
    manager.run(*graph);
    EXPECT_FALSE(graph->nodes_of(OpKind::Fused).empty() && graph->nodes_of(OpKind::Scan).empty())
        << file;
    expect_close(before, run_all(*graph, inputs, state), file + ": ");
  }
}

TEST(FuseElementwiseProperty, RandomGraphsAfterCanonicalize) {
  size_t fused_nodes = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    testgen::RandomGraph random = testgen::make_random_graph(seed);
    passes::PassManager manager(interp::pass_context_with_kernels());
    manager.add_pipeline("canonicalize");
    manager.run(*random.graph);
    fuse_and_compare(*random.graph, random.inputs, random.state,
                     "seed " + std::to_string(seed) + ": ");
    if (testing::Test::HasFatalFailure()) return;
    fused_nodes += random.graph->nodes_of(OpKind::Fused).size();
  }
  EXPECT_GE(fused_nodes, 100u) << "the random graphs should exercise the pass";
}

}  // namespace
}  // namespace rnnc
