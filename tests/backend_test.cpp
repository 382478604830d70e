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
#include "tests/support/backend_cases.h"
#include "tests/support/errors.h"
#include "tests/support/random_graph.h"

namespace rnnc {
namespace {

using namespace ir;
using cases::every_op;
using cases::random_bindings;
using cases::rnn;

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

/// Checks model file `file` (examples/models), its dimensions renamed by `resize` first. The
/// interpreter takes about a minute on names_gru's batch of 256 and char_lstm's 100 steps,
/// so those run smaller here (the compile-time test in cpu_backend_test runs them as they
/// are; LongScan covers sequences longer than 50 steps).
void check_model(const std::string& backend, const std::string& file,
                 const std::vector<std::pair<std::string, std::string>>& resize = {}) {
  // The interpreter is the oracle: comparing it with itself on a whole model only costs time.
  if (backend == "interp") return;
  SCOPED_TRACE(file);
  // Optimizer state as in the middle of training (load_model): with AdaGrad's sums or Adam's
  // second moments at zero, an update is g / |g| and rounding decides tiny gradients' signs.
  cases::Model model = cases::load_model(file, resize);
  double tolerance = cases::longest_sequence(*model.graph) > 50 ? 1e-4 : 1e-5;
  expect_matches_interpreter(backend, *model.graph, model.inputs, model.state, tolerance);
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
  auto graph = cases::nested_scans();
  Bindings state;
  Bindings inputs = random_bindings(*graph, 11, state);
  expect_matches_interpreter(GetParam(), *graph, inputs, state);
}

// ---- Every op in every dtype --------------------------------------------------------------

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

TEST_P(Backend, RowWritesInPlaceCheckEveryIndexFirst) {
  Graph graph("row_writes");
  Value* table = graph.add_parameter("table", {DType::f32, {4, 3}}, "zeros", 0, "state");
  Value* ids = graph.add_input("ids", {DType::i32, {3}});
  Value* rows = graph.add_input("rows", {DType::f32, {3, 3}});
  Value* written = build::scatter_rows(table, ids, build::tanh(rows));
  graph.add_update(table, written);
  graph.add_output("coalesced", build::coalesce_rows(ids, rows, 4));
  std::vector<double> start(12), values(9);
  for (size_t i = 0; i < start.size(); ++i) start[i] = 0.5 * static_cast<double>(i);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25 - 0.1 * static_cast<double>(i);
  const Bindings state{{"table", Tensor::from_doubles(DType::f32, {4, 3}, start)}};
  auto inputs = [&](std::vector<int32_t> indices) {
    return Bindings{{"ids", Tensor::from_ints({3}, indices)},
                    {"rows", Tensor::from_doubles(DType::f32, {3, 3}, values)}};
  };
  // A repeated index: its first position's row is written, the rows are summed there.
  expect_matches_interpreter(GetParam(), graph, inputs({2, 0, 2}), state);
  auto executable = codegen::compile(graph, GetParam());
  for (int32_t bad : {4, -1}) {
    Bindings after = state;
    std::string message = testerr::error_of([&] { executable->run(inputs({1, 3, bad}), after); });
    EXPECT_NE(message.find("out of range"), std::string::npos) << message;
    EXPECT_EQ(max_relative_difference(after.at("table"), state.at("table")), 0.0)
        << "a failed step wrote rows";
  }
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
