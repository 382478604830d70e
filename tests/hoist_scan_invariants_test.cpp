// hoist-scan-invariants (passes/hoist_scan_invariants.h): the structure it leaves (no input
// projection in a forward body, no weight-gradient accumulator in a backward body, one matmul
// per weight gradient after the loop) and unchanged numbers (interpreter, f64) on every cell
// kind, both directions, lengths, bidirectional stacks, training graphs, users' own cells and
// random graphs; idempotence; node counts independent of T; weight gradients leave the loop
// after fuse-matmuls too (sliced products).
#include "passes/hoist_scan_invariants.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <string>

#include "codegen/interp/interpreter.h"
#include "frontend/cells.h"
#include "frontend/recurrent.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "passes/canonicalize.h"
#include "passes/fuse_matmuls.h"
#include "runtime/initializers.h"
#include "tests/support/random_graph.h"
#include "tests/support/random_values.h"

namespace rnnc {
namespace {

using testrand::random_values;

using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;
using nn::CellKind;
namespace build = ir::build;

bool run_pass(Graph& graph) {
  bool changed = passes::hoist_scan_invariants(graph, passes::PassContext{});
  ir::verify(graph);
  return changed;
}

/// Every output and updated parameter of `before` equals that of `after` within 1e-12
/// relative (sums are reassociated by the rewrite, nothing else changes).
void expect_same_results(const Bindings& before, const Bindings& after) {
  ASSERT_EQ(before.size(), after.size());
  for (const auto& [name, tensor] : before) {
    ASSERT_TRUE(after.count(name)) << name;
    std::vector<double> a = tensor.to_doubles(), b = after.at(name).to_doubles();
    ASSERT_EQ(a.size(), b.size()) << name;
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(b[i], a[i], 1e-12 * std::max(1.0, std::abs(a[i]))) << name << "[" << i << "]";
  }
}

/// A graph with the data to run it: runs it before and after the pass and compares.
struct Problem {
  std::unique_ptr<Graph> owned;      // a graph built directly,
  std::unique_ptr<nn::Model> model;  // or the model that owns it
  Graph* graph = nullptr;
  Bindings inputs, state;

  Bindings run() const {
    Bindings s = state;
    Bindings outputs = interp::run_graph(*graph, inputs, s);
    for (const auto& [name, tensor] : s) outputs["state:" + name] = tensor;
    return outputs;
  }
  /// Runs the pass; expects it to change the graph and leave every number as it was.
  void expect_pass_keeps_numbers() {
    Bindings before = run();
    EXPECT_TRUE(run_pass(*graph));
    expect_same_results(before, run());
  }
};

/// Total nodes of `graph` and its bodies.
size_t count_nodes(const Graph& graph) {
  size_t count = 0;
  for (const auto& node : graph.nodes()) {
    ++count;
    for (const auto& body : node->bodies()) count += count_nodes(*body);
  }
  return count;
}

/// Values of `body` that depend on one of its carry inputs.
std::set<const Value*> carry_dependent(const Node& scan) {
  const Graph& body = scan.body();
  size_t num_carry = scan.attrs().get_int("num_carry");
  std::set<const Value*> varying;
  std::vector<Node*> inputs = body.nodes_of(OpKind::Input);
  for (size_t k = 0; k < num_carry; ++k) varying.insert(inputs[k]->result());
  for (const auto& node : body.nodes())
    for (const Value* operand : node->operands())
      if (varying.count(operand))
        for (size_t r = 0; r < node->num_results(); ++r) varying.insert(node->result(r));
  return varying;
}

// ---- Models from nn::Recurrent. ----

struct ModelCase {
  std::string name;
  nn::RecurrentConfig config;
};

nn::RecurrentConfig config_of(CellKind cell, bool bidirectional = false, int64_t layers = 1) {
  nn::RecurrentConfig config;
  config.cell = cell;
  config.input_size = 3;
  config.hidden_size = 4;
  config.bidirectional = bidirectional;
  config.num_layers = layers;
  return config;
}

void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

std::vector<ModelCase> model_cases() {
  nn::RecurrentConfig lecture_all = config_of(CellKind::LectureLstm);
  lecture_all.gates.peepholes = true;
  nn::RecurrentConfig lecture_forget = config_of(CellKind::LectureLstm);
  lecture_forget.gates = nn::LstmGates::parse("forget+output");
  return {{"rnn_tanh", config_of(CellKind::RnnTanh)},
          {"rnn_relu", config_of(CellKind::RnnRelu)},
          {"lstm", config_of(CellKind::Lstm)},
          {"gru", config_of(CellKind::Gru)},
          {"lecture_lstm_peepholes", lecture_all},
          {"lecture_lstm_forget_output", lecture_forget},
          {"lecture_gru", config_of(CellKind::LectureGru)},
          {"lstm_bidirectional_2_layers", config_of(CellKind::Lstm, true, 2)},
          {"gru_bidirectional", config_of(CellKind::Gru, true)}};
}

/// `config` over T = `steps`, B = 3 (with lengths 3, steps, 1 when `lengths`), f64; with
/// `training`, the gradients of a weighted loss with respect to every weight and the input
/// are outputs too.
Problem recurrent_problem(const nn::RecurrentConfig& config, int64_t steps, bool lengths,
                          bool training) {
  const int64_t batch = 3;
  auto model = std::make_unique<nn::Model>(ir::DType::f64, 11);
  nn::Recurrent rnn(*model, "rnn", config);
  Problem p;
  Value* x = model->input("x", {steps, batch, config.input_size});
  p.inputs["x"] =
      Tensor::from_doubles(ir::DType::f64, x->shape(), random_values(x->type().num_elements(), 5));
  Value* length_input = nullptr;
  if (lengths) {
    length_input = model->input("lengths", {batch}, ir::DType::i32);
    p.inputs["lengths"] = Tensor::from_ints(
        {batch}, {static_cast<int>(std::min<int64_t>(3, steps)), static_cast<int>(steps), 1});
  }
  nn::RecurrentResult result = rnn(x, length_input);
  Graph& graph = model->graph();
  graph.add_output("outputs", result.outputs);
  graph.add_output("h_n", result.h_n);
  if (result.c_n) graph.add_output("c_n", result.c_n);
  if (training) {
    Value* loss = build::add(testrand::weighted_sum(graph, result.outputs, 21),
                             testrand::weighted_sum(graph, result.h_n, 22));
    std::vector<Value*> wrt = rnn.parameters();
    wrt.push_back(x);
    std::vector<Value*> grads = passes::append_gradients(graph, loss, wrt);
    for (size_t i = 0; i < wrt.size(); ++i) graph.add_output("d_" + wrt[i]->name(), grads[i]);
  }
  ir::verify(graph);
  p.state = initialize_parameters(graph);
  p.graph = &graph;
  p.model = std::move(model);
  return p;
}

/// A training problem of 4 steps (no lengths) as the default pipeline hands it to the pass:
/// canonicalized, products fused.
Problem fused_training_problem(const nn::RecurrentConfig& config) {
  Problem p = recurrent_problem(config, 4, false, true);
  passes::canonicalize(*p.graph, passes::PassContext{});
  passes::fuse_matmuls(*p.graph, passes::PassContext{});
  ir::verify(*p.graph);
  return p;
}

class HoistRecurrent : public testing::TestWithParam<ModelCase> {};

TEST_P(HoistRecurrent, ForwardBodiesKeepOnlyRecurrentProducts) {
  Problem p = recurrent_problem(GetParam().config, 5, false, false);
  size_t outer_matmuls = p.graph->nodes_of(OpKind::MatMul).size();
  p.expect_pass_keeps_numbers();
  EXPECT_GT(p.graph->nodes_of(OpKind::MatMul).size(), outer_matmuls);
  for (Node* scan : p.graph->nodes_of(OpKind::Scan)) {
    std::set<const Value*> varying = carry_dependent(*scan);
    size_t num_carry = scan->attrs().get_int("num_carry");
    size_t num_sequences = scan->attrs().get_int("num_sequences");
    std::vector<Node*> inputs = scan->body().nodes_of(OpKind::Input);
    std::set<const Value*> slices;
    for (size_t i = num_carry; i < num_carry + num_sequences; ++i)
      slices.insert(inputs[i]->result());
    std::vector<Node*> matmuls = scan->body().nodes_of(OpKind::MatMul);
    EXPECT_FALSE(matmuls.empty());
    for (Node* matmul : matmuls) {
      EXPECT_TRUE(varying.count(matmul->operand(0)) || varying.count(matmul->operand(1)))
          << ir::describe_node(*matmul) << " does not read the carried state";
      EXPECT_FALSE(slices.count(matmul->operand(0)) || slices.count(matmul->operand(1)))
          << ir::describe_node(*matmul) << " reads a per-step slice";
    }
  }
}

TEST_P(HoistRecurrent, NumbersUnchangedWithLengths) {
  for (bool training : {false, true}) {
    SCOPED_TRACE(training ? "training" : "inference");
    Problem p = recurrent_problem(GetParam().config, 4, true, training);
    p.expect_pass_keeps_numbers();
  }
}

TEST_P(HoistRecurrent, TrainingGraphNumbersAndWeightGradientsAfterTheLoop) {
  Problem p = recurrent_problem(GetParam().config, 4, false, true);
  p.expect_pass_keeps_numbers();
  // Backward scans carry only the adjoints of the forward carries (h, and c for LSTMs).
  size_t state_carries = nn::cells::has_cell_state(GetParam().config.cell) ? 2 : 1;
  for (Node* scan : p.graph->nodes_of(OpKind::Scan))
    EXPECT_EQ(scan->attrs().get_int("num_carry"), static_cast<int64_t>(state_carries))
        << "an accumulator carry is left in scan " << scan->result()->name();
  // Each weight matrix's gradient is one matmul of the main graph.
  int matrices = 0;
  for (const auto& output : p.graph->outputs()) {
    if (output.name.rfind("d_rnn.", 0) != 0 || output.value->type().rank() != 2) continue;
    ++matrices;
    EXPECT_EQ(output.value->producer()->kind(), OpKind::MatMul) << output.name;
  }
  EXPECT_GT(matrices, 0);
}

/// Accumulator contributions of `scan`'s body that are slices of a product (what fuse-matmuls
/// leaves of the weight gradients whose products share an operand).
int sliced_product_accumulations(const Node& scan) {
  int count = 0;
  for (const auto& output : scan.body().outputs()) {
    const Node* add = output.value->producer();
    if (add->kind() != OpKind::Add) continue;
    for (const Value* operand : add->operands())
      count += operand->producer()->kind() == OpKind::Slice &&
               operand->producer()->operand(0)->producer()->kind() == OpKind::MatMul;
  }
  return count;
}

// The default pipeline runs fuse-matmuls first: an LSTM's weight gradients become slices of
// one product dgates^T [h_t, x_t]; they must still leave the loop (else the body stacks a
// [T, 4H, H] product per weight).
TEST_P(HoistRecurrent, WeightGradientsLeaveTheLoopAfterMatmulFusion) {
  Problem p = fused_training_problem(GetParam().config);
  int sliced = 0;
  for (Node* scan : p.graph->nodes_of(OpKind::Scan)) sliced += sliced_product_accumulations(*scan);
  if (GetParam().config.cell == CellKind::Lstm) {
    EXPECT_GT(sliced, 0) << "nothing fused to test";
  }
  p.expect_pass_keeps_numbers();
  size_t state_carries = nn::cells::has_cell_state(GetParam().config.cell) ? 2 : 1;
  for (Node* scan : p.graph->nodes_of(OpKind::Scan))
    EXPECT_EQ(scan->attrs().get_int("num_carry"), static_cast<int64_t>(state_carries))
        << "an accumulator carry is left in scan " << scan->result()->name();
  // Each weight matrix's gradient is one matmul over all steps (or a slice of one), not the
  // reduce_sum of a stacked per-step product.
  int matrices = 0;
  for (const auto& output : p.graph->outputs()) {
    if (output.name.rfind("d_rnn.", 0) != 0 || output.value->type().rank() != 2) continue;
    ++matrices;
    const Node* producer = output.value->producer();
    if (producer->kind() == OpKind::Slice) producer = producer->operand(0)->producer();
    EXPECT_EQ(producer->kind(), OpKind::MatMul) << output.name;
  }
  EXPECT_GT(matrices, 0);
}

/// Per-step outputs of `scan`'s body that are products read nowhere else in the body.
int output_only_products(const Node& scan) {
  const Graph& body = scan.body();
  const size_t num_carry = static_cast<size_t>(scan.attrs().get_int("num_carry"));
  int count = 0;
  for (size_t i = num_carry; i < body.outputs().size(); ++i) {
    const Value* value = body.outputs()[i].value;
    if (value->producer()->kind() != OpKind::MatMul) continue;
    bool read = false;
    for (const auto& node : body.nodes())
      for (const Value* operand : node->operands()) read = read || operand == value;
    count += !read;
  }
  return count;
}

// A backward step's input gradient dx_t = dgates_t W, read only as a per-step output, is one
// product over all steps after the loop (a recurrent step then computes only dh_t), also after
// fuse-matmuls, which keeps it apart from the product the loop needs.
TEST_P(HoistRecurrent, InputGradientsLeaveTheBackwardLoop) {
  Problem p = fused_training_problem(GetParam().config);
  int before = 0;
  for (Node* scan : p.graph->nodes_of(OpKind::Scan)) before += output_only_products(*scan);
  EXPECT_GT(before, 0) << "nothing to move";
  p.expect_pass_keeps_numbers();
  for (Node* scan : p.graph->nodes_of(OpKind::Scan))
    EXPECT_EQ(output_only_products(*scan), 0) << "in scan " << scan->result()->name();
}

TEST_P(HoistRecurrent, IdempotentAndIndependentOfSequenceLength) {
  for (bool lengths : {false, true}) {
    SCOPED_TRACE(lengths ? "lengths" : "no lengths");
    std::vector<size_t> counts;
    for (int64_t steps : {3, 9}) {
      Problem p = recurrent_problem(GetParam().config, steps, lengths, true);
      EXPECT_TRUE(run_pass(*p.graph));
      std::string once = ir::print_graph(*p.graph);
      EXPECT_FALSE(run_pass(*p.graph));
      EXPECT_EQ(ir::print_graph(*p.graph), once) << "not idempotent";
      counts.push_back(count_nodes(*p.graph));
    }
    EXPECT_EQ(counts[0], counts[1]);
  }
}

INSTANTIATE_TEST_SUITE_P(Cells, HoistRecurrent, testing::ValuesIn(model_cases()),
                         [](const auto& info) { return info.param.name; });

// ---- A user's own cell, built with ScanBuilder. ----

struct OwnCell {
  bool reverse = false;
  bool lengths = false;
  bool training = false;
};

/// A cell no frontend builds: an embedding lookup inside the body, a layer-norm-like
/// normalization, W x_t with W on the left, a transposed per-step operand, a coupled gate and
/// a forward accumulator of x_t^T h (acc' = f + acc) besides the state.
Problem own_cell_problem(const OwnCell& c) {
  const int64_t T = 5, B = 3, E = 4, H = 3, V = 6;
  Problem p;
  p.owned = std::make_unique<Graph>("own");
  p.graph = p.owned.get();
  Graph& g = *p.graph;
  Value* tokens = g.add_input("tokens", {ir::DType::i32, {T, B}});
  p.inputs["tokens"] = Tensor::from_ints({T, B}, {0, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 0, 2, 2, 1});
  Value* xs = g.add_input("xs", {ir::DType::f64, {T, E, B}});
  p.inputs["xs"] = Tensor::from_doubles(ir::DType::f64, {T, E, B}, random_values(T * E * B, 3));
  auto parameter = [&](const std::string& name, const ir::Shape& shape, uint64_t seed) {
    Value* v = g.add_parameter(name, {ir::DType::f64, shape}, "zeros");
    p.state[name] =
        Tensor::from_doubles(ir::DType::f64, shape, random_values(ir::num_elements(shape), seed));
    return v;
  };
  Value* table = parameter("table", {V, H}, 7);
  Value* w_in = parameter("w_in", {H, E}, 8);  // W x_t with x_t [E, B]: [H, B]
  Value* w_h = parameter("w_h", {H, H}, 9);
  Value* gain = parameter("gain", {H}, 10);
  Value* h0 = g.add_input("h0", {ir::DType::f64, {B, H}});
  p.inputs["h0"] = Tensor::from_doubles(ir::DType::f64, {B, H}, random_values(B * H, 12));

  ir::ScanBuilder scan(g, "own_step");
  Value* h = scan.carry(h0, "h");
  Value* acc = scan.carry(build::full(g, {ir::DType::f64, {B, H}}, 0.0), "acc");
  Value* s0 = g.add_input("s0", {ir::DType::f64, {B, H}});
  p.inputs["s0"] = Tensor::from_doubles(ir::DType::f64, {B, H}, random_values(B * H, 13));
  Value* sum = scan.carry(s0, "sum");  // an accumulator of per-step values, started at s0
  Value* token = scan.sequence(tokens, "token");
  Value* x = scan.sequence(xs, "x");
  Value* table_in = scan.invariant(table, "table");
  Value* w_in_in = scan.invariant(w_in, "w_in");
  Value* w_h_in = scan.invariant(w_h, "w_h");
  Value* gain_in = scan.invariant(gain, "gain");
  Graph& body = scan.body();
  Value* embedded = build::gather(table_in, token);                        // [B, H]
  Value* projected = build::transpose(build::matmul(w_in_in, x), {1, 0});  // [B, H]
  Value* mean =
      build::broadcast(build::reshape(build::reduce_mean(projected, {1}), {B, 1}), {B, H});
  Value* centered = build::sub(projected, mean);
  Value* scaled = build::mul(centered, build::broadcast(build::exp(gain_in), {B, H}));
  Value* recurrent = build::matmul(h, w_h_in, false, true);
  Value* gate = build::sigmoid(build::add(scaled, recurrent));
  Value* one = build::full(body, gate->type(), 1.0);
  Value* next = build::add(build::mul(gate, build::tanh(build::add(embedded, recurrent))),
                           build::mul(build::sub(one, gate), h));
  scan.set_next(h, next);
  // acc' = (x_t^T-ish product) + acc: [B, E] x [E, H] with x_t used transposed.
  Value* contribution =
      build::matmul(x, build::matmul(build::transpose(x, {1, 0}), build::tanh(next), true, false),
                    true, false);  // [B, E]^T.. -> [B, H]
  scan.set_next(acc, build::add(contribution, acc));
  scan.set_next(sum, build::add(sum, build::tanh(embedded)));
  scan.add_output("y", build::mul(next, gate));
  scan.add_output("z", scaled);
  scan.set_reverse(c.reverse);
  if (c.lengths) {
    Value* lengths = g.add_input("lengths", {ir::DType::i32, {B}});
    p.inputs["lengths"] = Tensor::from_ints({B}, {5, 2, 4});
    scan.set_lengths(lengths);
  }
  std::vector<Value*> results = scan.finish();
  g.add_output("h_T", results[0]);
  g.add_output("acc_T", results[1]);
  g.add_output("sum_T", results[2]);
  g.add_output("ys", results[3]);
  g.add_output("zs", results[4]);
  if (c.training) {
    Value* loss = build::add(build::reduce_sum(build::mul(results[3], results[3]), {0, 1, 2}),
                             build::reduce_sum(build::tanh(results[1]), {0, 1}));
    loss = build::add(loss, build::reduce_sum(build::mul(results[2], results[2]), {0, 1}));
    std::vector<Value*> wrt = {table, w_in, w_h, gain, h0, s0, xs};
    std::vector<Value*> grads = passes::append_gradients(g, loss, wrt);
    for (size_t i = 0; i < wrt.size(); ++i) g.add_output("d_" + wrt[i]->name(), grads[i]);
  }
  ir::verify(g);
  return p;
}

TEST(HoistOwnCell, NumbersUnchangedInEveryConfiguration) {
  for (bool reverse : {false, true})
    for (bool lengths : {false, true})
      for (bool training : {false, true}) {
        SCOPED_TRACE(std::string(reverse ? "reverse" : "forward") + (lengths ? " lengths" : "") +
                     (training ? " training" : ""));
        Problem p = own_cell_problem({reverse, lengths, training});
        p.expect_pass_keeps_numbers();
        EXPECT_FALSE(run_pass(*p.graph)) << "not idempotent";
      }
}

TEST(HoistOwnCell, MovesInvariantsBatchesInputsAndDropsTheAccumulator) {
  Problem p = own_cell_problem({false, false, false});
  run_pass(*p.graph);
  std::vector<Node*> scans = p.graph->nodes_of(OpKind::Scan);
  ASSERT_EQ(scans.size(), 1u);
  const Node& scan = *scans[0];
  EXPECT_EQ(scan.attrs().get_int("num_carry"), 1) << "an accumulator stays a carry";
  for (const auto& node : scan.body().nodes()) {
    EXPECT_NE(node->kind(), OpKind::Gather) << "the embedding lookup stays in the loop";
    EXPECT_NE(node->kind(), OpKind::Exp) << "exp(gain) stays in the loop";
    EXPECT_NE(node->kind(), OpKind::ReduceMean) << "the normalization stays in the loop";
  }
  // The accumulator's final value: one matmul over all steps after the loop.
  EXPECT_EQ(p.graph->output("acc_T")->producer()->kind(), OpKind::MatMul);
  // s0 + the sum over time of the batched tanh(embedding).
  const Node* sum = p.graph->output("sum_T")->producer();
  ASSERT_EQ(sum->kind(), OpKind::Add);
  EXPECT_EQ(sum->operand(0), p.graph->find("s0"));
  EXPECT_EQ(sum->operand(1)->producer()->kind(), OpKind::ReduceSum);
}

TEST(HoistOwnCell, ScanWithoutAnythingToMoveIsLeftAlone) {
  Graph g("plain");
  Value* xs = g.add_input("xs", {ir::DType::f64, {4, 2}});
  Value* s0 = g.add_input("s0", {ir::DType::f64, {2}});
  ir::ScanBuilder scan(g, "step");
  Value* s = scan.carry(s0, "s");
  Value* x = scan.sequence(xs, "x");
  scan.set_next(s, build::mul(s, x));
  std::vector<Value*> results = scan.finish();
  g.add_output("s_T", results[0]);
  std::string before = ir::print_graph(g);
  EXPECT_FALSE(run_pass(g));
  EXPECT_EQ(ir::print_graph(g), before);
  EXPECT_EQ(g.output("s_T"), results[0]);
}

// ---- Random graphs. ----

/// Appends the gradient of the sum of every float output with respect to every input and
/// parameter (a backward scan for the graph's scan); outputs them too.
void append_random_training(Graph& graph) {
  Value* loss = nullptr;
  for (const auto& output : std::vector<ir::GraphOutput>(graph.outputs())) {
    std::vector<int64_t> axes;
    for (int64_t d = 0; d < output.value->type().rank(); ++d) axes.push_back(d);
    Value* term = build::reduce_sum(build::tanh(output.value), axes);
    loss = loss ? build::add(loss, term) : term;
  }
  std::vector<Value*> wrt;
  for (const auto& node : graph.nodes())
    if (node->kind() == OpKind::Input || node->kind() == OpKind::Parameter)
      wrt.push_back(node->result());
  std::vector<Value*> grads = passes::append_gradients(graph, loss, wrt);
  for (size_t i = 0; i < grads.size(); ++i) graph.add_output("grad" + std::to_string(i), grads[i]);
}

TEST(HoistRandomGraphs, OutputsUnchanged) {
  int with_scan = 0, changed = 0, trained = 0;
  for (uint64_t seed = 1; seed <= 120; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    testgen::RandomGraph random = testgen::make_random_graph(seed);
    if (random.graph->nodes_of(OpKind::Scan).empty()) continue;
    if (seed % 2 == 0) {
      append_random_training(*random.graph);
      ++trained;
    }
    ++with_scan;
    Problem p;
    p.graph = random.graph.get();
    p.inputs = random.inputs;
    p.state = random.state;
    Bindings before = p.run();
    changed += run_pass(*p.graph);
    expect_same_results(before, p.run());
    EXPECT_FALSE(run_pass(*p.graph)) << "not idempotent";
  }
  EXPECT_GT(with_scan, 30);
  EXPECT_GT(changed, 15);
  EXPECT_GT(trained, 10);
}

}  // namespace
}  // namespace rnnc
