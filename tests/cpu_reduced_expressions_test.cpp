// Reductions on the CPU backend.
// - To one element, of an operand only they read, computed by an elementwise step (a weight
//   gradient squared for the clipping norm, a squared error before its mean): the backend
//   evaluates the elementwise expression inside the reduction (in fixed chunks, across the
//   thread pool when large) and does not run the elementwise step.
// - Along some axes (a bias gradient summed over steps and batch): large ones split the first
//   dimension they keep across the thread pool.
// Every case against the interpreter in f64.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "codegen/backend.h"
#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "runtime/initializers.h"
#include "runtime/npy.h"
#include "tests/support/backend_cases.h"
#include "tests/support/compare.h"
#include "tests/support/programs.h"
#include "tests/support/rendered_ir.h"

#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/cpu_backend.h"

namespace rnnc {
namespace {

using namespace ir;

using testir::kernel_calls;

/// A reduction of an elementwise expression of inputs a and b (f64, `shape`), built by `make`.
struct Case {
  std::string name;
  Shape shape;
  std::function<Value*(Value* a, Value* b)> make;
};

/// The output r of `rnnc run` of model `text` (input x, output r) on `x`, with 1, 2 and 3
/// pool threads, in folder `name` of the test's temporary folder.
std::vector<Tensor> outputs_by_thread_count(const std::string& name, const std::string& text,
                                            const Tensor& x) {
  const std::string dir = ::testing::TempDir() + name + "/";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "model.rnn") << text;
  write_npy(dir + "x.npy", x);
  std::vector<Tensor> outputs;
  for (int threads : {1, 2, 3}) {
    const std::string out = dir + "out" + std::to_string(threads);
    testprog::ProgramRun run = testprog::run_program(
        "RNNC_THREADS=" + std::to_string(threads) + " " + testprog::binary("rnnc") + " run " + dir +
        "model.rnn --backend cpu --input x=" + dir + "x.npy --output-dir " + out);
    EXPECT_EQ(run.status, 0) << run.output;
    if (run.status == 0) outputs.push_back(read_npy(out + "/r.npy"));
  }
  return outputs;
}

TEST(CpuReducedExpressions, ReductionsEvaluateTheirElementwiseOperand) {
  // Small (one thread), large (parts on the pool, a lone merged dimension split in chunks of
  // 64 elements), one element (only the first chunk may count it), with a reshape between
  // (the reduction reads a view of all of the result), and empty. With `shared` the
  // expression is an output too: it runs, and the reduction reads it.
  auto sum_of_squares = [](Value* a, Value*) {
    return build::reduce_sum(build::mul(a, a), {0, 1});
  };
  auto mean_square_error = [](Value* a, Value* b) {
    Value* error = build::sub(a, b);
    return build::reduce_mean(build::mul(error, error), {0, 1});
  };
  auto max_of_tanh = [](Value* a, Value* b) {
    return build::reduce_max(build::mul(build::tanh(a), b), {0, 1});
  };
  auto through_reshape = [](Value* a, Value* b) {
    const Shape& shape = a->shape();
    Value* rows = build::reshape(build::add(build::exp(a), b), {shape[0] * shape[1]});
    return build::reduce_sum(rows, {0});
  };
  std::vector<Case> cases;
  for (Shape shape : {Shape{5, 7}, Shape{300, 257}, Shape{1, 1}, Shape{0, 9}}) {
    cases.push_back({"sum of squares", shape, sum_of_squares});
    cases.push_back({"mean square error", shape, mean_square_error});
    if (shape[0] > 0) cases.push_back({"max of tanh", shape, max_of_tanh});
    cases.push_back({"through a reshape", shape, through_reshape});
  }
  for (const Case& c : cases)
    for (bool shared : {false, true}) {
      auto graph = std::make_unique<Graph>("reduced");
      Value* a = graph->add_input("a", {DType::f64, c.shape});
      Value* b = graph->add_input("b", {DType::f64, c.shape});
      Value* reduced = c.make(a, b);
      graph->add_output("r", reduced);
      if (shared) graph->add_output("e", reduced->producer()->operand(0));
      std::string context = c.name + " " + std::to_string(c.shape[0]) + "x" +
                            std::to_string(c.shape[1]) + (shared ? " shared" : "");
      std::string ir = cpu::render_llvm_ir(*graph, {}, false);
      EXPECT_EQ(kernel_calls(ir, "_elementwise_"), shared ? 1 : 0) << context << ir;
      EXPECT_EQ(kernel_calls(ir, "_reduce_"), 1) << context;
      const bool parallel = c.shape[0] * c.shape[1] >= 300 * 257;
      EXPECT_EQ(ir.find("@rnnc_run_parallel") != std::string::npos, parallel) << context;
      Bindings inputs, state;
      inputs["a"] = initialize(a->type(), "uniform:-2,2", 11);
      inputs["b"] = initialize(b->type(), "uniform:-2,2", 12);
      testcmp::expect_backend_matches_interpreter(*graph, "cpu", inputs, state, 1e-12, context);
    }
}

TEST(CpuReducedExpressions, OnlyWholeReductionsOfALoneResultFold) {
  // A reduction along one axis (several result elements), and an expression with a second
  // result another step reads: both steps run.
  auto graph = std::make_unique<Graph>("kept");
  Value* a = graph->add_input("a", {DType::f64, {40, 30}});
  Value* b = graph->add_input("b", {DType::f64, {40, 30}});
  Value* c = graph->add_input("c", {DType::f64, {40, 30}});
  graph->add_output("rows", build::reduce_sum(build::mul(c, c), {1}));
  Value* e = build::exp(a);
  graph->add_output("sum", build::reduce_sum(build::add(e, b), {0, 1}));
  graph->add_output("e", build::tanh(build::reshape(e, {1200})));
  std::string ir = cpu::render_llvm_ir(*graph, {}, false);
  EXPECT_EQ(kernel_calls(ir, "_elementwise_"), 3) << ir;
  EXPECT_EQ(kernel_calls(ir, "_reduce_"), 2) << ir;
  Bindings inputs, state;
  inputs["a"] = initialize(a->type(), "uniform:-2,2", 13);
  inputs["b"] = initialize(b->type(), "uniform:-2,2", 14);
  inputs["c"] = initialize(c->type(), "uniform:-2,2", 15);
  testcmp::expect_backend_matches_interpreter(*graph, "cpu", inputs, state, 1e-12);
}

TEST(CpuReducedExpressions, TheSumDoesNotDependOnTheThreadCount) {
  // f32, where the order of the additions shows in the last bits: `rnnc run` with 1, 2 and 3
  // pool threads gives the same bits (the chunks are fixed, their partials added in order).
  std::vector<Tensor> sums =
      outputs_by_thread_count("rnnc_reduced_threads",
                              "graph @norm {\n"
                              "  %x = input() : f32[300, 257]\n"
                              "  %s = mul(%x, %x) : f32[300, 257]\n"
                              "  %r = reduce_sum(%s) {axes = [0, 1]} : f32[]\n"
                              "  output r = %r\n"
                              "}\n",
                              initialize({DType::f32, {300, 257}}, "uniform:-2,2", 21));
  ASSERT_EQ(sums.size(), 3u);
  EXPECT_EQ(sums[0].get(0), sums[1].get(0));
  EXPECT_EQ(sums[0].get(0), sums[2].get(0));
}

TEST(CpuReducedExpressions, ReductionsAlongAxesSplitTheirFirstKeptDimension) {
  // Leading axes reduced (a bias gradient: the parts take ranges of whole cache lines of the
  // innermost dimension, 1537 and 20 not a multiple of them), trailing ones (row sums),
  // middle ones, the first and last (the middle dimension split), a mean and a max; small
  // ones stay on the calling thread.
  struct AxesCase {
    Shape shape;
    std::vector<int64_t> axes;
    OpKind kind;
    bool parallel;
  };
  const std::vector<AxesCase> cases = {
      {{50, 8, 1537}, {0, 1}, OpKind::ReduceSum, true},
      {{4000, 20}, {0}, OpKind::ReduceSum, true},
      {{300, 257}, {1}, OpKind::ReduceMean, true},
      {{7, 3000, 9}, {1}, OpKind::ReduceMax, true},
      {{30, 70, 40}, {0, 2}, OpKind::ReduceMean, true},
      {{30, 70, 40}, {1, 2}, OpKind::ReduceSum, true},
      {{1, 70000}, {1}, OpKind::ReduceSum, false},
      {{40, 30}, {0}, OpKind::ReduceSum, false},
  };
  for (const AxesCase& c : cases) {
    auto graph = std::make_unique<Graph>("axes");
    Value* a = graph->add_input("a", {DType::f64, c.shape});
    Value* reduced = c.kind == OpKind::ReduceSum    ? build::reduce_sum(a, c.axes)
                     : c.kind == OpKind::ReduceMean ? build::reduce_mean(a, c.axes)
                                                    : build::reduce_max(a, c.axes);
    graph->add_output("r", reduced);
    std::string context = std::string(op_info(c.kind).name) + " of " + a->type().to_string();
    std::string ir = cpu::render_llvm_ir(*graph, {}, false);
    EXPECT_EQ(kernel_calls(ir, "_reduce_"), 1) << context;
    EXPECT_EQ(ir.find("@rnnc_run_parallel") != std::string::npos, c.parallel) << context;
    Bindings inputs, state;
    inputs["a"] = initialize(a->type(), "uniform:-2,2", 31);
    testcmp::expect_backend_matches_interpreter(*graph, "cpu", inputs, state, 1e-12, context);
  }
}

TEST(CpuReducedExpressions, AReductionAlongAxesDoesNotDependOnTheThreadCount) {
  // A bias gradient's shape in f32: 1, 2 and 3 pool threads give the same bits (each result
  // element is summed by one part, in the order of the serial loop).
  std::vector<Tensor> sums =
      outputs_by_thread_count("rnnc_reduced_axes_threads",
                              "graph @bias_gradient {\n"
                              "  %x = input() : f32[25, 16, 1030]\n"
                              "  %r = reduce_sum(%x) {axes = [0, 1]} : f32[1030]\n"
                              "  output r = %r\n"
                              "}\n",
                              initialize({DType::f32, {25, 16, 1030}}, "uniform:-2,2", 22));
  ASSERT_EQ(sums.size(), 3u);
  for (int64_t i = 0; i < 1030; ++i) {
    EXPECT_EQ(sums[0].get(i), sums[1].get(i)) << i;
    EXPECT_EQ(sums[0].get(i), sums[2].get(i)) << i;
  }
}

}  // namespace
}  // namespace rnnc
#endif
