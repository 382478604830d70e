// The CPU backend's own properties: target CPU names, what the rendered LLVM IR looks like,
// compile times (printed, never asserted), and the driver's --backend option.
#include <gtest/gtest.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "codegen/backend.h"
#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/scan_builder.h"
#include "runtime/initializers.h"
#include "runtime/npy.h"
#include "tests/support/backend_cases.h"
#include "tests/support/errors.h"
#include "tests/support/programs.h"

#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/cpu_backend.h"
#endif

namespace rnnc {
namespace {

using namespace ir;

bool has_cpu() {
  auto names = codegen::available_backends();
  return std::find(names.begin(), names.end(), "cpu") != names.end();
}

/// y = tanh(x * w + b) over f32[rows, cols]: one fused elementwise kernel at O1.
std::unique_ptr<Graph> elementwise_graph(int64_t rows, int64_t cols) {
  auto graph = std::make_unique<Graph>("elementwise");
  Value* x = graph->add_input("x", {DType::f32, {rows, cols}});
  Value* w = graph->add_input("w", {DType::f32, {rows, cols}});
  Value* b = graph->add_input("b", {DType::f32, {cols}});
  Value* y = build::tanh(build::add(build::mul(x, w), build::broadcast(b, {rows, cols})));
  graph->add_output("y", y);
  return graph;
}

Bindings random_inputs(const Graph& graph, uint64_t seed) {
  Bindings inputs;
  for (Node* node : graph.nodes_of(OpKind::Input))
    inputs[node->result()->name()] = initialize(node->result()->type(), "uniform:-2,2", seed++);
  return inputs;
}

TEST(CpuBackend, ElementwiseMatchesInterpreter) {
  if (!has_cpu()) GTEST_SKIP() << "built without the CPU backend";
  auto graph = elementwise_graph(37, 129);
  Bindings inputs = random_inputs(*graph, 1), state;
  Bindings want = interp::run_graph(*graph, inputs, state);
  auto executable = codegen::compile(*graph, "cpu");
  Bindings got = executable->run(inputs, state);
  EXPECT_LE(max_relative_difference(got.at("y"), want.at("y")), 1e-6);
}

}  // namespace
}  // namespace rnnc

#ifdef RNNC_HAVE_CPU
namespace rnnc {
namespace {

/// Runs `graph` on the interpreter and on the CPU backend (with `options`) from the same
/// random inputs (`seed`) and expects every output within `tolerance`; `context` names the
/// case.
void expect_matches_interpreter(const Graph& graph, uint64_t seed, double tolerance,
                                const std::string& context,
                                const codegen::CompileOptions& options = {}) {
  Bindings inputs = random_inputs(graph, seed), state;
  Bindings want = interp::run_graph(graph, inputs, state);
  Bindings got = codegen::compile(graph, "cpu", options)->run(inputs, state);
  for (const auto& [name, tensor] : want)
    EXPECT_LE(max_relative_difference(got.at(name), tensor), tolerance) << name << " " << context;
}

TEST(CpuBackend, LargeElementwiseStepsAreSplitAcrossThePool) {
  // 300 x 257 elements times their ops (2^16 or more, a tanh weighing 12) run as parts on the
  // thread pool, split by rows; a lone merged dimension (every operand contiguous) is split in
  // multiples of 64 elements. Both against the interpreter, with odd sizes so that parts are
  // uneven.
  if (!has_cpu()) GTEST_SKIP() << "built without the CPU backend";
  auto rows = elementwise_graph(300, 257);
  auto flat = std::make_unique<Graph>("flat");
  Value* x = flat->add_input("x", {DType::f32, {70001}});
  Value* w = flat->add_input("w", {DType::f32, {70001}});
  flat->add_output("y", build::tanh(build::add(build::mul(x, w), build::sigmoid(x))));
  for (Graph* graph : {rows.get(), flat.get()}) {
    codegen::CompileOptions options;
    options.target_cpu = "x86-64-v3";
    EXPECT_NE(cpu::render_llvm_ir(*graph, options, false).find("@rnnc_run_parallel"),
              std::string::npos)
        << graph->name();
    Bindings inputs = random_inputs(*graph, 3), state;
    Bindings want = interp::run_graph(*graph, inputs, state);
    Bindings got = codegen::compile(*graph, "cpu")->run(inputs, state);
    EXPECT_LE(max_relative_difference(got.at("y"), want.at("y")), 1e-6) << graph->name();
  }
  EXPECT_EQ(cpu::render_llvm_ir(*elementwise_graph(16, 129), {}, false).find("@rnnc_run_parallel"),
            std::string::npos)
      << "too small to split";
}

TEST(CpuBackend, LargeGathersAreSplitAcrossThePool) {
  // 1600 rows of 256 floats from a 3000-row table (an embedding's rows for a batch of
  // sequences, 1.6 MB): split by positions across the pool, against the interpreter; an index
  // out of range in the last positions (the last part's) is still reported with the node.
  if (!has_cpu()) GTEST_SKIP() << "built without the CPU backend";
  auto graph = std::make_unique<Graph>("embedding");
  Value* table = graph->add_input("table", {DType::f32, {3000, 256}});
  Value* tokens = graph->add_input("tokens", {DType::i32, {50, 32}});
  graph->add_output("rows", build::gather(table, tokens));
  EXPECT_NE(cpu::render_llvm_ir(*graph, {}, false).find("@rnnc_run_parallel"), std::string::npos);
  Bindings inputs, state;
  inputs["table"] = initialize({DType::f32, {3000, 256}}, "uniform:-1,1", 4);
  std::vector<int32_t> ids(1600);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7919) % 3000);
  inputs["tokens"] = Tensor::from_ints({50, 32}, ids);
  auto executable = codegen::compile(*graph, "cpu");
  EXPECT_EQ(max_relative_difference(executable->run(inputs, state).at("rows"),
                                    interp::run_graph(*graph, inputs, state).at("rows")),
            0);
  ids.back() = 3000;
  inputs["tokens"] = Tensor::from_ints({50, 32}, ids);
  std::string message = testerr::error_of([&] { executable->run(inputs, state); });
  EXPECT_NE(message.find("gather index out of range [0, 3000)"), std::string::npos) << message;
}

TEST(CpuBackend, LargeRowScattersAreSplitAcrossThePool) {
  // 1600 rows of 256 floats written into a 3000-row table (a sparse embedding update, 1.6 MB)
  // on the pool, each part writing the rows of its range of the table: every index appears
  // twice, 800 positions apart, and the first position wins, as in the interpreter. An index
  // out of range is reported with the node before anything is written.
  if (!has_cpu()) GTEST_SKIP() << "built without the CPU backend";
  auto graph = std::make_unique<Graph>("row_update");
  Value* table = graph->add_input("table", {DType::f32, {3000, 256}});
  Value* tokens = graph->add_input("tokens", {DType::i32, {50, 32}});
  Value* rows = graph->add_input("rows", {DType::f32, {50, 32, 256}});
  graph->add_output("updated", build::scatter_rows(table, tokens, rows));
  EXPECT_NE(cpu::render_llvm_ir(*graph, {}, false).find("@rnnc_run_parallel"), std::string::npos);
  Bindings inputs, state;
  inputs["table"] = initialize({DType::f32, {3000, 256}}, "uniform:-1,1", 4);
  inputs["rows"] = initialize({DType::f32, {50, 32, 256}}, "uniform:-1,1", 5);
  std::vector<int32_t> ids(1600);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(((i % 800) * 7919) % 3000);
  inputs["tokens"] = Tensor::from_ints({50, 32}, ids);
  auto executable = codegen::compile(*graph, "cpu");
  EXPECT_EQ(max_relative_difference(executable->run(inputs, state).at("updated"),
                                    interp::run_graph(*graph, inputs, state).at("updated")),
            0);
  ids.back() = 3000;
  inputs["tokens"] = Tensor::from_ints({50, 32}, ids);
  std::string message = testerr::error_of([&] { executable->run(inputs, state); });
  EXPECT_NE(message.find("scatter_rows index out of range [0, 3000)"), std::string::npos)
      << message;
}

TEST(CpuBackend, DenormalsAreFlushedWhileRunningAndTheCallersModeIsKept) {
  // Products below FLT_MIN (1e-20 * 1e-20) and denormal operands times 1e30: 0 with
  // flush_denormals (the default: FTZ for results, DAZ for operands), the interpreter's IEEE
  // values without; on 2^17 elements, so that the pool's workers compute parts too (they take
  // the caller's control word with each region). The caller's MXCSR is the same after a run,
  // also after one that fails (an index out of range).
  if (!has_cpu()) GTEST_SKIP() << "built without the CPU backend";
  const int64_t n = int64_t{1} << 17;
  auto graph = std::make_unique<Graph>("denormals");
  Value* a = graph->add_input("a", {DType::f32, {n}});
  Value* b = graph->add_input("b", {DType::f32, {n}});
  Value* c = graph->add_input("c", {DType::f32, {n}});
  Value* table = graph->add_input("table", {DType::f32, {4, 1}});
  Value* ids = graph->add_input("ids", {DType::i32, {1}});
  graph->add_output("tiny", build::mul(a, b));
  graph->add_output("scaled", build::mul(c, build::full_like(c, 1e30)));
  graph->add_output("row", build::gather(table, ids));
  std::vector<float> small(n), smaller(n), denormal(n);
  for (int64_t i = 0; i < n; ++i) {
    small[i] = 1e-20f;
    smaller[i] = 1e-20f * static_cast<float>(1 + i % 7);
    denormal[i] = 1e-40f * static_cast<float>(1 + i % 5);
  }
  Bindings inputs{{"a", Tensor::from_floats({n}, small)},
                  {"b", Tensor::from_floats({n}, smaller)},
                  {"c", Tensor::from_floats({n}, denormal)},
                  {"table", Tensor::from_floats({4, 1}, {1, 2, 3, 4})},
                  {"ids", Tensor::from_ints({1}, {2})}},
      state;
  const Bindings want = interp::run_graph(*graph, inputs, state);
  ASSERT_GT(want.at("tiny").get(n - 1), 0.0);
  ASSERT_GT(want.at("scaled").get(n - 1), 1e-11);
  const unsigned int caller = _mm_getcsr();
  for (bool flush : {true, false}) {
    codegen::CompileOptions options;
    options.flush_denormals = flush;
    EXPECT_EQ(cpu::render_llvm_ir(*graph, options, false).find("llvm.x86.sse.ldmxcsr") !=
                  std::string::npos,
              flush);
    auto executable = codegen::compile(*graph, "cpu", options);
    // Several runs: in the first the caller may take every part before a sleeping worker
    // wakes; then the worker spins and takes its part.
    for (int run = 0; run < 8; ++run) {
      Bindings got = executable->run(inputs, state);
      EXPECT_EQ(_mm_getcsr(), caller) << flush;
      int64_t flushed = 0;
      for (int64_t i = 0; i < n; ++i)
        flushed += (got.at("tiny").get(i) == 0) + (got.at("scaled").get(i) == 0);
      EXPECT_EQ(flushed, flush ? 2 * n : 0) << flush << " run " << run;
      for (const char* name : {"tiny", "scaled"}) {
        if (!flush) {
          EXPECT_LE(max_relative_difference(got.at(name), want.at(name)), 1e-6) << name;
        }
      }
      EXPECT_EQ(got.at("row").get(0), 3.0);
    }
    Bindings bad = inputs;
    bad["ids"] = Tensor::from_ints({1}, {4});
    std::string message = testerr::error_of([&] { executable->run(bad, state); });
    EXPECT_NE(message.find("gather index out of range"), std::string::npos) << message;
    EXPECT_EQ(_mm_getcsr(), caller) << flush;
  }
}

TEST(CpuBackend, RunIntoReusesTheOutputTensorsAndMatchesRun) {
  // The same bits as run() from fresh zeroed outputs, on the second call too (every kernel
  // writes all of its result), in the same memory; a tensor of another type is replaced and a
  // name that is no output is dropped.
  for (auto& graph : {cases::rnn(DType::f32, 6, 3, 5, true, true), cases::every_op(DType::f32)}) {
    auto executable = codegen::compile(*graph, "cpu");
    Bindings outputs{{"not_an_output", Tensor(TensorType{DType::f32, {2}})}};
    const std::string first = graph->outputs().at(0).name;
    outputs[first] = Tensor(TensorType{DType::f64, {1}});
    std::map<std::string, const void*> memory;
    for (uint64_t seed : {5, 6}) {
      Bindings state;
      Bindings inputs = cases::random_bindings(*graph, seed, state);
      Bindings state_into = state;
      Bindings want = executable->run(inputs, state);
      executable->run_into(inputs, state_into, outputs);
      ASSERT_EQ(outputs.size(), want.size()) << graph->name();
      for (const auto& [name, tensor] : want) {
        ASSERT_EQ(outputs.at(name).type(), tensor.type()) << name;
        EXPECT_EQ(max_relative_difference(outputs.at(name), tensor), 0.0) << name;
        if (seed == 6) {
          EXPECT_EQ(memory.at(name), outputs.at(name).raw()) << name;
        }
        memory[name] = outputs.at(name).raw();
      }
      for (const auto& [name, tensor] : state)
        EXPECT_EQ(max_relative_difference(state_into.at(name), tensor), 0.0) << name;
    }
  }
}

TEST(CpuBackend, PerfMapNamesTheProgramAndItsKernelsWhenAsked) {
  // With RNNC_PERF_MAP set, compiling appends the program's and its kernels' addresses to
  // /tmp/perf-PID.map ("start size name", hexadecimal), one function per line, for `perf`;
  // without it, nothing is written.
  if (!has_cpu()) GTEST_SKIP() << "no CPU backend in this build";
  const std::string map = "/tmp/perf-" + std::to_string(static_cast<long>(::getpid())) + ".map";
  std::filesystem::remove(map);
  auto graph = elementwise_graph(64, 600);
  Value* x = graph->add_input("xs", {DType::f32, {64, 512}});
  Value* w = graph->add_input("ws", {DType::f32, {512, 1024}});
  graph->add_output("p", build::sigmoid(build::matmul(x, w)));
  ::setenv("RNNC_PERF_MAP", "1", 1);
  auto executable = codegen::compile(*graph, "cpu");
  ::unsetenv("RNNC_PERF_MAP");
  std::ifstream lines(map);
  std::map<std::string, uint64_t> sizes;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    uint64_t start = 0, size = 0;
    std::string name;
    ASSERT_TRUE(fields >> std::hex >> start >> size >> name) << line;
    EXPECT_GT(start, 0u) << line;
    sizes[name] = size;
  }
  ASSERT_TRUE(sizes.count("rnnc_program")) << "nothing named in " << map;
  EXPECT_GT(sizes.at("rnnc_program"), 0u);
  EXPECT_TRUE(std::any_of(sizes.begin(), sizes.end(),
                          [](const auto& entry) { return entry.first.rfind("kernel", 0) == 0; }))
      << "no kernel named in " << map;
  const auto written = std::filesystem::file_size(map);
  auto quiet = codegen::compile(*graph, "cpu");
  EXPECT_EQ(std::filesystem::file_size(map), written);
  std::filesystem::remove(map);
}

TEST(CpuBackend, SlicesReadOnlyByTheNextElementwiseStepAreReadInPlace) {
  // Gate-like column slices of one buffer feeding one fused step are not copied out; a slice
  // that another step also reads is.
  for (bool shared : {false, true}) {
    auto graph = std::make_unique<Graph>("slices");
    Value* x = graph->add_input("x", {DType::f32, {5, 12}});
    Value* w = graph->add_input("w", {DType::f32, {5, 12}});
    Value* gates = build::mul(x, w);
    Value* a = build::slice(gates, {0, 0}, {5, 4});
    Value* b = build::slice(gates, {0, 4}, {5, 8});
    Value* c = build::slice(gates, {0, 8}, {5, 12});
    graph->add_output("y", build::add(build::mul(build::tanh(a), build::sigmoid(b)), c));
    // Read whole too, so that the product is not split per slice (split-sliced-elementwise).
    graph->add_output("s", build::reduce_sum(gates, {0, 1}));
    if (shared) graph->add_output("c", build::matmul(c, build::transpose(c, {1, 0})));
    codegen::CompileOptions options;
    options.target_cpu = "x86-64-v3";
    std::string ir = cpu::render_llvm_ir(*graph, options, false);
    EXPECT_EQ(ir.find("call i32 @kernel") != std::string::npos &&
                  ir.find("_layout_slice") != std::string::npos,
              shared)
        << ir;
    expect_matches_interpreter(*graph, 4, 1e-6, shared ? "shared" : "");
  }
}

TEST(CpuBackend, ConcatsOfTheStepBeforeAreWrittenInPlace) {
  // The gate gradients of a backward step, concatenated for the products after them: the
  // fused step writes them into the concats' results, whichever the axis, unless a part is
  // read elsewhere too.
  for (int64_t axis : {0, 1})
    for (bool shared : {false, true}) {
      auto graph = std::make_unique<Graph>("concats");
      Value* x = graph->add_input("x", {DType::f32, {5, 4}});
      Value* w = graph->add_input("w", {DType::f32, {5, 4}});
      Value* a = build::tanh(build::mul(x, w));  // one fused step, three results
      Value* b = build::mul(build::sigmoid(build::add(x, w)), a);
      Value* c = build::sub(b, x);
      Value* joined = build::concat({a, b, c}, axis);
      graph->add_output("y", build::matmul(joined, joined, true, false));
      // A second concat of two of the parts after that product (a GRU's backward step): the
      // step writes those parts twice. (Its product reads the first concat too, which keeps
      // the two concats' results apart in the arena.)
      Value* again = build::concat({c, a}, axis);
      graph->add_output("z", build::matmul(again, joined, axis == 1, axis == 0));
      if (shared) graph->add_output("b", build::matmul(b, b, false, true));
      codegen::CompileOptions options;
      options.target_cpu = "x86-64-v3";
      std::string ir = cpu::render_llvm_ir(*graph, options, false);
      EXPECT_EQ(ir.find("_layout_concat(") != std::string::npos, shared) << ir;
      expect_matches_interpreter(*graph, 5, 1e-6,
                                 "axis " + std::to_string(axis) + (shared ? " shared" : ""));
    }
}

/// How many elementwise kernels the entry function of LLVM IR `ir` calls.
int elementwise_calls(const std::string& ir) {
  int calls = 0;
  std::istringstream lines(ir);
  for (std::string line; std::getline(lines, line);)
    calls += line.find("call i32 @kernel") != std::string::npos &&
             line.find("_elementwise_") != std::string::npos;
  return calls;
}

TEST(CpuBackend, ProductsComputeTheSumAfterThem) {
  // Gates x w + b + c, then two halves through sigmoid and tanh: the product's accumulators
  // start from b + c, and the sum's kernel does not run; with k in slices, a partial column
  // block, and split across the pool. Not when the product is read elsewhere too. (f64: the
  // sums' order changes.)
  struct Shape {
    int64_t m, k, n;
  };
  for (Shape shape : {Shape{5, 7, 14}, Shape{32, 300, 70}, Shape{64, 512, 256}})
    for (bool shared : {false, true}) {
      auto graph = std::make_unique<Graph>("sums");
      Value* x = graph->add_input("x", {DType::f64, {shape.m, shape.k}});
      Value* w = graph->add_input("w", {DType::f64, {shape.k, shape.n}});
      Value* b = graph->add_input("b", {DType::f64, {shape.m, shape.n}});
      Value* c = graph->add_input("c", {DType::f64, {shape.m, shape.n}});
      Value* product = build::matmul(x, w);
      Value* gates = build::add(build::add(product, b), c);
      const int64_t half = shape.n / 2;
      Value* first = build::slice(gates, {0, 0}, {shape.m, half});
      Value* second = build::slice(gates, {0, half}, {shape.m, shape.n});
      graph->add_output("y", build::mul(build::sigmoid(first), build::tanh(second)));
      // Read whole too, so that the sum is not split per slice (split-sliced-elementwise).
      graph->add_output("s", build::reduce_sum(gates, {0, 1}));
      if (shared) graph->add_output("p", build::exp(product));
      codegen::CompileOptions options;
      options.target_cpu = "x86-64-v3";
      std::string ir = cpu::render_llvm_ir(*graph, options, false);
      const std::string context = std::to_string(shape.m) + "x" + std::to_string(shape.k) + "x" +
                                  std::to_string(shape.n) + (shared ? " shared" : "");
      // Shared: the sum and exp(product) are one fused step (siblings), the halves another.
      EXPECT_EQ(elementwise_calls(ir), shared ? 2 : 1) << context << ir;
      expect_matches_interpreter(*graph, 6, 1e-12, context);
    }
}

TEST(CpuBackend, ProductsAddABiasToEveryRow) {
  // An input projection: the steps' rows times w, back into steps, plus a bias broadcast to
  // every row; and a rank-2 product plus a broadcast bias and a matrix. The product's
  // accumulators start from the bias (and the matrix), and the sum's kernel does not run;
  // with k in slices, a partial column block, and split across the pool. Not when the
  // product is read elsewhere too. (f64: the sums' order changes.)
  struct Shape {
    int64_t m, k, n;
  };
  for (Shape shape : {Shape{6, 7, 14}, Shape{33, 300, 70}, Shape{96, 512, 256}})
    for (bool steps : {false, true})
      for (bool shared : {false, true}) {
        auto graph = std::make_unique<Graph>("bias");
        Value* w = graph->add_input("w", {DType::f64, {shape.k, shape.n}});
        Value* b = graph->add_input("b", {DType::f64, {shape.n}});
        Value* product;
        Value* sum;
        if (steps) {
          Value* x = graph->add_input("x", {DType::f64, {3, shape.m / 3, shape.k}});
          product = build::matmul(build::reshape(x, {shape.m, shape.k}), w);
          Value* rows = build::reshape(product, {3, shape.m / 3, shape.n});
          sum = build::add(rows, build::broadcast(b, {3, shape.m / 3, shape.n}));
        } else {
          Value* x = graph->add_input("x", {DType::f64, {shape.m, shape.k}});
          Value* c = graph->add_input("c", {DType::f64, {shape.m, shape.n}});
          product = build::matmul(x, w);
          sum = build::add(build::add(product, build::broadcast(b, {shape.m, shape.n})), c);
        }
        graph->add_output("y", sum);
        if (shared) graph->add_output("p", build::exp(product));
        codegen::CompileOptions options;
        options.target_cpu = "x86-64-v3";
        std::string ir = cpu::render_llvm_ir(*graph, options, false);
        const std::string context = std::to_string(shape.m) + "x" + std::to_string(shape.k) + "x" +
                                    std::to_string(shape.n) + (steps ? " steps" : "") +
                                    (shared ? " shared" : "");
        // Shared: the sum and exp(product) are one fused step (siblings), unless the sum
        // reads the product in steps (another shape).
        EXPECT_EQ(elementwise_calls(ir), shared ? (steps ? 2 : 1) : 0) << context << ir;
        expect_matches_interpreter(*graph, 7, 1e-12, context);
      }
}

TEST(CpuBackend, ProductsWriteTheirColumnSlicesInPlace) {
  // x w cut into column slices (a backward step's input and carried gradients, a layer's
  // weight gradients): slices that start at column blocks (of f64: 32 columns on AVX-512, 8
  // on AVX2) are written by the product itself and not copied out; with k in slices, a partial last
  // column block, and split across the pool. With a bias slice added to each (a GRU's input
  // projection per gate), the product adds it and writes the sums. Copied out when a slice
  // starts inside a block or the product is read elsewhere too. Stepped: the product read
  // through a reshape into steps [m, 1, n] and the sums summed over the steps afterwards (a
  // GRU's hoisted input projection per gate, read by its loop), all sums before their
  // readers, where a sum may take the place of an earlier slice that is read in place and so
  // never written.
  struct Case {
    int64_t m, k;
    std::vector<int64_t> cuts;  // the slices' first columns after 0, then the last column
    bool in_place;
    // Stepped and biased, the product writes the sums too. Not with three slices: there an
    // earlier sum is summed over the steps before a later one is made, and plan-memory puts
    // the later one where the earlier was (the product would write both at once).
    bool stepped_sums;
  };
  for (const Case& c :
       {Case{5, 7, {64, 80}, true, true}, Case{37, 300, {64, 192, 232}, true, false},
        Case{37, 300, {192, 64, 232}, true, false}, Case{6, 20, {68, 128}, false, false}})
    for (bool shared : {false, true})
      for (bool biased : {false, true})
        for (bool stepped : {false, true}) {
          auto graph = std::make_unique<Graph>("slices");
          const int64_t n = c.cuts.back();
          Value* x = graph->add_input("x", {DType::f64, {c.m, c.k}});
          Value* w = graph->add_input("w", {DType::f64, {c.k, n}});
          Value* b = graph->add_input("b", {DType::f64, {n}});
          Value* product = build::matmul(x, w);
          Value* sliced = stepped ? build::reshape(product, {c.m, 1, n}) : product;
          std::vector<int64_t> firsts{0};
          firsts.insert(firsts.end(), c.cuts.begin(), c.cuts.end() - 1);
          std::sort(firsts.begin(), firsts.end());
          std::vector<Value*> sums;
          for (size_t i = 0; i < firsts.size(); ++i) {
            const int64_t end = i + 1 < firsts.size() ? firsts[i + 1] : n;
            const ir::Shape shape =
                stepped ? ir::Shape{c.m, 1, end - firsts[i]} : ir::Shape{c.m, end - firsts[i]};
            Value* slice = stepped ? build::slice(sliced, {0, 0, firsts[i]}, {c.m, 1, end})
                                   : build::slice(sliced, {0, firsts[i]}, {c.m, end});
            if (biased)
              slice =
                  build::add(slice, build::broadcast(build::slice(b, {firsts[i]}, {end}), shape));
            sums.push_back(slice);
          }
          for (size_t i = 0; i < sums.size(); ++i)
            graph->add_output("s" + std::to_string(i),
                              stepped ? build::reduce_sum(sums[i], {0}) : sums[i]);
          if (shared) graph->add_output("p", build::exp(product));
          std::string context = std::to_string(c.m) + "x" + std::to_string(c.k) + "x" +
                                std::to_string(n) + (shared ? " shared" : "") +
                                (biased ? " biased" : "") + (stepped ? " stepped" : "");
          for (const char* cpu : {"", "x86-64-v3"}) {
            codegen::CompileOptions options;
            options.target_cpu = cpu;
            std::string ir = cpu::render_llvm_ir(*graph, options, false);
            // (A sum reads its slice in place when the product does not write it.)
            EXPECT_EQ(ir.find("_layout_slice") == std::string::npos,
                      biased || (c.in_place && !shared))
                << context << " on " << (*cpu ? cpu : "the host");
            EXPECT_EQ(elementwise_calls(ir) == 0,
                      !shared && (c.in_place || !biased) && (!stepped || !biased || c.stepped_sums))
                << context << " on " << (*cpu ? cpu : "the host");
            expect_matches_interpreter(*graph, 8, 1e-12,
                                       context + " on " + (*cpu ? cpu : "the host"), options);
          }
        }
}

TEST(CpuBackend, PacksReadAConcatenatedBFromItsParts) {
  // A backward step's [W_hh, W_ih], read by the loop's product as B, and a weight gradient's
  // [h, x] steps, read through a reshape by a top-level packed product as B: the packs read
  // the parts (which stay alive until then), and the concat is not copied, when each part
  // but the last is whole panels (of f64: 32 columns on AVX-512, 8 on AVX2; the last part
  // ends in a partial panel). Copied when the first part is not (20 columns) or something
  // else reads the concat too.
  for (int64_t first : {64, 20})
    for (bool shared : {false, true})
      for (bool in_loop : {true, false}) {
        auto graph = std::make_unique<Graph>("packs");
        const int64_t second = 70, n = first + second;
        Value* joined;
        if (in_loop) {
          const int64_t k = 24;
          Value* w1 = graph->add_input("w1", {DType::f64, {k, first}});
          Value* w2 = graph->add_input("w2", {DType::f64, {k, second}});
          Value* h0 = graph->add_input("h0", {DType::f64, {6, k}});
          Value* xs = graph->add_input("xs", {DType::f64, {5, 6, k}});
          joined = build::concat({w1, w2}, 1);
          ScanBuilder scan(*graph, "step");
          Value* h = scan.carry(h0, "h");
          Value* x = scan.sequence(xs, "x");
          Value* w = scan.invariant(joined, "w");
          Value* product = build::matmul(h, w);
          Value* next = build::tanh(build::add(build::slice(product, {0, 0}, {6, k}), x));
          scan.set_next(h, next);
          scan.add_output("p", build::sigmoid(product));
          std::vector<Value*> results = scan.finish();
          graph->add_output("h", results.at(0));
          graph->add_output("ps", results.at(1));
        } else {
          Value* a = build::tanh(graph->add_input("a", {DType::f64, {3, 200, first}}));
          Value* b = graph->add_input("b", {DType::f64, {3, 200, second}});
          Value* g = graph->add_input("g", {DType::f64, {600, 256}});
          joined = build::concat({a, b}, 2);
          // Computed between the concat and its product: it must not take a's place.
          Value* c = build::sigmoid(graph->add_input("c", {DType::f64, {3, 200, first}}));
          graph->add_output("d", build::reduce_sum(c, {0, 1, 2}));
          graph->add_output("y", build::matmul(g, build::reshape(joined, {600, n}), true, false));
        }
        if (shared) graph->add_output("s", build::reduce_sum(joined, {0, 1}));
        const std::string context = std::to_string(first) + " + " + std::to_string(second) +
                                    (in_loop ? " in a loop" : " at top level") +
                                    (shared ? " shared" : "");
        for (const char* cpu : {"", "x86-64-v3"}) {
          codegen::CompileOptions options;
          options.target_cpu = cpu;
          std::string ir = cpu::render_llvm_ir(*graph, options, false);
          EXPECT_EQ(ir.find("_layout_concat(") == std::string::npos, first == 64 && !shared)
              << context << " on " << (*cpu ? cpu : "the host");
          expect_matches_interpreter(*graph, 9, 1e-12, context + " on " + (*cpu ? cpu : "the host"),
                                     options);
        }
      }
}

TEST(CpuBackend, UnknownTargetCpuIsAnError) {
  auto graph = elementwise_graph(2, 3);
  codegen::CompileOptions options;
  options.target_cpu = "no-such-cpu";
  std::string message = testerr::error_of([&] { codegen::compile(*graph, "cpu", options); });
  EXPECT_NE(message.find("unknown target CPU 'no-such-cpu'"), std::string::npos) << message;
  message = testerr::error_of([&] { cpu::render_llvm_ir(*graph, options); });
  EXPECT_NE(message.find("'no-such-cpu'"), std::string::npos) << message;
}

TEST(CpuBackend, NamedTargetCpuRuns) {
  // x86-64-v2 (SSE4.2) runs on every x86-64 machine this project supports.
  auto graph = elementwise_graph(5, 33);
  Bindings inputs = random_inputs(*graph, 4), state;
  Bindings want = interp::run_graph(*graph, inputs, state);
  codegen::CompileOptions options;
  options.target_cpu = "x86-64-v2";
  Bindings got = codegen::compile(*graph, "cpu", options)->run(inputs, state);
  EXPECT_LE(max_relative_difference(got.at("y"), want.at("y")), 1e-6);
}

TEST(CpuBackend, ElementwiseKernelIsVectorized) {
  // For AVX2 (x86-64-v3) the fused multiply-add-tanh loop runs on 8 floats at a time: tanh is
  // emitted as straight-line IR, so nothing blocks the loop vectorizer.
  auto graph = elementwise_graph(64, 256);
  codegen::CompileOptions options;
  options.target_cpu = "x86-64-v3";
  std::string rendered = cpu::render_llvm_ir(*graph, options, false);
  EXPECT_EQ(rendered.find("<8 x float>"), std::string::npos);  // scalar as rendered
  EXPECT_NE(rendered.find("define i32 @rnnc_program(ptr %externals, ptr noalias %arena, ptr "
                          "noalias %packs)"),
            std::string::npos);
  std::string optimized = cpu::render_llvm_ir(*graph, options, true);
  EXPECT_NE(optimized.find("vector.body"), std::string::npos);
  // Multiplies may fuse with their adds; tanh's division may become a reciprocal estimate.
  EXPECT_NE(optimized.find("fmul contract <8 x float>"), std::string::npos);
  EXPECT_NE(optimized.find("fdiv ninf arcp contract <8 x float>"), std::string::npos);
  EXPECT_EQ(optimized.find("@tanhf"), std::string::npos);
  // AVX2's 12-bit estimate takes two Newton steps.
  EXPECT_NE(optimized.find("\"reciprocal-estimates\"=\"vec-divf:2\""), std::string::npos);
}

TEST(CpuBackend, SigmoidAndTanhAtTheEdgesOfTheExponentRange) {
  // Their exponentials (emit_exp_beside_one_f32) scale once: below -87 they stay near 2^-126
  // and from 88.38 on they are +inf, where e^x is subnormal or finite but huge. Added to 1
  // that changes nothing but sigmoid's own subnormal results (x from -104 to -87.3), which
  // stay within the smallest normal float of the truth, denormals kept or flushed; the
  // others within 4e-7 of it.
  auto graph = std::make_unique<Graph>("edges");
  const std::vector<float> values{-110,  -104,   -100, -89, -88.72f, -88.5f, -88.38f, -88.3f,
                                  -88,   -87.5f, -87,  -86, -50,     -17,    -10,     10,
                                  17,    50,     86,   87,  87.5f,   88,     88.3f,   88.38f,
                                  88.5f, 88.72f, 89,   100, 104,     110};
  const int64_t n = static_cast<int64_t>(values.size());
  Value* x = graph->add_input("x", {DType::f32, {n}});
  graph->add_output("sigmoid", build::sigmoid(x));
  graph->add_output("tanh", build::tanh(x));
  Bindings inputs{{"x", Tensor::from_floats({n}, values)}}, state;
  for (bool flush : {true, false}) {
    codegen::CompileOptions options;
    options.flush_denormals = flush;
    Bindings got = codegen::compile(*graph, "cpu", options)->run(inputs, state);
    for (int64_t i = 0; i < n; ++i) {
      const double v = values[i];
      const double want = 1 / (1 + std::exp(-v));
      EXPECT_LE(std::abs(got.at("sigmoid").get(i) - want), std::max(1.2e-38, 4e-7 * want))
          << v << (flush ? "" : ", denormals kept");
      EXPECT_EQ(got.at("tanh").get(i), v < 0 ? -1.0 : 1.0) << v;
      if (v <= -89) {
        EXPECT_EQ(got.at("sigmoid").get(i), 0.0) << v;
      }
    }
  }
}

TEST(CpuBackend, SigmoidAndTanhKeepTheirLimitsWithReciprocalEstimates) {
  // The divisions of sigmoid and tanh run as a reciprocal estimate and a Newton step, which
  // would turn an infinite divisor into NaN: sigmoid(x) must still be exactly 0 far below
  // zero, sigmoid(60) and (inf) exactly 1, tanh exactly +-1, NaN stay NaN; and the quotient
  // within a few ulp everywhere, with AVX-512's 14-bit estimate (the host here), AVX2's
  // 12-bit one and SSE's. The limits come first, in the vectorized loop (a scalar remainder
  // divides exactly), and again at the end.
  auto graph = std::make_unique<Graph>("limits");
  const int64_t n = 4099;
  Value* x = graph->add_input("x", {DType::f32, {n}});
  graph->add_output("sigmoid", build::sigmoid(x));
  graph->add_output("tanh", build::tanh(x));
  const float infinity = std::numeric_limits<float>::infinity();
  const std::vector<float> limits{-1e30f, -infinity, infinity, std::nanf("")};
  const int64_t sweep_first = static_cast<int64_t>(limits.size()), sweep_last = n - 4;
  std::vector<float> values(n);
  std::copy(limits.begin(), limits.end(), values.begin());
  std::copy(limits.begin(), limits.end(), values.end() - 4);
  for (int64_t i = sweep_first; i < sweep_last; ++i)
    values[i] =
        static_cast<float>(-60.0 + 120.0 * (i - sweep_first) / (sweep_last - 1 - sweep_first));
  Bindings inputs{{"x", Tensor::from_floats({n}, values)}}, state;
  for (const char* cpu : {"", "x86-64-v3", "x86-64"}) {
    codegen::CompileOptions options;
    options.target_cpu = cpu;
    Bindings got = codegen::compile(*graph, "cpu", options)->run(inputs, state);
    const Tensor &sigmoid = got.at("sigmoid"), &tanh = got.at("tanh");
    const std::string where = *cpu ? cpu : "the host";
    double worst = 0;
    for (int64_t i = sweep_first; i < sweep_last; ++i) {
      const double v = values[i];
      const double want_sigmoid = 1 / (1 + std::exp(-v)), want_tanh = std::tanh(v);
      if (want_sigmoid > 1e-30)
        worst = std::max(worst, std::abs(sigmoid.get(i) - want_sigmoid) / want_sigmoid);
      if (want_tanh != 0)
        worst = std::max(worst, std::abs(tanh.get(i) - want_tanh) / std::abs(want_tanh));
    }
    EXPECT_LE(worst, 4e-7) << where;
    EXPECT_EQ(sigmoid.get(sweep_last - 1), 1.0) << where;  // exp(-60) vanishes beside 1
    for (int64_t first : {int64_t{0}, n - 4}) {
      EXPECT_EQ(sigmoid.get(first), 0.0) << where << " at " << first;
      EXPECT_EQ(tanh.get(first), -1.0) << where << " at " << first;
      EXPECT_EQ(sigmoid.get(first + 1), 0.0) << where << " at " << first;
      EXPECT_EQ(tanh.get(first + 1), -1.0) << where << " at " << first;
      EXPECT_EQ(sigmoid.get(first + 2), 1.0) << where << " at " << first;
      EXPECT_EQ(tanh.get(first + 2), 1.0) << where << " at " << first;
      EXPECT_TRUE(std::isnan(sigmoid.get(first + 3))) << where << " at " << first;
      EXPECT_TRUE(std::isnan(tanh.get(first + 3))) << where << " at " << first;
    }
  }
}

TEST(CpuBackend, TanhNearZeroIsAccurateAndBelowTwoToTheMinus12IsTheValue) {
  // tanh comes from e^(-2|x|) - 1 over its own sum with 2, divided through a reciprocal
  // estimate: near 0 that difference must not cancel (it is built from e^r - 1 and 2^n - 1),
  // and below 2^-12, where tanh x rounds to x, the quotient's correction would be subnormal
  // (flushed) and leave the estimate's error: the value itself comes out there. Log-spaced
  // magnitudes from 1e-38 to 2, both signs, with the 16-, 8- and 4-lane loops of each target
  // (1027 values leave a remainder for the narrower ones).
  auto graph = std::make_unique<Graph>("tanh_near_zero");
  const int64_t n = 1027;
  Value* x = graph->add_input("x", {DType::f32, {n}});
  graph->add_output("tanh", build::tanh(x));
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) {
    const float magnitude = static_cast<float>(std::pow(10.0, -38.0 + 38.3 * i / (n - 1)));
    values[i] = i % 2 ? -magnitude : magnitude;
  }
  Bindings inputs{{"x", Tensor::from_floats({n}, values)}}, state;
  for (const char* cpu : {"", "x86-64-v3", "x86-64"}) {
    codegen::CompileOptions options;
    options.target_cpu = cpu;
    Bindings got = codegen::compile(*graph, "cpu", options)->run(inputs, state);
    const std::string where = *cpu ? cpu : "the host";
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = values[i], result = got.at("tanh").get(i);
      if (std::abs(v) < 0x1p-12) {
        EXPECT_EQ(result, v) << where;
      } else {
        worst = std::max(worst, std::abs(result - std::tanh(v)) / std::abs(std::tanh(v)));
      }
    }
    EXPECT_LE(worst, 4e-7) << where;
  }
}

TEST(CpuBackend, TranscendentalsAreAccurate) {
  // exp, log, tanh and sigmoid over a wide f32 range against the interpreter (double, rounded).
  auto graph = std::make_unique<Graph>("transcendentals");
  const int64_t n = 20000;
  Value* x = graph->add_input("x", {DType::f32, {n}});
  graph->add_output("exp", build::exp(x));
  graph->add_output("log", build::log(build::abs(x)));
  graph->add_output("tanh", build::tanh(x));
  graph->add_output("sigmoid", build::sigmoid(x));
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(-87.0 + 174.0 * i / (n - 1));
  values[n / 2] = 1e-30f;
  Bindings inputs{{"x", Tensor::from_floats({n}, values)}}, state;
  Bindings want = interp::run_graph(*graph, inputs, state);
  Bindings got = codegen::compile(*graph, "cpu")->run(inputs, state);
  for (const char* name : {"exp", "log", "tanh", "sigmoid"}) {
    const Tensor &a = got.at(name), &b = want.at(name);
    double worst = 0;
    for (int64_t i = 0; i < n; ++i)
      if (b.get(i) != 0)
        worst = std::max(worst, std::abs(a.get(i) - b.get(i)) / std::abs(b.get(i)));
    EXPECT_LE(worst, 1e-6) << name;
  }
}

// ---- The driver ---------------------------------------------------------------------------

const char* kAffineModel =
    "graph @affine {\n"
    "  %x = input() : f32[2, 3]\n"
    "  %w = parameter() {init = \"uniform:-1,1\", seed = 4, role = \"weight\"} : f32[3, 2]\n"
    "  %y = matmul(%x, %w) {transpose_a = 0, transpose_b = 0} : f32[2, 2]\n"
    "  %z = tanh(%y) : f32[2, 2]\n"
    "  output z = %z\n"
    "}\n";

/// a @ b with every transpose combination, as one graph per case.
std::unique_ptr<Graph> matmul_graph(DType dtype, int64_t batch, int64_t m, int64_t n, int64_t k,
                                    bool ta, bool tb) {
  auto graph = std::make_unique<Graph>("matmul");
  Shape a_shape = ta ? Shape{k, m} : Shape{m, k};
  Shape b_shape = tb ? Shape{n, k} : Shape{k, n};
  if (batch > 0) {
    a_shape.insert(a_shape.begin(), batch);
    b_shape.insert(b_shape.begin(), batch);
  }
  Value* a = graph->add_input("a", {dtype, a_shape});
  Value* b = graph->add_input("b", {dtype, b_shape});
  graph->add_output("c", build::matmul(a, b, ta, tb));
  return graph;
}

TEST(CpuBackend, MatmulsMatchInterpreter) {
  // Small products are generated loop nests (row and column remainders, masked vectors),
  // larger ones call cblas; both against the interpreter, in f32 and f64, batched or not.
  // 150x160x130 and 2x64x1001x40 are generated and split across the thread pool (column
  // slices; the last part takes the remainder columns).
  struct Case {
    int64_t batch, m, n, k;
  };
  for (DType dtype : {DType::f32, DType::f64})
    for (Case c : {Case{0, 1, 1, 1}, Case{0, 10, 200, 50}, Case{0, 9, 37, 17}, Case{3, 5, 70, 3},
                   Case{0, 1, 256, 64}, Case{0, 150, 160, 130}, Case{2, 64, 1001, 40}})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          auto graph = matmul_graph(dtype, c.batch, c.m, c.n, c.k, ta, tb);
          Bindings inputs = random_inputs(*graph, 7), state;
          Bindings want = interp::run_graph(*graph, inputs, state);
          Bindings got = codegen::compile(*graph, "cpu")->run(inputs, state);
          SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + std::to_string(c.m) + "x" +
                       std::to_string(c.n) + "x" + std::to_string(c.k) + (ta ? " ta" : "") +
                       (tb ? " tb" : ""));
          // f32 sums of k products of values up to 2 round k times (cblas alike).
          const double tolerance = 1e-5 * std::max(1.0, static_cast<double>(c.k) / 64);
          EXPECT_LE(max_relative_difference(got.at("c"), want.at("c")), tolerance);
          codegen::CompileOptions sse;  // 4-lane vectors
          sse.target_cpu = "x86-64-v2";
          got = codegen::compile(*graph, "cpu", sse)->run(inputs, state);
          EXPECT_LE(max_relative_difference(got.at("c"), want.at("c")), tolerance) << "x86-64-v2";
        }
}

TEST(CpuBackend, SmallProductsAreGenerated) {
  // A 10x200x50 product is a vectorized loop nest, no cblas call.
  codegen::CompileOptions options;
  options.target_cpu = "x86-64-v3";
  std::string small =
      cpu::render_llvm_ir(*matmul_graph(DType::f32, 0, 10, 200, 50, false, false), options, true);
  EXPECT_EQ(small.find("@cblas_sgemm"), std::string::npos);
  EXPECT_NE(small.find("<8 x float>"), std::string::npos);
  EXPECT_EQ(small.find("@rnnc_run_parallel"), std::string::npos) << "too small to split";
  // A recurrent step of B=32, H=256 (8.4M multiply-adds) is generated and split across the
  // thread pool.
  std::string medium =
      cpu::render_llvm_ir(*matmul_graph(DType::f32, 0, 32, 1024, 256, false, false), options, true);
  EXPECT_EQ(medium.find("@cblas_sgemm"), std::string::npos);
  EXPECT_NE(medium.find("@rnnc_run_parallel"), std::string::npos);
  // A large one (33.5M) gets B packed just before it and is generated too, on the pool.
  std::string large =
      cpu::render_llvm_ir(*matmul_graph(DType::f32, 0, 512, 256, 256, false, true), options, true);
  EXPECT_EQ(large.find("@cblas_sgemm"), std::string::npos);
  EXPECT_NE(large.find("@rnnc_run_parallel"), std::string::npos);
  // Large batched products, and large ones of few rows with B transposed, call cblas.
  std::string batched =
      cpu::render_llvm_ir(*matmul_graph(DType::f32, 3, 300, 256, 256, false, false), options, true);
  EXPECT_NE(batched.find("@cblas_sgemm"), std::string::npos);
  std::string few_rows =
      cpu::render_llvm_ir(*matmul_graph(DType::f32, 0, 32, 4096, 256, false, true), options, true);
  EXPECT_NE(few_rows.find("@cblas_sgemm"), std::string::npos);
}

TEST(CpuBackend, DriverRunsOnEitherBackend) {
  std::string directory = ::testing::TempDir() + "rnnc_cpu_driver_" + std::to_string(getpid());
  std::filesystem::create_directories(directory);
  std::string model = directory + "/affine.rnn", x = directory + "/x.npy";
  std::ofstream(model) << kAffineModel;
  write_npy(x, Tensor::from_floats({2, 3}, {1, -2, 3, 0.5f, 0.25f, -1}));
  std::map<std::string, Tensor> results;
  for (const char* backend : {"interp", "cpu", ""}) {
    std::string out = directory + "/out_" + backend;
    std::string command = testprog::binary("rnnc") + " run " + model + " --input x=" + x +
                          " --output-dir " + out +
                          (*backend ? std::string(" --backend ") + backend : "");
    testprog::ProgramRun run = testprog::run_program(command);
    ASSERT_EQ(run.status, 0) << command << "\n" << run.output;
    results[backend] = read_npy(out + "/z.npy");
  }
  EXPECT_LE(max_relative_difference(results.at("cpu"), results.at("interp")), 1e-6);
  EXPECT_LE(max_relative_difference(results.at(""), results.at("interp")), 1e-6);
  testprog::ProgramRun bad =
      testprog::run_program(testprog::binary("rnnc") + " run " + model + " --input x=" + x +
                            " --output-dir " + directory + "/bad --backend gpu9");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("unknown or unavailable backend 'gpu9' (available: interp, cpu)"),
            std::string::npos)
      << bad.output;
  testprog::ProgramRun help = testprog::run_program(testprog::binary("rnnc") + " run --help");
  EXPECT_NE(help.output.find("--backend"), std::string::npos);
  std::filesystem::remove_all(directory);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(CpuBackend, CompileTimesOfTheLectureModels) {
  for (const char* model : {"hihell_rnn", "diabetes", "sst_lstm", "names_gru", "char_lstm"})
    for (const char* kind : {"forward", "train"}) {
      std::string file = std::string(model) + "." + kind + ".rnn";
      auto graph = parse_graph_file(std::string(RNNC_SOURCE_DIR) + "/examples/models/" + file);
      auto executable = cpu::compile(*graph);
      const cpu::CompileTimes& t = executable->compile_times();
      Bindings state = initialize_parameters(*graph, 1);
      Bindings inputs;
      for (Node* node : graph->nodes_of(OpKind::Input)) {
        Tensor tensor(node->result()->type());
        if (node->result()->name() == "lengths")
          for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, 1);
        inputs[node->result()->name()] = tensor;
      }
      auto start = std::chrono::steady_clock::now();
      executable->run(inputs, state);
      double run = seconds_since(start);
      std::printf(
          "%-26s compile %6.3f s (graph passes %.3f, plan %.3f, render %.3f, llvm %.3f, "
          "machine code %.3f), %3zu steps, run %.4f s\n",
          file.c_str(), t.total(), t.graph_passes, t.planning, t.rendering, t.llvm_passes,
          t.machine_code, executable->program().steps.size(), run);
    }
}

}  // namespace
}  // namespace rnnc
#endif
