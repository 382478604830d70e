// Loop carries and the copies of a loop body on the CPU backend: a body step computing a
// carry's next value writes it straight into the carry's buffer (no write-back copy after the
// body), and copies of a body (a carry saved into its row of a residual stack) are made by an
// elementwise step of their shape (no memcpy). Every cell kind, forward and backward, against
// the interpreter in f64; with lengths, whose rows past their length keep their carry, the
// write-backs stay.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "codegen/backend.h"
#include "codegen/interp/interpreter.h"
#include "frontend/recurrent.h"
#include "ir/builder.h"
#include "ir/scan_builder.h"
#include "passes/autodiff.h"
#include "runtime/initializers.h"
#include "tests/support/backend_cases.h"
#include "tests/support/compare.h"
#include "tests/support/random_values.h"
#include "tests/support/recurrent_layers.h"

#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/cpu_backend.h"

namespace rnnc {
namespace {

using testrand::random_values;

using ir::Graph;
using ir::Value;
using nn::CellKind;
namespace build = ir::build;

constexpr int64_t kSteps = 5, kBatch = 3, kHidden = 7, kInput = 4;

/// A layer of `cell` (f64, kSteps x kBatch, kHidden units), a weighted sum of its outputs and
/// final state as the loss, and the gradients of every parameter and of the input. Its
/// outputs: the layer's outputs and the gradients (no [1, B, H] output, so that the only
/// copies of a carry's size are the loops' initial carries).
testlayers::Problem training_problem(CellKind cell, bool lengths) {
  return testlayers::recurrent_layer(cell, {.steps = kSteps,
                                            .batch = kBatch,
                                            .input = kInput,
                                            .hidden = kHidden,
                                            .lengths = lengths,
                                            .gradients = true});
}

/// How many memcpy calls of `bytes` bytes LLVM IR `ir` makes.
int copies_of(const std::string& ir, int64_t bytes) {
  int count = 0;
  std::istringstream lines(ir);
  for (std::string line; std::getline(lines, line);)
    count += line.find("call void @llvm.memcpy") != std::string::npos &&
             line.find("i64 " + std::to_string(bytes) + ", i1") != std::string::npos;
  return count;
}

TEST(CpuLoopCarries, BodiesWriteTheirCarriesAndMakeTheirCopies) {
  const int64_t carry_bytes = kBatch * kHidden * 8;
  struct Case {
    CellKind cell;
    const char* name;
    int carries;  // per loop: h (and c)
  };
  for (const Case& c :
       {Case{CellKind::Lstm, "lstm", 2}, Case{CellKind::Gru, "gru", 1},
        Case{CellKind::RnnTanh, "rnn", 1}, Case{CellKind::LectureGru, "lecture gru", 1}})
    for (bool lengths : {false, true}) {
      testlayers::Problem p = training_problem(c.cell, lengths);
      const Graph& graph = p.model->graph();
      const std::string context = std::string(c.name) + (lengths ? " lengths" : "");
      const std::string ir = cpu::render_llvm_ir(graph, {}, false);
      // The forward and the backward loop's initial carries, nothing more; with lengths, the
      // write-backs copy row by row.
      EXPECT_EQ(copies_of(ir, carry_bytes), 2 * c.carries) << context << ir;
      testcmp::expect_backend_matches_interpreter(graph, "cpu", p.inputs, p.state, 1e-10, context);
    }
}

TEST(CpuLoopCarries, LengthsKeepTheWriteBack) {
  // h_t = tanh(h_{t-1} w + x_t) with lengths 2, 6 and 1 of 6 steps, both directions: rows past
  // their length keep their carry, so the carry is written back row by row, not by the body.
  for (bool reverse : {false, true})
    for (bool lengths : {false, true}) {
      auto graph = cases::rnn(ir::DType::f64, 6, 3, 5, reverse, lengths);
      Bindings inputs, state;
      inputs["xs"] = Tensor::from_doubles(ir::DType::f64, {6, 3, 5}, random_values(90, 1));
      inputs["h0"] = Tensor::from_doubles(ir::DType::f64, {3, 5}, random_values(15, 2));
      if (lengths) inputs["lengths"] = Tensor::from_ints({3}, {2, 6, 1});
      state["w"] = Tensor::from_doubles(ir::DType::f64, {5, 5}, random_values(25, 3));
      const std::string context =
          std::string(reverse ? "reverse" : "forward") + (lengths ? " lengths" : "");
      // The initial carry, and without lengths nothing else of the carry's size.
      const std::string ir = cpu::render_llvm_ir(*graph, {}, false);
      if (!lengths) {
        EXPECT_EQ(copies_of(ir, 3 * 5 * 8), 1) << context << ir;
      }
      testcmp::expect_backend_matches_interpreter(*graph, "cpu", inputs, state, 1e-12, context);
    }
}

TEST(CpuLoopCarries, AStepAfterTheNextValueStillReadsTheOldCarry) {
  // o_t = h_{t-1} next_t^T needs the new value and the old carry: it runs after the step
  // computing the new value, so that step may not write the carry in place.
  auto graph = std::make_unique<Graph>("late_reader");
  Value* xs = graph->add_input("xs", {ir::DType::f64, {6, 3, 5}});
  Value* h0 = graph->add_input("h0", {ir::DType::f64, {3, 5}});
  Value* w = graph->add_input("w", {ir::DType::f64, {5, 5}});
  ir::ScanBuilder scan(*graph, "step");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  Value* next = build::tanh(build::add(build::matmul(h, scan.invariant(w, "w")), x));
  scan.set_next(h, next);
  scan.add_output("o", build::matmul(h, next, false, true));
  std::vector<Value*> results = scan.finish();
  graph->add_output("h_final", results[0]);
  graph->add_output("os", results[1]);
  Bindings inputs, state;
  inputs["xs"] = Tensor::from_doubles(ir::DType::f64, {6, 3, 5}, random_values(90, 4));
  inputs["h0"] = Tensor::from_doubles(ir::DType::f64, {3, 5}, random_values(15, 5));
  inputs["w"] = Tensor::from_doubles(ir::DType::f64, {5, 5}, random_values(25, 6));
  testcmp::expect_backend_matches_interpreter(*graph, "cpu", inputs, state, 1e-12);
}

}  // namespace
}  // namespace rnnc
#endif
