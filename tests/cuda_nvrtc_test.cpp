// The CUDA backend without a GPU: every kernel of every model in examples/models (forward and
// training step, -O1) and of random graphs renders and compiles with NVRTC for sm_90 with an
// empty log; NVRTC failures show the offending source line; the module cache; and the clear
// error of compile(graph, "cuda") where there is no driver or device. Running on a device is
// covered by backend_test (parameterized over available_backends(), which lists "cuda" only
// where a device is usable) and by the device tests at the end, skipped without one.
#include <gtest/gtest.h>

#include "codegen/backend.h"

#ifdef RNNC_HAVE_CUDA
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "codegen/cuda/cuda_backend.h"
#include "codegen/cuda/cuda_renderer.h"
#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/interp/constant_evaluator.h"
#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"
#include "runtime/initializers.h"
#include "tests/support/errors.h"
#include "tests/support/random_graph.h"

namespace rnnc {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<ir::Graph> load_model(const fs::path& path) {
  std::ifstream stream(path);
  std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  auto graph = ir::parse_graph(text, path.string());
  ir::verify(*graph);
  return graph;
}

void optimize(ir::Graph& graph) {
  passes::PassManager manager(interp::pass_context_with_kernels());
  manager.add_pipeline(passes::default_pipeline("O1"));
  manager.run(graph);
}

/// Renders and compiles `graph`'s program for sm_90: no diagnostics, every kernel in the PTX.
void expect_compiles_cleanly(const ir::Graph& graph) {
  ir::Program program = passes::plan_memory(graph);
  cuda::RenderedCuda rendered = cuda::render_cuda(program);
  cuda::NvrtcOptions options;
  options.disk_cache = false;
  std::shared_ptr<const cuda::CompiledModule> module;
  try {
    module = cuda::compile_cuda(rendered.source, options, graph.name() + ".cu");
  } catch (const Error& error) {
    FAIL() << graph.name() << ": " << error.what();
  }
  EXPECT_EQ(module->log, "") << graph.name();
  EXPECT_FALSE(module->cubin.empty()) << graph.name();
  for (const std::string& kernel : rendered.kernels)
    EXPECT_NE(module->ptx.find(".entry " + kernel + "("), std::string::npos)
        << graph.name() << ": kernel " << kernel << " is not in the PTX";
}

TEST(CudaNvrtc, EveryModelFileCompilesWithoutWarnings) {
  std::vector<std::unique_ptr<ir::Graph>> graphs;
  for (const auto& entry : fs::directory_iterator(fs::path(RNNC_SOURCE_DIR) / "examples/models")) {
    if (entry.path().extension() != ".rnn") continue;
    graphs.push_back(load_model(entry.path()));
    optimize(*graphs.back());
  }
  EXPECT_EQ(graphs.size(), 10u);  // five models, forward and training step each
  // NVRTC compiles the models in parallel (the cache's lock does not cover compiling).
  std::vector<std::thread> threads;
  for (const auto& graph : graphs)
    threads.emplace_back([&graph] {
      cuda::NvrtcOptions options;
      options.disk_cache = false;
      try {
        cuda::compile_cuda(cuda::render_cuda(passes::plan_memory(*graph)).source, options,
                           graph->name() + ".cu");
      } catch (const Error&) {
        // Reported below, on the test's thread.
      }
    });
  for (std::thread& thread : threads) thread.join();
  // Now cached: the checks below see the very modules compiled above.
  const int64_t compiled = cuda::nvrtc_compilations();
  for (const auto& graph : graphs) {
    SCOPED_TRACE(graph->name());
    EXPECT_FALSE(cuda::render_cuda(passes::plan_memory(*graph)).kernels.empty());
    expect_compiles_cleanly(*graph);
  }
  EXPECT_EQ(cuda::nvrtc_compilations(), compiled);
}

TEST(CudaNvrtc, TrainingStepRendersEveryStepKind) {
  // char_lstm's training step: matmuls (cuBLAS), a loop with copies, gathers, scatter-adds,
  // reductions and fused elementwise kernels.
  auto graph = load_model(fs::path(RNNC_SOURCE_DIR) / "examples/models/char_lstm.train.rnn");
  optimize(*graph);
  ir::Program program = passes::plan_memory(*graph);
  cuda::RenderedCuda rendered = cuda::render_cuda(program);
  std::string plan = cuda::print_plan(rendered, program);
  for (const char* part : {"gemm sgemm", "loop t0", "copy ", "kernel k", "_gather_",
                           "_scatter_add_", "_reduce_", "_elementwise_"})
    EXPECT_NE((plan + rendered.source).find(part), std::string::npos) << part << "\n" << plan;
}

TEST(CudaNvrtc, RandomGraphsCompileWithoutWarnings) {
  for (uint64_t seed = 0; seed < 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    testgen::RandomGraph random = testgen::make_random_graph(seed);
    optimize(*random.graph);
    expect_compiles_cleanly(*random.graph);
  }
}

TEST(CudaNvrtc, BrokenSourceShowsTheOffendingLine) {
  const std::string source =
      "extern \"C\" __global__ void fine(float* x) { x[0] = 1.0f; }\n"
      "extern \"C\" __global__ void broken(float* x) { x[0] = undeclared_name; }\n";
  cuda::NvrtcOptions options;
  options.disk_cache = false;
  std::string message =
      testerr::error_of([&] { cuda::compile_cuda(source, options, "broken.cu"); });
  EXPECT_NE(message.find("NVRTC failed to compile broken.cu"), std::string::npos) << message;
  EXPECT_NE(message.find("broken.cu(2): error"), std::string::npos) << message;
  EXPECT_NE(message.find("undeclared_name"), std::string::npos) << message;
  EXPECT_NE(message.find("source line 2: extern \"C\" __global__ void broken"), std::string::npos)
      << message;
}

TEST(CudaNvrtc, WarningsReachTheLog) {
  // The log the model test requires to be empty does carry warnings when there are some.
  cuda::NvrtcOptions options;
  options.disk_cache = false;
  auto module = cuda::compile_cuda(
      "extern \"C\" __global__ void k(float* x) { int unused; x[0] = 1.0f; }\n", options);
  EXPECT_NE(module->log.find("warning"), std::string::npos) << module->log;
  EXPECT_FALSE(cuda::nvrtc_diagnostics(module->log).empty());
}

TEST(CudaNvrtc, CacheReturnsTheSameModuleAndRecompilesForOtherOptions) {
  const fs::path directory =
      fs::temp_directory_path() / ("rnnc_cuda_cache_" + std::to_string(::getpid()));
  fs::remove_all(directory);
  ::setenv("XDG_CACHE_HOME", directory.c_str(), 1);
  const std::string source =
      "extern \"C\" __global__ void scale(float* x) { x[threadIdx.x] *= 2.0f; }\n";
  const int64_t before = cuda::nvrtc_compilations();
  auto first = cuda::compile_cuda(source);
  auto second = cuda::compile_cuda(source);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(cuda::nvrtc_compilations(), before + 1);
  EXPECT_TRUE(fs::exists(directory / "rnnc" / (first->key + ".ptx")));
  EXPECT_TRUE(fs::exists(directory / "rnnc" / (first->key + ".cubin")));

  cuda::NvrtcOptions other;
  other.extra = {"-lineinfo"};
  auto third = cuda::compile_cuda(source, other);
  EXPECT_NE(third.get(), first.get());
  EXPECT_NE(third->key, first->key);
  EXPECT_EQ(cuda::nvrtc_compilations(), before + 2);
  cuda::NvrtcOptions ptx_only;
  ptx_only.architecture = "compute_90";
  auto fourth = cuda::compile_cuda(source, ptx_only);
  EXPECT_TRUE(fourth->cubin.empty());
  EXPECT_NE(fourth->ptx.find(".entry scale("), std::string::npos);
  EXPECT_EQ(cuda::nvrtc_compilations(), before + 3);
  ::unsetenv("XDG_CACHE_HOME");
  fs::remove_all(directory);
}

TEST(CudaNvrtc, PtxReportNamesRegistersAndSpills) {
  auto graph = load_model(fs::path(RNNC_SOURCE_DIR) / "examples/models/diabetes.forward.rnn");
  optimize(*graph);
  std::string ptx = cuda::render_ptx(passes::plan_memory(*graph));
  EXPECT_NE(ptx.find(".target sm_90"), std::string::npos);
  EXPECT_NE(ptx.find("// ptxas info    : Used "), std::string::npos) << ptx.substr(ptx.size() / 2);
  EXPECT_NE(ptx.find("spill stores"), std::string::npos);
}

/// A small graph with a gather: an embedding lookup followed by tanh.
std::unique_ptr<ir::Graph> gather_graph() {
  return ir::parse_graph(
      "graph @lookup {\n"
      "  %table = parameter() {init = \"uniform:-1,1\", seed = 1} : f32[5, 3]\n"
      "  %ids = input() : i32[4]\n"
      "  %rows = gather(%table, %ids) : f32[4, 3]\n"
      "  %y = tanh(%rows) : f32[4, 3]\n"
      "  output y = %y\n"
      "}\n",
      "lookup.rnn");
}

TEST(CudaNvrtc, CompileWithoutDeviceSaysSo) {
  if (cuda::device_usable()) GTEST_SKIP() << "a CUDA device is present: nothing to refuse";
  auto backends = codegen::available_backends();
  EXPECT_EQ(std::find(backends.begin(), backends.end(), "cuda"), backends.end());
  auto graph = gather_graph();
  std::string message = testerr::error_of([&] { codegen::compile(*graph, "cuda"); });
  EXPECT_TRUE(message == "no CUDA driver (libcuda.so.1 not found)" || message == "no CUDA device" ||
              message.find("CUDA driver") != std::string::npos)
      << message;
}

// ---- On a device (skipped without one) ------------------------------------------------------

TEST(CudaDevice, GatherMatchesInterpreterAndChecksIndices) {
  if (!cuda::device_usable()) GTEST_SKIP() << "no usable CUDA driver and device here";
  auto graph = gather_graph();
  Bindings state = initialize_parameters(*graph, 3);
  Tensor ids(ir::TensorType{ir::DType::i32, {4}});
  for (int64_t i = 0; i < 4; ++i) ids.set(i, static_cast<double>((i * 3) % 5));
  Bindings inputs = {{"ids", ids}};
  interp::Interpreter interpreter(*graph);
  Bindings want_state = state;
  Bindings want = interpreter.run(inputs, want_state);
  auto executable = codegen::compile(*graph, "cuda");
  Bindings got = executable->run(inputs, state);
  EXPECT_LE(max_relative_difference(got.at("y"), want.at("y")), 1e-5);
  ids.set(2, 7.0);
  Bindings bad = {{"ids", ids}};
  std::string message = testerr::error_of([&] { executable->run(bad, state); });
  EXPECT_NE(message.find("out of range [0, 5)"), std::string::npos) << message;
}

}  // namespace
}  // namespace rnnc

#else

TEST(CudaNvrtc, BuiltWithoutTheCudaBackend) {
  GTEST_SKIP() << "rnnc was configured without the CUDA toolkit (NVRTC): no CUDA backend";
}

#endif
