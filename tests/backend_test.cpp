// Every available backend (codegen::available_backends()) against the graph interpreter: the
// lecture's models (forward and training step), random graphs, scans with lengths, reversed
// and nested, every dtype, and bad data. f32 results agree within 1e-5 (1e-4 for sequences
// longer than 50 steps), f64 within 1e-9, by max_relative_difference.
#include "codegen/backend.h"

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "runtime/initializers.h"
#include "tests/support/errors.h"
#include "tests/support/random_graph.h"

namespace rnnc {
namespace {

using namespace ir;

/// The outputs of a run, and the state after it as "state.NAME".
Bindings run_all(Executable& executable, const Bindings& inputs, Bindings state) {
  Bindings results = executable.run(inputs, state);
  for (auto& [name, tensor] : state) results["state." + name] = tensor;
  return results;
}

/// Runs `graph` on `backend` and on the interpreter; every output and every updated state
/// must agree within `f32_tolerance` (f32), 1e-9 (f64) or exactly (i32).
void expect_matches_interpreter(const std::string& backend, const Graph& graph,
                                const Bindings& inputs, const Bindings& state,
                                double f32_tolerance = 1e-5,
                                const codegen::CompileOptions& options = {}) {
  interp::Interpreter interpreter(graph);
  Bindings want = run_all(interpreter, inputs, state);
  auto executable = codegen::compile(graph, backend, options);
  Bindings got = run_all(*executable, inputs, state);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, expected] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    const Tensor& actual = got.at(name);
    ASSERT_EQ(actual.type(), expected.type()) << name;
    double tolerance = expected.dtype() == DType::f32   ? f32_tolerance
                       : expected.dtype() == DType::f64 ? 1e-9
                                                        : 0.0;
    EXPECT_LE(max_relative_difference(actual, expected), tolerance) << graph.name() << ": " << name;
  }
}

class Backend : public ::testing::TestWithParam<std::string> {};

// ---- The lecture's models -----------------------------------------------------------------

/// Inputs for a model file: f32 inputs uniform in [-1, 1]; i32 inputs in [0, 2) (valid token
/// ids, characters and labels for every model), except "lengths" [B], uniform in [1, T] where
/// another i32 input is [B, T].
Bindings model_inputs(const Graph& graph, uint64_t seed) {
  Bindings inputs;
  testgen::SplitMix rng(seed);
  std::vector<Node*> nodes = graph.nodes_of(OpKind::Input);
  for (Node* node : nodes) {
    const TensorType& type = node->result()->type();
    const std::string& name = node->result()->name();
    std::vector<double> values(type.num_elements());
    int64_t steps = 0;
    if (name == "lengths")
      for (Node* other : nodes)
        if (other->result()->dtype() == DType::i32 && other->result()->type().rank() == 2 &&
            other->result()->shape()[0] == type.shape.at(0))
          steps = other->result()->shape()[1];
    for (double& v : values) {
      if (type.dtype != DType::i32)
        v = rng.unit();
      else
        v = steps ? rng.between(1, steps) : rng.below(2);
    }
    inputs[name] = Tensor::from_doubles(type.dtype, type.shape, values);
  }
  return inputs;
}

/// The longest scan (trip count) of `graph`'s top level.
int64_t longest_sequence(const Graph& graph) {
  int64_t longest = 0;
  for (Node* scan : graph.nodes_of(OpKind::Scan))
    longest = std::max(longest, scan->operand(scan->attrs().get_int("num_carry"))->shape()[0]);
  return longest;
}

/// `text` with every whole number `from` (not part of a name or a longer number) replaced
/// by `to`: how a model file's batch size or sequence length is reduced.
std::string replace_number(const std::string& text, const std::string& from,
                           const std::string& to) {
  std::string result;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      result += text[i++];
      continue;
    }
    size_t end = i;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    char before = i ? text[i - 1] : ' ';
    bool whole = !std::isalnum(static_cast<unsigned char>(before)) && before != '_' &&
                 before != '.' && before != '-';
    result += whole && text.compare(i, end - i, from) == 0 ? to : text.substr(i, end - i);
    i = end;
  }
  return result;
}

/// Checks model file `file` (examples/models), its dimensions renamed by `resize` first. The
/// interpreter takes about a minute on names_gru's batch of 256 and char_lstm's 100 steps,
/// so those run smaller here (the compile-time test in cpu_backend_test runs them as they
/// are; LongScan covers sequences longer than 50 steps).
void check_model(const std::string& backend, const std::string& file,
                 const std::vector<std::pair<std::string, std::string>>& resize = {}) {
  // The interpreter is the oracle: comparing it with itself on a whole model only costs time.
  if (backend == "interp") return;
  SCOPED_TRACE(file);
  std::string path = std::string(RNNC_SOURCE_DIR) + "/examples/models/" + file;
  std::ifstream stream(path);
  std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  for (const auto& [from, to] : resize) text = replace_number(text, from, to);
  auto graph = parse_graph(text, path);
  verify(*graph);
  Bindings state = initialize_parameters(*graph, 3);
  // Optimizer state as in the middle of training: with AdaGrad's sums or Adam's second
  // moments at zero, an update is g / |g| and rounding decides tiny gradients' signs.
  testgen::SplitMix rng(5);
  for (Node* node : graph->nodes_of(OpKind::Parameter)) {
    if (node->attrs().get_str("role") != "state") continue;
    Tensor& tensor = state.at(node->result()->name());
    for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, 0.75 + 0.25 * rng.unit());
  }
  double tolerance = longest_sequence(*graph) > 50 ? 1e-4 : 1e-5;
  expect_matches_interpreter(backend, *graph, model_inputs(*graph, 7), state, tolerance);
}

TEST_P(Backend, HihellRnn) {
  check_model(GetParam(), "hihell_rnn.forward.rnn");
  check_model(GetParam(), "hihell_rnn.train.rnn");
}

TEST_P(Backend, Diabetes) {
  check_model(GetParam(), "diabetes.forward.rnn");
  check_model(GetParam(), "diabetes.train.rnn");
}

TEST_P(Backend, SstLstm) {
  check_model(GetParam(), "sst_lstm.forward.rnn");
  check_model(GetParam(), "sst_lstm.train.rnn");
}

TEST_P(Backend, NamesGru) {
  // A batch of 4 instead of 256.
  check_model(GetParam(), "names_gru.forward.rnn", {{"256", "4"}});
  check_model(GetParam(), "names_gru.train.rnn", {{"256", "4"}});
}

TEST_P(Backend, CharLstm) {
  // 12 steps instead of 100 (3200 = 100 steps x 32 rows).
  check_model(GetParam(), "char_lstm.forward.rnn", {{"100", "12"}, {"3200", "384"}});
  check_model(GetParam(), "char_lstm.train.rnn", {{"100", "12"}, {"3200", "384"}});
}

TEST_P(Backend, EveryModelFileIsCovered) {
  std::vector<std::string> covered = {"hihell_rnn", "diabetes", "sst_lstm", "names_gru",
                                      "char_lstm"};
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(RNNC_SOURCE_DIR) + "/examples/models")) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".rnn") continue;
    std::string model = name.substr(0, name.find('.'));
    EXPECT_NE(std::find(covered.begin(), covered.end(), model), covered.end())
        << name << " has no test here";
  }
}

// ---- Random graphs ------------------------------------------------------------------------

TEST_P(Backend, RandomGraphs) {
  for (uint64_t seed = 0; seed < 120; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    testgen::RandomGraph random = testgen::make_random_graph(seed);
    expect_matches_interpreter(GetParam(), *random.graph, random.inputs, random.state);
    if (HasFatalFailure()) return;
  }
}

// ---- Scans --------------------------------------------------------------------------------

/// h_t = tanh(h_{t-1} W + x_t) over xs [T, B, H] with optional lengths; outputs h_t and the
/// final h.
std::unique_ptr<Graph> rnn(DType dtype, int64_t steps, int64_t batch, int64_t hidden, bool reverse,
                           bool lengths) {
  auto graph = std::make_unique<Graph>("rnn");
  Value* xs = graph->add_input("xs", {dtype, {steps, batch, hidden}});
  Value* h0 = graph->add_input("h0", {dtype, {batch, hidden}});
  Value* w = graph->add_parameter("w", {dtype, {hidden, hidden}}, "zeros");
  ScanBuilder scan(*graph, "step");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  Value* wi = scan.invariant(w, "w");
  Value* next = build::tanh(build::add(build::matmul(h, wi), x));
  scan.set_next(h, next);
  scan.add_output("y", build::sigmoid(next));
  scan.set_reverse(reverse);
  if (lengths) scan.set_lengths(graph->add_input("lengths", {DType::i32, {batch}}));
  std::vector<Value*> results = scan.finish();
  graph->add_output("h_final", results[0]);
  graph->add_output("ys", results[1]);
  return graph;
}

Bindings random_bindings(const Graph& graph, uint64_t seed, Bindings& state) {
  Bindings inputs;
  testgen::SplitMix rng(seed);
  for (const auto& node : graph.nodes()) {
    const TensorType& type = node->result()->type();
    if (node->kind() != OpKind::Input && node->kind() != OpKind::Parameter) continue;
    std::vector<double> values(type.num_elements());
    for (double& v : values) v = type.dtype == DType::i32 ? rng.between(1, 2) : rng.unit();
    Tensor tensor = Tensor::from_doubles(type.dtype, type.shape, values);
    (node->kind() == OpKind::Input ? inputs : state)[node->result()->name()] = tensor;
  }
  return inputs;
}

TEST_P(Backend, ScansWithLengthsAndDirections) {
  for (DType dtype : {DType::f32, DType::f64})
    for (bool reverse : {false, true})
      for (bool lengths : {false, true}) {
        auto graph = rnn(dtype, 7, 5, 6, reverse, lengths);
        Bindings state;
        Bindings inputs = random_bindings(*graph, 3, state);
        if (lengths) inputs["lengths"] = Tensor::from_ints({5}, {7, 1, 3, 7, 5});
        SCOPED_TRACE(std::string(dtype_name(dtype)) + (reverse ? " reverse" : "") +
                     (lengths ? " lengths" : ""));
        expect_matches_interpreter(GetParam(), *graph, inputs, state);
      }
}

TEST_P(Backend, LongScan) {
  auto graph = rnn(DType::f32, 120, 3, 8, false, true);
  Bindings state;
  Bindings inputs = random_bindings(*graph, 5, state);
  inputs["lengths"] = Tensor::from_ints({3}, {120, 64, 1});
  expect_matches_interpreter(GetParam(), *graph, inputs, state, 1e-4);
}

TEST_P(Backend, NestedScans) {
  // An outer scan over xss [T1, T2, B, H] whose body runs an inner reversed scan over its
  // slice [T2, B, H]; the inner carry starts from the outer one.
  Graph graph("nested");
  Value* xss = graph.add_input("xss", {DType::f64, {3, 4, 2, 3}});
  Value* h0 = graph.add_input("h0", {DType::f64, {2, 3}});
  Value* w = graph.add_parameter("w", {DType::f64, {3, 3}}, "zeros");
  ScanBuilder outer(graph, "outer");
  Value* h = outer.carry(h0, "h");
  Value* xs = outer.sequence(xss, "xs");
  Value* w_outer = outer.invariant(w, "w");
  ScanBuilder inner(outer.body(), "inner");
  Value* g = inner.carry(h, "g");
  Value* x = inner.sequence(xs, "x");
  Value* w_inner = inner.invariant(w_outer, "w");
  inner.set_reverse(true);
  Value* next = build::tanh(build::add(build::matmul(g, w_inner), x));
  inner.set_next(g, next);
  inner.add_output("y", build::mul(next, x));
  std::vector<Value*> inner_results = inner.finish();
  outer.set_next(h, build::sigmoid(inner_results[0]));
  outer.add_output("ys", inner_results[1]);
  std::vector<Value*> results = outer.finish();
  graph.add_output("h_T", results[0]);
  graph.add_output("ys", results[1]);
  Bindings state;
  Bindings inputs = random_bindings(graph, 11, state);
  expect_matches_interpreter(GetParam(), graph, inputs, state);
}

// ---- Every op in every dtype --------------------------------------------------------------

/// Every elementwise op, reduction, layout op, matmul, gather and scatter_add over inputs of
/// `dtype`; for i32 the operands are small positive integers and divisors are never zero.
std::unique_ptr<Graph> every_op(DType dtype) {
  auto graph = std::make_unique<Graph>(std::string("every_op_") + std::string(dtype_name(dtype)));
  Value* a = graph->add_input("a", {dtype, {3, 4}});
  Value* b = graph->add_input("b", {dtype, {3, 4}});
  Value* ids = graph->add_input("ids", {DType::i32, {5}});
  Value* positive = build::add(build::abs(b), build::full(*graph, {dtype, {3, 4}}, 1.0));
  std::vector<std::pair<std::string, Value*>> outputs = {
      {"neg", build::neg(a)},
      {"abs", build::abs(a)},
      {"sign", build::sign(a)},
      {"relu", build::relu(a)},
      {"cast", build::cast(build::cast(a, dtype == DType::i32 ? DType::f32 : DType::i32), dtype)},
      {"add", build::add(a, b)},
      {"sub", build::sub(a, b)},
      {"mul", build::mul(a, b)},
      {"div", build::div(a, positive)},
      {"max", build::max(a, b)},
      {"min", build::min(a, b)},
      {"greater", build::greater(a, b)},
      {"less", build::less(a, b)},
      {"equal", build::equal(a, b)},
      {"select", build::select(build::greater(a, b), a, b)},
      {"broadcast", build::broadcast(build::reduce_sum(a, {0}), {2, 3, 4})},
      {"transpose", build::transpose(a, {1, 0})},
      {"slice", build::slice(a, {1, 1}, {3, 3})},
      {"pad", build::pad(a, {1, 0}, {0, 2})},
      {"concat", build::concat({a, b, a}, 1)},
      {"reshape", build::reshape(build::transpose(a, {1, 0}), {2, 6})},
      {"reduce_sum", build::reduce_sum(a, {1})},
      {"reduce_max", build::reduce_max(a, {0})},
      {"matmul", build::matmul(a, b, false, true)},
      {"matmul_ta", build::matmul(a, b, true, false)},
      {"batched_matmul", build::matmul(build::reshape(a, {2, 3, 2}), build::reshape(b, {2, 2, 3}))},
      {"gather", build::gather(a, build::full(*graph, {DType::i32, {2, 2}}, 2.0))},
      {"gather_ids", build::gather(build::transpose(a, {1, 0}), ids)},
      {"scatter_add",
       build::scatter_add(ids, build::gather(build::transpose(b, {1, 0}), ids), {4, 3})},
  };
  if (is_float(dtype)) {
    // Ops that take floats only.
    outputs.insert(outputs.end(), {{"exp", build::exp(a)},
                                   {"log", build::log(positive)},
                                   {"sqrt", build::sqrt(positive)},
                                   {"tanh", build::tanh(a)},
                                   {"sigmoid", build::sigmoid(a)},
                                   {"pow", build::pow(positive, build::abs(a))},
                                   {"reduce_mean", build::reduce_mean(a, {0, 1})}});
  }
  for (const auto& [name, value] : outputs) graph->add_output(name, value);
  return graph;
}

TEST_P(Backend, EveryOpInEveryDtype) {
  for (DType dtype : {DType::f32, DType::f64, DType::i32}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    auto graph = every_op(dtype);
    testgen::SplitMix rng(19);
    Bindings inputs, state;
    for (const char* name : {"a", "b"}) {
      std::vector<double> values(12);
      for (double& v : values) v = dtype == DType::i32 ? rng.between(-3, 3) : 2 * rng.unit();
      inputs[name] = Tensor::from_doubles(dtype, {3, 4}, values);
    }
    inputs["ids"] = Tensor::from_ints({5}, {3, 0, 3, 1, 2});
    // Both at O0 (one kernel per op) and at O1 (fused).
    codegen::CompileOptions unoptimized;
    unoptimized.pipeline_level = "O0";
    expect_matches_interpreter(GetParam(), *graph, inputs, state, 1e-5, unoptimized);
    expect_matches_interpreter(GetParam(), *graph, inputs, state);
  }
}

// ---- Bad data -----------------------------------------------------------------------------

TEST_P(Backend, GatherIndexOutOfRangeNamesTheNode) {
  Graph graph("lookup");
  Value* table = graph.add_parameter("table", {DType::f32, {4, 3}}, "zeros");
  Value* ids = graph.add_input("ids", {DType::i32, {3}});
  Value* rows = build::gather(table, ids);
  graph.add_output("rows", build::tanh(rows));
  auto executable = codegen::compile(graph, GetParam());
  Bindings state{{"table", Tensor(TensorType{DType::f32, {4, 3}})}};
  for (int32_t bad : {4, -1}) {
    std::string message = testerr::error_of([&] {
      executable->run({{"ids", Tensor::from_ints({3}, {0, bad, 1})}}, state);
    });
    EXPECT_NE(message.find("%" + rows->name()), std::string::npos) << message;
    EXPECT_NE(message.find("out of range"), std::string::npos) << message;
  }
  // Good data still runs afterwards.
  Bindings out = executable->run({{"ids", Tensor::from_ints({3}, {0, 3, 1})}}, state);
  EXPECT_EQ(out.at("rows").shape(), (Shape{3, 3}));
}

TEST_P(Backend, LengthsOutsideTheSequenceNameTheScan) {
  auto graph = rnn(DType::f32, 4, 2, 3, false, true);
  Bindings state;
  Bindings inputs = random_bindings(*graph, 2, state);
  auto executable = codegen::compile(*graph, GetParam());
  for (int32_t bad : {0, 5}) {
    inputs["lengths"] = Tensor::from_ints({2}, {2, bad});
    std::string message = testerr::error_of([&] { executable->run(inputs, state); });
    EXPECT_NE(message.find("scan"), std::string::npos) << message;
    EXPECT_NE(message.find("[1, 4]"), std::string::npos) << message;
  }
}

TEST_P(Backend, IntegerDivisionByZeroIsAnError) {
  Graph graph("divide");
  Value* a = graph.add_input("a", {DType::i32, {3}});
  Value* b = graph.add_input("b", {DType::i32, {3}});
  graph.add_output("q", build::div(a, b));
  auto executable = codegen::compile(graph, GetParam());
  Bindings state;
  Bindings out = executable->run(
      {{"a", Tensor::from_ints({3}, {7, -7, 6})}, {"b", Tensor::from_ints({3}, {2, 2, -3})}},
      state);
  EXPECT_EQ(out.at("q").to_doubles(), (std::vector<double>{3, -3, -2}));
  std::string message = testerr::error_of([&] {
    executable->run(
        {{"a", Tensor::from_ints({3}, {1, 2, 3})}, {"b", Tensor::from_ints({3}, {1, 0, 1})}},
        state);
  });
  EXPECT_NE(message.find("division by zero"), std::string::npos) << message;
}

TEST_P(Backend, MissingBindingIsAnError) {
  auto graph = rnn(DType::f32, 2, 1, 2, false, false);
  auto executable = codegen::compile(*graph, GetParam());
  Bindings state;
  std::string message = testerr::error_of([&] { executable->run({}, state); });
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(AllBackends, Backend, ::testing::ValuesIn(codegen::available_backends()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace rnnc
