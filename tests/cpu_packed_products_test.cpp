// Recurrent products whose B a scan never writes (a recurrent weight) are packed once per call
// into column panels in scratch memory after the arena (codegen/cpu/pack_panels.cpp) and
// streamed by the generated products; transposed weights go through in-register transposes.
// Every case is checked against the interpreter on AVX-512 (when the host has it), AVX2 and
// SSE vectors, whose panels are 64, 16 and 8 floats wide.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "codegen/backend.h"
#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/scan_builder.h"
#include "tests/support/backend_cases.h"
#include "tests/support/compare.h"
#include "tests/support/recurrent_layers.h"

#ifdef RNNC_HAVE_CPU
#include "codegen/cpu/cpu_backend.h"

namespace rnnc {
namespace {

using namespace ir;

struct Shape3 {
  int64_t batch, hidden, steps;
};

/// h_t = tanh(h_{t-1} B + x_t) with B = W^T (W [H, H] when `transposed`) or W, where W is a
/// parameter or (`constant_weight`) a constant; a second product reads the same W the other
/// way round when `both_ways` (two packs of one buffer).
std::unique_ptr<Graph> recurrence(DType dtype, Shape3 s, bool transposed, bool constant_weight,
                                  bool both_ways) {
  auto graph = std::make_unique<Graph>("packed");
  Value* xs = graph->add_input("xs", {dtype, {s.steps, s.batch, s.hidden}});
  Value* h0 = graph->add_input("h0", {dtype, {s.batch, s.hidden}});
  TensorType weight_type{dtype, {s.hidden, s.hidden}};
  Value* w;
  if (constant_weight) {
    std::vector<double> values(s.hidden * s.hidden);
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = 0.5 * std::sin(0.37 * static_cast<double>(i)) / std::sqrt(s.hidden);
    w = graph->add_constant(weight_type, values, "w");
  } else {
    w = graph->add_parameter("w", weight_type, "zeros");
  }
  ScanBuilder scan(*graph, "step");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  Value* wi = scan.invariant(w, "w");
  Value* product = build::matmul(h, wi, false, transposed);
  if (both_ways) product = build::add(product, build::matmul(x, wi, false, !transposed));
  Value* next = build::tanh(build::add(product, x));
  scan.set_next(h, next);
  scan.add_output("y", next);
  std::vector<Value*> results = scan.finish();
  graph->add_output("h_final", results[0]);
  graph->add_output("ys", results[1]);
  return graph;
}

void expect_matches_interpreter(const Graph& graph, const std::string& what, double tolerance) {
  Bindings state;
  Bindings inputs = cases::random_bindings(graph, 11, state);
  if (state.count("w"))
    for (int64_t i = 0; i < state.at("w").num_elements(); ++i)
      state.at("w").set(i, state.at("w").get(i) / std::sqrt(state.at("w").shape()[0]));
  Bindings interp_state = state;
  Bindings want = interp::run_graph(graph, inputs, interp_state);
  for (const char* cpu : {"", "x86-64-v3", "x86-64-v2"}) {
    codegen::CompileOptions options;
    options.target_cpu = cpu;
    Bindings cpu_state = state;
    Bindings got = codegen::compile(graph, "cpu", options)->run(inputs, cpu_state);
    for (const auto& [output, tensor] : want)
      EXPECT_LE(max_relative_difference(got.at(output), tensor), tolerance)
          << what << " " << output << " on " << (*cpu ? cpu : "the host");
  }
}

TEST(CpuPackedProducts, MatchTheInterpreter) {
  // Hidden sizes below, at and between panel widths and transpose blocks; batch 1 (serving)
  // and a partial row tile.
  for (DType dtype : {DType::f32, DType::f64})
    for (Shape3 s :
         {Shape3{1, 3, 4}, Shape3{4, 16, 3}, Shape3{5, 70, 3}, Shape3{3, 129, 2}, Shape3{8, 64, 3}})
      for (bool transposed : {false, true}) {
        const std::string what = std::string(dtype_name(dtype)) + " B=" + std::to_string(s.batch) +
                                 " H=" + std::to_string(s.hidden) + (transposed ? " W^T" : " W");
        const double tolerance = dtype == DType::f64 ? 1e-12 : 2e-5;
        expect_matches_interpreter(*recurrence(dtype, s, transposed, false, false), what,
                                   tolerance);
        expect_matches_interpreter(*recurrence(dtype, s, transposed, true, false),
                                   what + " constant", tolerance);
        expect_matches_interpreter(*recurrence(dtype, s, transposed, false, true),
                                   what + " both ways", tolerance);
      }
}

TEST(CpuPackedProducts, LargeWeightsArePackedOnThePool) {
  // 520 x 520 (2^18 elements or more) is packed by the thread pool's parts, 8 or 9 panels
  // each on AVX-512 (the last part also takes the partial panel).
  for (bool transposed : {false, true})
    expect_matches_interpreter(*recurrence(DType::f32, {2, 520, 2}, transposed, false, false),
                               transposed ? "W^T" : "W", 1e-4);
}

TEST(CpuPackedProducts, RecurrentProductsAlternateTheirBlockOrder) {
  // A recurrent product runs its column blocks backwards on every other call (each step of a
  // scan, and from call to call: 5 steps, so a second run starts the other way round), so
  // that the panels it read last are read first: the same numbers either way, to the bit,
  // on one thread and on the pool (260 columns: four whole blocks on AVX-512 and a partial
  // one, eight and a partial one on AVX2; 16 x 260 x 260 multiply-adds go to the pool).
  for (Shape3 s : {Shape3{2, 260, 5}, Shape3{16, 260, 5}})
    for (bool transposed : {false, true}) {
      auto graph = recurrence(DType::f32, s, transposed, false, false);
      const std::string what = "B=" + std::to_string(s.batch) + (transposed ? " W^T" : " W");
      EXPECT_NE(cpu::render_llvm_ir(*graph, {}, false).find("@backwards_blocks"), std::string::npos)
          << what;
      expect_matches_interpreter(*graph, what, 2e-5);
      Bindings state;
      Bindings inputs = cases::random_bindings(*graph, 12, state);
      auto executable = codegen::compile(*graph, "cpu", {});
      Bindings first_state = state, second_state = state;
      Bindings first = executable->run(inputs, first_state);
      Bindings second = executable->run(inputs, second_state);
      for (const auto& [output, tensor] : first)
        EXPECT_EQ(max_relative_difference(second.at(output), tensor), 0.0) << what << " " << output;
    }
}

TEST(CpuPackedProducts, RecurrentSumsStartFromTheirAddendsInTheFirstDepthSliceOnly) {
  // An LSTM's gates, h W_hh^T plus the input projection and the bias, computed by the
  // product (a ProductSum) with k in two slices (300 = 256 + 44): the first slice starts from
  // the addends and fetches those of the part's next column block, the second from C; on one
  // thread (2 rows) and on the pool (16 rows, each part several blocks of the 1200 columns,
  // backwards on every other step), with and without gradients.
  for (int64_t batch : {2, 16})
    for (bool gradients : {false, true}) {
      testlayers::Problem p = testlayers::recurrent_layer(
          nn::CellKind::Lstm,
          {.steps = 4, .batch = batch, .input = 8, .hidden = 300, .gradients = gradients});
      const std::string what = "B=" + std::to_string(batch) + (gradients ? " with gradients" : "");
      EXPECT_NE(cpu::render_llvm_ir(p.model->graph(), {}, false).find("@llvm.prefetch"),
                std::string::npos)
          << what;
      testcmp::expect_backend_matches_interpreter(p.model->graph(), "cpu", p.inputs, p.state, 1e-10,
                                                  what);
    }
}

TEST(CpuPackedProducts, ProductsOfLargePanelsFetchEachNextSliceAhead) {
  // Panels of 2 MiB or more (kGemmFetchAheadMinPanelBytes) do not stay in a core's cache:
  // the row tiles of each k slice fetch the next slice (the block's next, or the part's next
  // block's first) ahead, each its share. A recurrent product of hidden size 740 (k in
  // slices of 256, 256 and 228; 740 columns, a partial last block; 6 rows, a short last row
  // tile; blocks backwards on every other step) and a top-level one of 302 x 600 x 1000 (two
  // row blocks, the second of 46 rows) match the interpreter with the fetches; a hidden
  // size of 260 (270 KB of panels) gets none.
  codegen::CompileOptions options;
  for (DType dtype : {DType::f32, DType::f64})
    for (bool transposed : {false, true}) {
      auto graph = recurrence(dtype, {6, 740, 3}, transposed, false, false);
      const std::string what = std::string(dtype_name(dtype)) + (transposed ? " W^T" : " W");
      EXPECT_NE(cpu::render_llvm_ir(*graph, options, false).find("@llvm.prefetch"),
                std::string::npos)
          << what;
      expect_matches_interpreter(*graph, what, dtype == DType::f64 ? 1e-12 : 1e-4);
    }
  auto small = recurrence(DType::f32, {6, 260, 3}, false, false, false);
  EXPECT_EQ(cpu::render_llvm_ir(*small, options, false).find("@llvm.prefetch"), std::string::npos);
  auto top_level = std::make_unique<Graph>("top_level");
  Value* a = top_level->add_input("a", {DType::f32, {302, 600}});
  Value* v = top_level->add_input("v", {DType::f32, {600, 1000}});
  top_level->add_output("a_v", build::matmul(a, v));
  EXPECT_NE(cpu::render_llvm_ir(*top_level, options, false).find("@llvm.prefetch"),
            std::string::npos);
  expect_matches_interpreter(*top_level, "302 x 600 x 1000", 1e-4);
}

TEST(CpuPackedProducts, NestedScansRepackPerOuterStep) {
  expect_matches_interpreter(*cases::nested_scans(), "nested", 1e-12);
}

/// Top-level products too large for generated code reading B in place: B (transposed or not,
/// A transposed or not) packed just before each, k in slices of kGemmDepthSlice (600 = 256 +
/// 256 + 88), a partial last column block (450 columns); a transposed A packed in panels of a
/// row tile's rows, 16 source rows at a time (600 = 37 * 16 + 8), with a partial last panel
/// (70 and 450 rows), by one thread (600 x 70) and by the pool (600 x 450).
std::unique_ptr<Graph> large_products(DType dtype) {
  auto graph = std::make_unique<Graph>("large_products");
  Value* a = graph->add_input("a", {dtype, {70, 600}});
  Value* a_t = graph->add_input("a_t", {dtype, {600, 70}});
  Value* w = graph->add_parameter("w", {dtype, {450, 600}}, "zeros");
  Value* v = graph->add_input("v", {dtype, {600, 450}});
  graph->add_output("a_wt", build::matmul(a, w, false, true));
  graph->add_output("a_v", build::matmul(a, v));
  graph->add_output("at_wt", build::matmul(a_t, w, true, true));
  Value* a_t_wide = graph->add_input("a_t_wide", {dtype, {600, 450}});
  graph->add_output("atw_v", build::matmul(a_t_wide, v, true, false));
  return graph;
}

TEST(CpuPackedProducts, LargeTopLevelProductsArePackedAndSlicedAlongK) {
  for (DType dtype : {DType::f32, DType::f64}) {
    auto graph = large_products(dtype);
    expect_matches_interpreter(*graph, std::string(dtype_name(dtype)),
                               dtype == DType::f64 ? 1e-12 : 5e-5);
    codegen::CompileOptions options;
    options.target_cpu = "x86-64-v3";
    std::string ir = cpu::render_llvm_ir(*graph, options, false);
    EXPECT_EQ(ir.find("cblas_"), std::string::npos) << dtype_name(dtype);
  }
}

TEST(CpuPackedProducts, RecurrentWeightsArePackedAndTransposedInRegisters) {
  // A DeepBench-sized step (16 x 1024 x 4096, 67M multiply-adds) stays generated once its
  // weight is packed; the transposing pack shuffles vectors, the plain one copies rows.
  codegen::CompileOptions options;
  options.target_cpu = "x86-64-v3";
  auto graph = recurrence(DType::f32, {16, 1024, 2}, true, false, false);
  std::string ir = cpu::render_llvm_ir(*graph, options, false);
  EXPECT_EQ(ir.find("@cblas_sgemm"), std::string::npos);
  // The first transposing round's shuffle: lanes 0, 2, 4, 6 of one row with those of the next.
  const std::string first_round = "<8 x i32> <i32 0, i32 8, i32 2, i32 10, i32 4, i32 12";
  EXPECT_NE(ir.find(first_round), std::string::npos);
  std::string plain = cpu::render_llvm_ir(*recurrence(DType::f32, {16, 64, 2}, false, false, false),
                                          options, false);
  EXPECT_EQ(plain.find(first_round), std::string::npos);
  EXPECT_EQ(plain.find("@cblas_sgemm"), std::string::npos);
}

}  // namespace
}  // namespace rnnc
#endif  // RNNC_HAVE_CPU
