// The CUDA backend's rendered code, run on the host by the CUDA emulator
// (tests/support/cuda_emulator.h) and compared with the interpreter: the lecture's models
// (forward and training step), scans with lengths, reversed, nested and long, every op in
// every dtype, random graphs, and bad data; each at O1 (some at O0 too) and with persistent
// scans rendered (on a grid of 2 x 32 threads) and not. f32 within 1e-5 relative (1e-4 for
// sequences longer than 50 steps), f64 within 1e-9, i32 exactly. Also the emulator itself:
// cooperative kernels with grid and block barriers, shared memory and shuffles.
#include <gtest/gtest.h>

#ifdef RNNC_HAVE_CUDA
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "runtime/initializers.h"
#include "tests/support/backend_cases.h"
#include "tests/support/cuda_emulation_cases.h"
#include "tests/support/errors.h"
#include "tests/support/random_graph.h"

namespace rnnc {
namespace {

using namespace ir;
using testemu::Batch;
using testemu::Variant;
using namespace testemu;
using namespace cases;

const std::vector<Variant> kPersistentBoth = {{"O1", false}, {"O1", true}};

// ---- The lecture's models (as backend_test runs them) -------------------------------------

/// Checks both files of model `name` (forward and training step) in `variants`.
void check_model(const std::string& name, const std::vector<Variant>& variants,
                 const std::vector<std::pair<std::string, std::string>>& resize = {}) {
  Batch batch;
  std::vector<Model> models;
  for (const char* kind : {".forward.rnn", ".train.rnn"})
    models.push_back(load_model(name + kind, resize));
  for (size_t i = 0; i < models.size(); ++i)
    batch.add(name + (i ? " train" : " forward"), *models[i].graph, models[i].inputs,
              models[i].state, variants);
  batch.check();
}

TEST(CudaEmulation, HihellRnn) {
  check_model("hihell_rnn", {{"O0", false}, {"O1", false}, {"O1", true}});
}
TEST(CudaEmulation, Diabetes) { check_model("diabetes", {{"O0", false}, {"O1", false}}); }
TEST(CudaEmulation, SstLstm) { check_model("sst_lstm", kPersistentBoth); }
TEST(CudaEmulation, NamesGru) { check_model("names_gru", kPersistentBoth, {{"256", "4"}}); }
TEST(CudaEmulation, CharLstm) {
  check_model("char_lstm", kPersistentBoth, {{"100", "12"}, {"3200", "384"}});
}

TEST(CudaEmulation, EveryModelFileIsCovered) {
  std::vector<std::string> covered = {"hihell_rnn", "diabetes", "sst_lstm", "names_gru",
                                      "char_lstm"};
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(RNNC_SOURCE_DIR) + "/examples/models")) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".rnn") continue;
    EXPECT_NE(std::find(covered.begin(), covered.end(), name.substr(0, name.find('.'))),
              covered.end())
        << name << " has no test here";
  }
}

// ---- Scans --------------------------------------------------------------------------------

TEST(CudaEmulation, ScansWithLengthsAndDirections) {
  Batch batch;
  std::vector<std::unique_ptr<Graph>> graphs;
  for (DType dtype : {DType::f32, DType::f64})
    for (bool reverse : {false, true})
      for (bool lengths : {false, true}) {
        graphs.push_back(rnn(dtype, 7, 5, 6, reverse, lengths));
        Bindings state;
        Bindings inputs = random_bindings(*graphs.back(), 3, state);
        if (lengths) inputs["lengths"] = Tensor::from_ints({5}, {7, 1, 3, 7, 5});
        batch.add(std::string(dtype_name(dtype)) + (reverse ? " reverse" : "") +
                      (lengths ? " lengths" : ""),
                  *graphs.back(), inputs, state,
                  {{"O1", false}, {"O1", true}, {"O1", true, 3, 64}, {"O1", true, 1, 32}});
      }
  batch.check();
}

TEST(CudaEmulation, LongAndNestedScans) {
  Batch batch;
  auto long_scan = rnn(DType::f32, 120, 3, 8, false, true);
  Bindings long_state;
  Bindings long_inputs = random_bindings(*long_scan, 5, long_state);
  long_inputs["lengths"] = Tensor::from_ints({3}, {120, 64, 1});
  batch.add("long", *long_scan, long_inputs, long_state, kPersistentBoth, 1e-4);
  auto nested = nested_scans();
  Bindings state;
  Bindings inputs = random_bindings(*nested, 11, state);
  batch.add("nested", *nested, inputs, state, {{"O0", false}, {"O1", false}, {"O1", true}});
  batch.check();
}

// ---- Every op in every dtype --------------------------------------------------------------

TEST(CudaEmulation, EveryOpInEveryDtype) {
  Batch batch;
  std::vector<std::unique_ptr<Graph>> graphs;
  for (DType dtype : {DType::f32, DType::f64, DType::i32}) {
    graphs.push_back(every_op(dtype));
    testgen::SplitMix rng(19);
    Bindings inputs, state;
    for (const char* name : {"a", "b"}) {
      std::vector<double> values(12);
      for (double& v : values) v = dtype == DType::i32 ? rng.between(-3, 3) : 2 * rng.unit();
      inputs[name] = Tensor::from_doubles(dtype, {3, 4}, values);
    }
    inputs["ids"] = Tensor::from_ints({5}, {3, 0, 3, 1, 2});
    batch.add(graphs.back()->name(), *graphs.back(), inputs, state, {{"O0", false}, {"O1", false}});
  }
  batch.check();
}

// ---- Random graphs ------------------------------------------------------------------------

TEST(CudaEmulation, RandomGraphs) {
  Batch batch;
  std::vector<testgen::RandomGraph> graphs;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    graphs.push_back(testgen::make_random_graph(seed));
    const testgen::RandomGraph& random = graphs.back();
    const bool has_scan = !random.graph->nodes_of(OpKind::Scan).empty();
    std::vector<Variant> variants = {{"O1", false}};
    if (seed % 3 == 0) variants.push_back({"O0", false});
    if (has_scan) variants.push_back({"O1", true});
    batch.add("seed " + std::to_string(seed), *random.graph, random.inputs, random.state, variants);
  }
  batch.check();
}

TEST(CudaEmulation, RandomGraphsInSinglePrecision) {
  Batch batch;
  std::vector<testgen::RandomGraph> graphs;
  for (uint64_t seed = 100; seed < 130; ++seed) {
    graphs.push_back(single_precision(testgen::make_random_graph(seed)));
    const testgen::RandomGraph& random = graphs.back();
    const bool has_scan = !random.graph->nodes_of(OpKind::Scan).empty();
    std::vector<Variant> variants = {{"O1", false}};
    if (has_scan) variants.push_back({"O1", true});
    batch.add("seed " + std::to_string(seed), *random.graph, random.inputs, random.state, variants);
  }
  batch.check();
}

// ---- Bad data -----------------------------------------------------------------------------

TEST(CudaEmulation, GatherAndScatterIndicesOutOfRangeNameTheNode) {
  Graph graph("lookup");
  Value* table = graph.add_parameter("table", {DType::f32, {4, 3}}, "zeros");
  Value* ids = graph.add_input("ids", {DType::i32, {3}});
  Value* rows = build::gather(table, ids);
  Value* sums = build::scatter_add(ids, rows, {4, 3});
  graph.add_output("rows", build::tanh(rows));
  graph.add_output("sums", sums);
  testemu::Emulated emulated = testemu::emulate(graph, {"O0", false});
  Bindings state{{"table", Tensor(TensorType{DType::f32, {4, 3}})}};
  for (int32_t bad : {4, -1}) {
    std::string message = testerr::error_of([&] {
      emulated.executable->run({{"ids", Tensor::from_ints({3}, {0, bad, 1})}}, state);
    });
    EXPECT_NE(message.find("%" + rows->name()), std::string::npos) << message;
    EXPECT_NE(message.find("out of range"), std::string::npos) << message;
  }
  // Good data still runs afterwards.
  Bindings out = emulated.executable->run({{"ids", Tensor::from_ints({3}, {0, 3, 1})}}, state);
  EXPECT_EQ(out.at("rows").shape(), (Shape{3, 3}));
}

TEST(CudaEmulation, IndicesIntoEmptyRowsAreStillChecked) {
  // Rows of no elements (a table [4, 0]) or no rows at all (a table [0, 3]): nothing to copy,
  // but an index out of range is still an error, as in the interpreter.
  for (const Shape& shape : {Shape{4, 0}, Shape{0, 3}}) {
    Graph graph("empty_rows");
    Value* table = graph.add_input("table", {DType::f32, shape});
    Value* ids = graph.add_input("ids", {DType::i32, {3}});
    Value* rows = build::gather(table, ids);
    Shape sums_shape = shape;
    sums_shape[0] = 5;
    graph.add_output("rows", rows);
    graph.add_output(
        "sums", build::scatter_add(ids,
                                   build::gather(build::full(graph, {DType::f32, sums_shape}, 1.0),
                                                 build::full_like(ids, 0.0)),
                                   shape));
    testemu::Emulated emulated = testemu::emulate(graph, {"O0", false});
    interp::Interpreter interpreter(graph);
    Bindings inputs{{"table", Tensor(TensorType{DType::f32, shape})},
                    {"ids", Tensor::from_ints({3}, {0, 4, 1})}};
    Bindings state;
    const std::string want = testerr::error_of([&] { interpreter.run(inputs, state); });
    const std::string got = testerr::error_of([&] { emulated.executable->run(inputs, state); });
    EXPECT_NE(want.find("out of range"), std::string::npos) << want;
    EXPECT_NE(got.find("out of range"), std::string::npos)
        << ir::shape_to_string(shape) << ": " << got;
  }
}

TEST(CudaEmulation, LengthsOutsideTheSequenceNameTheScan) {
  auto graph = rnn(DType::f32, 4, 2, 3, false, true);
  Bindings state;
  Bindings inputs = random_bindings(*graph, 2, state);
  for (bool persistent : {false, true}) {
    testemu::Emulated emulated = testemu::emulate(*graph, {"O1", persistent});
    for (int32_t bad : {0, 5}) {
      inputs["lengths"] = Tensor::from_ints({2}, {2, bad});
      std::string message = testerr::error_of([&] { emulated.executable->run(inputs, state); });
      EXPECT_NE(message.find("scan"), std::string::npos) << message;
      EXPECT_NE(message.find("[1, 4]"), std::string::npos) << message;
    }
  }
}

TEST(CudaEmulation, IntegerDivisionByZeroIsAnError) {
  Graph graph("divide");
  Value* a = graph.add_input("a", {DType::i32, {3}});
  Value* b = graph.add_input("b", {DType::i32, {3}});
  graph.add_output("q", build::div(a, b));
  testemu::Emulated emulated = testemu::emulate(graph);
  Bindings state;
  Bindings out = emulated.executable->run(
      {{"a", Tensor::from_ints({3}, {7, -7, 6})}, {"b", Tensor::from_ints({3}, {2, 2, -3})}},
      state);
  EXPECT_EQ(out.at("q").to_doubles(), (std::vector<double>{3, -3, -2}));
  std::string message = testerr::error_of([&] {
    emulated.executable->run(
        {{"a", Tensor::from_ints({3}, {1, 2, 3})}, {"b", Tensor::from_ints({3}, {1, 0, 1})}},
        state);
  });
  EXPECT_NE(message.find("division by zero"), std::string::npos) << message;
}

// ---- Edge values --------------------------------------------------------------------------

TEST(CudaEmulation, EdgeValues) {
  Batch batch;
  std::vector<std::unique_ptr<Graph>> graphs;
  for (DType dtype : {DType::f32, DType::f64}) {
    graphs.push_back(edge_values(dtype));
    Bindings inputs, state;
    inputs["a"] = Tensor::from_doubles(dtype, {2, 4},
                                       {NAN, INFINITY, -INFINITY, -0.0, 0.0, 1e30, -2.5, 1e-30});
    inputs["b"] =
        Tensor::from_doubles(dtype, {2, 4}, {1.0, NAN, -INFINITY, 0.0, -0.0, -1e30, 2.0, INFINITY});
    inputs["s"] = Tensor::from_doubles(dtype, {}, {-1.75});
    inputs["empty"] = Tensor(TensorType{dtype, {0, 4}});
    batch.add(graphs.back()->name(), *graphs.back(), inputs, state, {{"O0", false}, {"O1", false}},
              1e-5, true);
  }
  graphs.push_back(edge_integers());
  Bindings inputs, state;
  inputs["a"] = Tensor::from_ints({6}, {2147483647, -2147483647, 5, -9, 0, 3});
  inputs["b"] = Tensor::from_ints({6}, {-2147483647 - 1, 2147483647, 3, 4, -1, 0});
  inputs["b"].set(5, 2);
  inputs["f"] =
      Tensor::from_doubles(DType::f32, {6}, {-2.7, 2.7, -0.0, 2147483520.0, -2147483648.0, 0.5});
  batch.add("edges_i32", *graphs.back(), inputs, state, {{"O0", false}, {"O1", false}});
  batch.check();
}

/// The comparison catches a wrong kernel: tanh rendered as sinh fails it.
TEST(CudaEmulation, AWrongKernelIsCaught) {
  auto graph = rnn(DType::f32, 3, 2, 4, false, false);
  Bindings state;
  Bindings inputs = random_bindings(*graph, 4, state);
  testemu::Rendered rendered = std::move(*testemu::render(*graph, {"O1", false}));
  const size_t at = rendered.rendered.source.find("tanhf(");
  ASSERT_NE(at, std::string::npos);
  rendered.rendered.source.replace(at, 6, "sinhf(");
  auto code = cuda_emulation::compile_emulations({&rendered.rendered});
  cuda_emulation::EmulatedCuda emulated(*rendered.graph, rendered.program, rendered.rendered,
                                        code.at(0));
  Bindings got = testemu::run_all(emulated, inputs, state);
  interp::Interpreter interpreter(*graph);
  Bindings want = testemu::run_all(interpreter, inputs, state);
  EXPECT_GT(max_relative_difference(got.at("h_final"), want.at("h_final")), 1e-3);
}

// ---- The emulator itself ------------------------------------------------------------------

/// A hand-written cooperative kernel over 3 blocks of 64 threads: each thread puts
/// in[block * 64 + thread] into shared memory, the block sums them (shuffles within warps,
/// shared memory across warps), block sums go to the arena, and after a grid barrier every
/// thread of every block writes the total times its global index to out. Run 4 times in a
/// loop of the kernel, the total accumulating into the arena.
cuda::RenderedCuda cooperative_source() {
  cuda::RenderedCuda rendered;
  rendered.source = R"(
__device__ __forceinline__ void rnnc_fail(int* error, int code) { atomicCAS(error, 0, code); }
struct RnncArgs {
  unsigned char* arena;
  unsigned char* const* externals;
  unsigned char* constants;
  int* error;
  long long t[1];
};
extern "C" __global__ void block_sums(RnncArgs args) {
  extern __shared__ __align__(16) double rnnc_shared[];
  const double* in = (const double*)args.externals[0];
  double* out = (double*)args.externals[1];
  double* sums = (double*)args.arena;
  for (int step = 0; step < 4; ++step) {
    double v = in[blockIdx.x * blockDim.x + threadIdx.x] * (step + 1);
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (threadIdx.x % 32 == 0) rnnc_shared[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x == 0) sums[blockIdx.x] = rnnc_shared[0] + rnnc_shared[1];
    rnnc_grid_sync();
    const double total = sums[0] + sums[1] + sums[2];
    out[(long long)step * gridDim.x * blockDim.x + blockIdx.x * blockDim.x + threadIdx.x] =
        total * (blockIdx.x * blockDim.x + threadIdx.x);
    rnnc_grid_sync();
  }
  if (threadIdx.x == 5 && blockIdx.x == 2) atomicAdd((int*)(sums + 3), 7);
}
extern "C" __global__ void writes_past_the_end(RnncArgs args) {
  if (threadIdx.x == 0) ((double*)args.externals[1])[4 * 192] = 1.0;
}
extern "C" __global__ void skips_a_barrier(RnncArgs args) {
  if (threadIdx.x != 3) __syncthreads();
}
)";
  rendered.kernels = {"block_sums", "writes_past_the_end", "skips_a_barrier"};
  rendered.num_loops = 1;
  return rendered;
}

TEST(CudaEmulation, EmulatorRunsCooperativeKernels) {
  Graph graph("cooperative");
  Value* in = graph.add_input("in", {DType::f64, {192}});
  graph.add_output("out", build::broadcast(build::neg(in), {4, 192}));
  ir::Program program = passes::plan_memory(graph);
  ASSERT_EQ(program.externals().size(), 2u);
  program.arena_bytes = 64;
  cuda::RenderedCuda rendered = cooperative_source();
  cuda::Launch launch;
  launch.kind = cuda::Launch::Kind::persistent;
  launch.kernel = "block_sums";
  launch.blocks = 3;
  launch.block_threads = 64;
  launch.shared_bytes = 16;
  rendered.plan = {launch};
  auto code = cuda_emulation::compile_emulations({&rendered});
  cuda_emulation::EmulatedCuda emulated(graph, program, rendered, code.at(0));
  std::vector<double> values(192);
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i) sum += values[i] = std::sin(1.0 + i);
  Bindings state;
  Bindings out = emulated.run({{"in", Tensor::from_doubles(DType::f64, {192}, values)}}, state);
  for (int64_t step = 0; step < 4; ++step)
    for (int64_t i = 0; i < 192; ++i)
      ASSERT_NEAR(out.at("out").get(step * 192 + i), sum * (step + 1) * i, 1e-9 * (1 + i))
          << step << " " << i;
  // A thread that skips a barrier fails the run (instead of hanging it).
  rendered.plan[0].kernel = "skips_a_barrier";
  cuda_emulation::EmulatedCuda skipping(graph, program, rendered, code.at(0));
  std::string message = testerr::error_of([&] {
    skipping.run({{"in", Tensor::from_doubles(DType::f64, {192}, values)}}, state);
  });
  EXPECT_NE(message.find("barrier"), std::string::npos) << message;
  // An access past the end of a buffer faults, naming the kernel.
  rendered.plan[0].kernel = "writes_past_the_end";
  cuda_emulation::EmulatedCuda overflowing(graph, program, rendered, code.at(0));
  EXPECT_DEATH(overflowing.run({{"in", Tensor::from_doubles(DType::f64, {192}, values)}}, state),
               "memory fault in kernel writes_past_the_end");
}

}  // namespace
}  // namespace rnnc
#endif
