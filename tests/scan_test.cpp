// Scan in the IR and the interpreter: semantics of direction and lengths, text IR, errors.
#include <gtest/gtest.h>

#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"

namespace rnnc {
namespace {

using namespace ir;

/// A running sum s_t = s_{t-1} * decay + x_t over xs [T, B], outputs s_t each step.
std::unique_ptr<Graph> running_sum(int64_t steps, int64_t batch, bool reverse, bool lengths) {
  auto graph = std::make_unique<Graph>("running_sum");
  Value* xs = graph->add_input("xs", {DType::f64, {steps, batch}});
  Value* decay = graph->add_input("decay", {DType::f64, {batch}});
  Value* s0 = graph->add_input("s0", {DType::f64, {batch}});
  ScanBuilder scan(*graph, "step");
  Value* s = scan.carry(s0, "s");
  Value* x = scan.sequence(xs, "x");
  Value* d = scan.invariant(decay, "d");
  Value* next = build::add(build::mul(s, d), x);
  scan.set_next(s, next);
  scan.add_output("y", next);
  scan.set_reverse(reverse);
  if (lengths) scan.set_lengths(graph->add_input("lengths", {DType::i32, {batch}}));
  std::vector<Value*> results = scan.finish();
  graph->add_output("s_final", results[0]);
  graph->add_output("ys", results[1]);
  return graph;
}

Bindings running_sum_inputs(bool lengths) {
  Bindings inputs{{"xs", Tensor::from_doubles(DType::f64, {4, 2}, {1, 10, 2, 20, 3, 30, 4, 40})},
                  {"decay", Tensor::from_doubles(DType::f64, {2}, {0.5, 1})},
                  {"s0", Tensor::from_doubles(DType::f64, {2}, {100, 0})}};
  if (lengths) inputs["lengths"] = Tensor::from_ints({2}, {2, 4});
  return inputs;
}

TEST(Scan, ForwardRunningSum) {
  auto graph = running_sum(4, 2, false, false);
  verify(*graph);
  Bindings state;
  Bindings out = interp::run_graph(*graph, running_sum_inputs(false), state);
  // Row 0: 100 -> 51 -> 27.5 -> 16.75 -> 12.375; row 1: 10, 30, 60, 100.
  EXPECT_EQ(out.at("ys").to_doubles(),
            (std::vector<double>{51, 10, 27.5, 30, 16.75, 60, 12.375, 100}));
  EXPECT_EQ(out.at("s_final").to_doubles(), (std::vector<double>{12.375, 100}));
  EXPECT_EQ(out.at("ys").shape(), (Shape{4, 2}));
}

TEST(Scan, ReverseRunsTimeBackwardsAndStacksByTime) {
  auto graph = running_sum(4, 2, true, false);
  Bindings state;
  Bindings out = interp::run_graph(*graph, running_sum_inputs(false), state);
  // Row 0 from t=3: 54, 30, 17, 9.5; stored at t = 3, 2, 1, 0.
  EXPECT_EQ(out.at("ys").to_doubles(), (std::vector<double>{9.5, 100, 17, 90, 30, 70, 54, 40}));
  EXPECT_EQ(out.at("s_final").to_doubles(), (std::vector<double>{9.5, 100}));
}

TEST(Scan, LengthsKeepStateAndZeroOutputsPastTheEnd) {
  auto graph = running_sum(4, 2, false, true);
  Bindings state;
  Bindings out = interp::run_graph(*graph, running_sum_inputs(true), state);
  EXPECT_EQ(out.at("ys").to_doubles(), (std::vector<double>{51, 10, 27.5, 30, 0, 60, 0, 100}));
  EXPECT_EQ(out.at("s_final").to_doubles(), (std::vector<double>{27.5, 100}));
}

TEST(Scan, ReverseWithLengthsStartsAtEachRowsLastStep) {
  auto graph = running_sum(4, 2, true, true);
  Bindings state;
  Bindings out = interp::run_graph(*graph, running_sum_inputs(true), state);
  // Row 0 has length 2: steps 3 and 2 are skipped, then t=1: 50+2 = 52, t=0: 26+1 = 27.
  EXPECT_EQ(out.at("ys").to_doubles(), (std::vector<double>{27, 100, 52, 90, 0, 70, 0, 40}));
  EXPECT_EQ(out.at("s_final").to_doubles(), (std::vector<double>{27, 100}));
}

TEST(Scan, LengthOutOfRangeIsAnErrorNamingTheNode) {
  auto graph = running_sum(4, 2, false, true);
  Bindings inputs = running_sum_inputs(true);
  Bindings state;
  for (int bad : {5, 0, -1}) {
    inputs["lengths"] = Tensor::from_ints({2}, {2, bad});
    try {
      interp::run_graph(*graph, inputs, state);
      FAIL() << "no error for length " << bad;
    } catch (const Error& error) {
      std::string message = error.what();
      EXPECT_NE(message.find("%s_final, "), std::string::npos) << message;
      EXPECT_NE(message.find("lengths[1] = " + std::to_string(bad) + " is outside [1, 4]"),
                std::string::npos)
          << message;
    }
  }
}

TEST(Scan, TextRoundTripRunsTheSame) {
  auto graph = running_sum(4, 2, true, true);
  std::string text = print_graph(*graph);
  EXPECT_NE(text.find("= scan(%s0, %xs, %decay, %lengths) {num_carry = 1, num_sequences = 1, "
                      "reverse = 1, has_lengths = 1} : f64[2], f64[4, 2] graph @step {\n"
                      "    %s = input() : f64[2]\n"),
            std::string::npos)
      << text;
  auto parsed = parse_graph(text, "scan.rnn");
  EXPECT_EQ(print_graph(*parsed), text);
  verify(*parsed);
  Bindings state;
  Bindings a = interp::run_graph(*graph, running_sum_inputs(true), state);
  Bindings b = interp::run_graph(*parsed, running_sum_inputs(true), state);
  EXPECT_EQ(a.at("ys").to_doubles(), b.at("ys").to_doubles());
}

TEST(Scan, NodeCountDoesNotDependOnSequenceLength) {
  EXPECT_EQ(running_sum(10, 2, false, false)->nodes().size(),
            running_sum(1000, 2, false, false)->nodes().size());
}

void expect_error(const std::function<void()>& build_it, const std::string& fragment) {
  try {
    build_it();
    FAIL() << "no error, expected: " << fragment;
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

TEST(Scan, ShapeErrorsNameTheProblem) {
  expect_error(
      [] {
        Graph graph;
        Value* xs = graph.add_input("xs", {DType::f32, {4, 2}});
        Value* s0 = graph.add_input("s0", {DType::f32, {3}});
        ScanBuilder scan(graph, "step");
        Value* s = scan.carry(s0, "s");
        Value* x = scan.sequence(xs, "x");
        scan.set_next(s, build::add(s, x));
        scan.finish();
      },
      "operand types differ: f32[3] and f32[2]");
  expect_error(
      [] {
        Graph graph;
        Value* xs = graph.add_input("xs", {DType::f32, {4, 2}});
        Value* s0 = graph.add_input("s0", {DType::f32, {2}});
        ScanBuilder scan(graph, "step");
        Value* s = scan.carry(s0, "s");
        Value* x = scan.sequence(xs, "x");
        scan.set_next(s, build::reduce_sum(build::add(s, x), {0}));
        scan.finish();
      },
      "body output 's.next' is f32[] but carry %s0 is f32[2]");
  expect_error(
      [] {
        Graph graph;
        Value* xs = graph.add_input("xs", {DType::f32, {4, 2}});
        Value* ys = graph.add_input("ys", {DType::f32, {5, 2}});
        ScanBuilder scan(graph, "step");
        Value* x = scan.sequence(xs, "x");
        Value* y = scan.sequence(ys, "y");
        scan.add_output("z", build::add(x, y));
        scan.finish();
      },
      "sequences differ in length: %ys has 5 steps, expected 4");
  expect_error(
      [] {
        Graph graph;
        Value* xs = graph.add_input("xs", {DType::f32, {4, 2}});
        ScanBuilder scan(graph, "step");
        Value* x = scan.sequence(xs, "x");
        scan.add_output("z", build::reduce_sum(x, {0}));
        scan.set_lengths(graph.add_input("lengths", {DType::i32, {2}}));
        scan.finish();
      },
      "with lengths, every carry and per-step output needs leading dimension 2 (the batch), but "
      "body output 'z' is f32[]");
  expect_error(
      [] {
        Graph graph;
        Value* xs = graph.add_input("xs", {DType::f32, {4, 2}});
        ScanBuilder scan(graph, "step");
        Value* x = scan.sequence(xs, "x");
        Value* w = scan.body().add_parameter("w", {DType::f32, {2}}, "zeros");
        scan.add_output("z", build::mul(x, w));
        scan.finish();
      },
      "a scan body may not hold parameters (pass weights as invariants)");
}

TEST(Scan, ParserReportsBodyErrorsWithPositions) {
  const char* text =
      "graph @g {\n"
      "  %xs = input() : f32[4, 2]\n"
      "  %ys = scan(%xs) {num_carry = 0, num_sequences = 1} : f32[4, 2] graph @b {\n"
      "    %x = input() : f32[2]\n"
      "    %y = exp(%xs) : f32[2]\n"
      "    output y = %y\n"
      "  }\n"
      "}\n";
  expect_error([&] { parse_graph(text, "s.rnn"); }, "s.rnn:5:14: undefined value %xs");
}

}  // namespace
}  // namespace rnnc
