// Persistent scans (codegen/cuda/render_persistent.cpp): which loops of the lecture's models
// and of bench-like LSTM, GRU and RNN layers render as one cooperative kernel, and why the
// others do not; every persistent kernel compiles with NVRTC for sm_90 with an empty log, no
// spills, and registers and shared memory within one SM; and, run by the CUDA emulator
// (tests/support/cuda_emulator.h) on a grid of 2 blocks x 32 threads, their outputs and
// gradients match the interpreter, forward and backward, with lengths and reversed.
#include <gtest/gtest.h>

#include "codegen/backend.h"

#ifdef RNNC_HAVE_CUDA
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "codegen/cuda/nvrtc_compiler.h"
#include "codegen/cuda/render_internal.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "ir/builder.h"
#include "ir/parser.h"
#include "ir/scan_builder.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "runtime/initializers.h"
#include "tests/support/cuda_emulation_cases.h"
#include "tests/support/random_graph.h"

namespace rnnc {
namespace {

namespace fs = std::filesystem;
using ir::DType;
using ir::Value;

/// A graph optimized at O1 and planned.
struct Planned {
  std::unique_ptr<ir::Graph> graph;
  ir::Program program;
};

Planned plan(std::unique_ptr<ir::Graph> graph) {
  passes::PassManager manager(interp::pass_context_with_kernels());
  manager.add_pipeline(passes::default_pipeline("O1"));
  manager.run(*graph);
  Planned planned;
  planned.program = passes::plan_memory(*graph);
  planned.graph = std::move(graph);
  return planned;
}

std::unique_ptr<ir::Graph> load_model(const std::string& name) {
  const fs::path path = fs::path(RNNC_SOURCE_DIR) / "examples/models" / (name + ".rnn");
  std::ifstream stream(path);
  std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  auto graph = ir::parse_graph(text, path.string());
  ir::verify(*graph);
  return graph;
}

/// A recurrent layer over x [T, B, E]: "infer" outputs y and h_n; "fwdbwd" also the gradients
/// of sum(y * dy) with respect to x and every parameter (a reverse scan for each forward one).
struct LayerSpec {
  nn::CellKind cell = nn::CellKind::Lstm;
  int64_t input = 4, hidden = 8, batch = 3, steps = 5;
  bool backward = false, bidirectional = false, lengths = false;
  DType dtype = DType::f32;
};

std::unique_ptr<ir::Graph> layer_graph(const LayerSpec& spec) {
  nn::Model model(spec.dtype, 7, "layer");
  nn::RecurrentConfig config;
  config.cell = spec.cell;
  config.input_size = spec.input;
  config.hidden_size = spec.hidden;
  config.bidirectional = spec.bidirectional;
  nn::Recurrent rnn(model, "rnn", config);
  Value* x = model.input("x", {spec.steps, spec.batch, spec.input});
  Value* lengths = spec.lengths ? model.input("lengths", {spec.batch}, DType::i32) : nullptr;
  nn::RecurrentResult result = rnn(x, lengths);
  model.output("y", result.outputs);
  model.output("h_n", result.h_n);
  if (spec.backward) {
    const int64_t width = spec.hidden * (spec.bidirectional ? 2 : 1);
    Value* dy = model.input("dy", {spec.steps, spec.batch, width});
    Value* loss = ir::build::reduce_sum(ir::build::mul(result.outputs, dy), {0, 1, 2});
    std::vector<Value*> wrt = {x};
    for (Value* parameter : rnn.parameters()) wrt.push_back(parameter);
    std::vector<Value*> grads = passes::append_gradients(model.graph(), loss, wrt);
    for (size_t i = 0; i < wrt.size(); ++i) model.output("grad_" + wrt[i]->name(), grads[i]);
  }
  return model.release_graph();
}

/// Every loop step of `steps` (nested ones included).
void loops_of(const std::vector<ir::Step>& steps, std::vector<const ir::Step*>& out) {
  for (const ir::Step& step : steps)
    if (step.kind == ir::StepKind::loop) {
      out.push_back(&step);
      loops_of(step.body, out);
    }
}

std::vector<const ir::Step*> loops_of(const ir::Program& program) {
  std::vector<const ir::Step*> loops;
  loops_of(program.steps, loops);
  return loops;
}

void persistent_launches(const std::vector<cuda::Launch>& plan,
                         std::vector<const cuda::Launch*>& out) {
  for (const cuda::Launch& launch : plan) {
    if (launch.kind == cuda::Launch::Kind::persistent) out.push_back(&launch);
    persistent_launches(launch.body, out);
  }
}

std::vector<const cuda::Launch*> persistent_launches(const cuda::RenderedCuda& rendered) {
  std::vector<const cuda::Launch*> out;
  persistent_launches(rendered.plan, out);
  return out;
}

// ---- Eligibility -----------------------------------------------------------------------------

TEST(CudaPersistent, EveryLoopOfTheLectureModelsIsPersistent) {
  // Every scan of the five models, forward and training step, with the default options (132
  // blocks of 256 threads, 227 KiB of shared memory): their recurrent weights fit easily.
  for (const char* name : {"hihell_rnn", "sst_lstm", "names_gru", "char_lstm", "diabetes"}) {
    for (const char* kind : {".forward", ".train"}) {
      SCOPED_TRACE(std::string(name) + kind);
      Planned planned = plan(load_model(std::string(name) + kind));
      cuda::RenderedCuda rendered = cuda::render_cuda(planned.program);
      const auto loops = loops_of(planned.program);
      std::cout << name << kind << ":\n";
      for (const ir::Step* loop : loops) {
        const std::string why = cuda::persistent_eligibility(planned.program, *loop, {});
        std::cout << "  " << why << "\n";
        EXPECT_NE(why.find(": persistent, "), std::string::npos) << why;
        // The source's comment says the same.
        EXPECT_NE(rendered.source.find(why), std::string::npos) << why;
      }
      const auto launches = persistent_launches(rendered);
      EXPECT_EQ(launches.size(), loops.size());
      for (const cuda::Launch* launch : launches) {
        // The fallback is the ordinary loop of the same scan.
        ASSERT_EQ(launch->body.size(), 1u);
        EXPECT_EQ(launch->body[0].kind, cuda::Launch::Kind::loop);
        EXPECT_EQ(launch->body[0].loop_id, launch->loop_id);
        EXPECT_EQ(launch->body[0].trip_count, launch->trip_count);
        EXPECT_EQ(launch->body[0].reverse, launch->reverse);
        EXPECT_LE(launch->blocks, 132);
        EXPECT_EQ(launch->block_threads, 256);
        EXPECT_LE(launch->shared_bytes, 227 * 1024);
        EXPECT_NE(std::find(rendered.kernels.begin(), rendered.kernels.end(), launch->kernel),
                  rendered.kernels.end());
      }
      if (std::string(name) == "diabetes") {
        EXPECT_TRUE(loops.empty());
      }
    }
  }
}

TEST(CudaPersistent, IneligibleLoopsKeepTheOrdinaryLoopAndSayWhy) {
  Planned planned = plan(load_model("char_lstm.train"));
  const auto loops = loops_of(planned.program);
  ASSERT_EQ(loops.size(), 2u);
  struct Case {
    cuda::RenderOptions options;
    std::string reason;
  };
  std::vector<Case> cases(3);
  cases[0].options.persistent_scans = false;
  cases[0].reason = "persistent scans are off";
  cases[1].options.max_shared_bytes = 1024;  // char_lstm's W_hh is 128 x 512 f32: 256 KiB
  cases[1].reason = "more than 1024";  // "... bytes of shared memory per block over N blocks, "
  cases[2].options.persistent_block_threads = 48;
  cases[2].reason = "is not a multiple of 32";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reason);
    cuda::RenderedCuda rendered = cuda::render_cuda(planned.program, c.options);
    EXPECT_TRUE(persistent_launches(rendered).empty());
    EXPECT_EQ(rendered.source.find("rnnc_grid_sync"), std::string::npos);
    EXPECT_NE(cuda::print_plan(rendered, planned.program).find("loop t0"), std::string::npos);
    for (const ir::Step* loop : loops) {
      const std::string why = cuda::persistent_eligibility(planned.program, *loop, c.options);
      EXPECT_NE(why.find("not persistent: "), std::string::npos) << why;
      EXPECT_NE(why.find(c.reason), std::string::npos) << why;
      EXPECT_NE(rendered.source.find(why), std::string::npos) << why;
    }
  }
  // With fewer, fuller blocks the same weights do not fit either; with more room they do.
  cuda::RenderOptions roomy;
  roomy.persistent_blocks = 4;
  for (const ir::Step* loop : loops) {
    const cuda::PersistentPlan p = cuda::plan_persistent(planned.program, *loop, roomy);
    EXPECT_EQ(p.reason, "");
    EXPECT_EQ(p.blocks, 4);
    ASSERT_FALSE(p.products.empty());
    // W_hh^T's 512 columns (forward) or W_hh's 128 (backward dh) over 4 blocks, k-major.
    for (const cuda::SharedProduct& product : p.products)
      EXPECT_EQ(product.shared_bytes, product.k * product.per_block * 4);
  }
  roomy.max_shared_bytes = 64 * 1024 - 1;
  EXPECT_NE(cuda::plan_persistent(planned.program, *loops[0], roomy).reason, "");
}

TEST(CudaPersistent, NestedLoopsAreNotPersistentButTheirInnerLoopIs) {
  // A scan whose body runs a scan: the outer loop stays ordinary, the inner one is persistent.
  auto graph = std::make_unique<ir::Graph>("nested");
  const ir::TensorType state{DType::f32, {2, 5}};
  Value* xs = graph->add_input("xs", {DType::f32, {3, 4, 2, 5}});
  Value* h0 = graph->add_input("h0", state);
  Value* w = graph->add_parameter("w", {DType::f32, {5, 5}}, "uniform:-1,1", 3);
  ir::ScanBuilder outer(*graph, "outer");
  Value* h = outer.carry(h0, "h");
  Value* x = outer.sequence(xs, "x");
  Value* w_outer = outer.invariant(w, "w");
  ir::ScanBuilder inner(outer.body(), "inner");
  Value* g = inner.carry(h, "g");
  Value* xi = inner.sequence(x, "xi");
  Value* w_inner = inner.invariant(w_outer, "w");
  inner.set_reverse(true);
  Value* next = ir::build::tanh(ir::build::add(ir::build::matmul(g, w_inner), xi));
  inner.set_next(g, next);
  inner.add_output("ys", next);
  std::vector<Value*> inner_results = inner.finish();
  outer.set_next(h, inner_results[0]);
  outer.add_output("gs", inner_results[1]);
  std::vector<Value*> outer_results = outer.finish();
  graph->add_output("h", outer_results[0]);
  graph->add_output("gs", outer_results[1]);
  ir::verify(*graph);
  Planned planned = plan(std::move(graph));
  const auto loops = loops_of(planned.program);
  ASSERT_EQ(loops.size(), 2u);
  EXPECT_NE(cuda::persistent_eligibility(planned.program, *loops[0], {}).find("nested loop"),
            std::string::npos);
  EXPECT_NE(cuda::persistent_eligibility(planned.program, *loops[1], {}).find(": persistent"),
            std::string::npos);
  cuda::RenderedCuda rendered = cuda::render_cuda(planned.program);
  EXPECT_EQ(persistent_launches(rendered).size(), 1u);
}

// ---- NVRTC: bench-like sizes -----------------------------------------------------------------

/// For each persistent kernel of `rendered`, ptxas's registers and spills in `log`.
void expect_fits_on_an_sm(const cuda::RenderedCuda& rendered, const std::string& log,
                          const std::string& label) {
  for (const cuda::Launch* launch : persistent_launches(rendered)) {
    SCOPED_TRACE(label + ": " + launch->kernel);
    const std::regex properties(
        "Function properties for " + launch->kernel +
        "\\s*\\n[^\\n]*?(\\d+) bytes spill stores, (\\d+) bytes spill loads");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(log, match, properties)) << log;
    EXPECT_EQ(match[1].str(), "0");
    EXPECT_EQ(match[2].str(), "0");
    const std::regex used("Compiling entry function '" + launch->kernel +
                          "' for 'sm_90'[\\s\\S]*?Used (\\d+) registers");
    ASSERT_TRUE(std::regex_search(log, match, used)) << log;
    const int64_t registers = std::stoll(match[1].str());
    std::cout << "  " << label << ": " << launch->kernel << " " << launch->blocks << " x "
              << launch->block_threads << ", " << launch->shared_bytes << " bytes shared, "
              << registers << " registers\n";
    EXPECT_LE(registers * launch->block_threads, 65536);
    EXPECT_LE(launch->shared_bytes, 227 * 1024);
  }
}

TEST(CudaPersistent, BenchSizesCompileWithoutSpills) {
  struct Size {
    const char* name;
    int64_t input, hidden, batch;
  };
  // ../shared/ANCHORS.md's tiny, medium, large and DeepBench-like shapes (T does not change
  // the kernels; 3 steps keep planning quick).
  const std::vector<Size> sizes = {{"tiny", 25, 50, 10},
                                   {"medium", 256, 256, 32},
                                   {"large", 512, 512, 64},
                                   {"deepbench", 1024, 1024, 16}};
  struct Job {
    std::string label;
    Planned planned;
    cuda::RenderedCuda rendered;
    std::shared_ptr<const cuda::CompiledModule> module;
    std::string error;
  };
  std::vector<Job> jobs;
  for (const Size& size : sizes)
    for (nn::CellKind cell : {nn::CellKind::Lstm, nn::CellKind::Gru, nn::CellKind::RnnTanh}) {
      if (cell == nn::CellKind::RnnTanh && std::string(size.name) != "medium") continue;
      LayerSpec spec;
      spec.cell = cell;
      spec.input = size.input;
      spec.hidden = size.hidden;
      spec.batch = size.batch;
      spec.steps = 3;
      spec.backward = true;
      Job job;
      job.label = std::string(size.name) + (cell == nn::CellKind::Lstm  ? " lstm"
                                            : cell == nn::CellKind::Gru ? " gru"
                                                                        : " rnn");
      job.planned = plan(layer_graph(spec));
      job.rendered = cuda::render_cuda(job.planned.program);
      jobs.push_back(std::move(job));
    }
  std::vector<std::thread> threads;
  for (Job& job : jobs)
    threads.emplace_back([&job] {
      cuda::NvrtcOptions options;
      options.disk_cache = false;
      options.ptxas_report = true;
      try {
        job.module = cuda::compile_cuda(job.rendered.source, options, "persistent.cu");
      } catch (const std::exception& error) {
        job.error = error.what();
      }
    });
  for (std::thread& thread : threads) thread.join();
  for (const Job& job : jobs) {
    SCOPED_TRACE(job.label);
    ASSERT_EQ(job.error, "");
    EXPECT_TRUE(cuda::nvrtc_diagnostics(job.module->log).empty()) << job.module->log;
    // Forward and backward scans are both persistent at every size: the input's gradient is
    // computed after the backward loop (hoist-scan-invariants), so a backward step's product
    // holds only W_hh (the DeepBench-like LSTM's [W_hh | W_ih] needed 256 KiB a block over 132
    // blocks).
    const auto loops = loops_of(job.planned.program);
    ASSERT_EQ(loops.size(), 2u);
    for (const ir::Step* loop : loops) {
      const std::string why = cuda::persistent_eligibility(job.planned.program, *loop, {});
      std::cout << "  " << job.label << ": " << why << "\n";
      EXPECT_NE(why.find(": persistent, "), std::string::npos) << why;
    }
    EXPECT_EQ(persistent_launches(job.rendered).size(), loops.size());
    expect_fits_on_an_sm(job.rendered, job.module->log, job.label);
  }
  std::cout << "tiny lstm plan:\n" << cuda::print_plan(jobs[0].rendered, jobs[0].planned.program);
}

// ---- Numbers, on the CUDA emulator -----------------------------------------------------------

/// Inputs of `graph`: floats uniform in [-1, 1), "lengths" in [1, steps].
Bindings random_inputs(const ir::Graph& graph, int64_t steps, uint64_t seed) {
  testgen::SplitMix rng(seed);
  Bindings inputs;
  for (ir::Node* node : graph.nodes_of(ir::OpKind::Input)) {
    const ir::TensorType& type = node->result()->type();
    std::vector<double> values(type.num_elements());
    for (double& v : values)
      v = type.dtype == DType::i32 ? static_cast<double>(rng.between(1, steps)) : rng.unit();
    inputs[node->result()->name()] = Tensor::from_doubles(type.dtype, type.shape, values);
  }
  return inputs;
}

/// A scan whose recurrent product has the invariant weight on the left (c's rows partitioned
/// across the blocks): g [H, B] <- tanh(op(w) g + x_t), w [H, H], with its gradients.
std::unique_ptr<ir::Graph> left_product_graph(bool transpose, bool reverse) {
  auto graph = std::make_unique<ir::Graph>("left_product");
  const int64_t hidden = 7, batch = 3, steps = 4;
  Value* xs = graph->add_input("xs", {DType::f32, {steps, hidden, batch}});
  Value* g0 = graph->add_input("g0", {DType::f32, {hidden, batch}});
  Value* w = graph->add_parameter("w", {DType::f32, {hidden, hidden}}, "uniform:-0.5,0.5", 5);
  ir::ScanBuilder scan(*graph, "step");
  Value* g = scan.carry(g0, "g");
  Value* x = scan.sequence(xs, "x");
  Value* wi = scan.invariant(w, "w");
  scan.set_reverse(reverse);
  Value* next = ir::build::tanh(ir::build::add(ir::build::matmul(wi, g, transpose, false), x));
  scan.set_next(g, next);
  scan.add_output("gs", next);
  std::vector<Value*> results = scan.finish();
  Value* dy = graph->add_input("dy", {DType::f32, {steps, hidden, batch}});
  Value* loss = ir::build::reduce_sum(ir::build::mul(results[1], dy), {0, 1, 2});
  std::vector<Value*> grads = passes::append_gradients(*graph, loss, {xs, g0, w});
  graph->add_output("gs", results[1]);
  graph->add_output("grad_xs", grads[0]);
  graph->add_output("grad_g0", grads[1]);
  graph->add_output("grad_w", grads[2]);
  ir::verify(*graph);
  return graph;
}

TEST(CudaPersistent, EmulatedKernelsMatchTheInterpreter) {
  // Forward and backward scans of LSTM, GRU and RNN layers, with lengths and reversed
  // (bidirectional), f32 and f64, plus products with the invariant on the left, each run as
  // persistent kernels on 2 blocks of 32 threads (testemu::render_options).
  std::vector<std::pair<std::string, std::unique_ptr<ir::Graph>>> graphs;
  auto add_layer = [&](const std::string& name, LayerSpec spec) {
    spec.backward = true;
    graphs.emplace_back(name, layer_graph(spec));
  };
  LayerSpec lstm;  // H = 8: products split k over lanes (shuffles)
  lstm.lengths = true;
  add_layer("lstm lengths", lstm);
  LayerSpec wide = lstm;  // H = 40: several outputs a thread, several passes a block
  wide.hidden = 40;
  wide.batch = 2;
  wide.lengths = false;
  add_layer("lstm H=40", wide);
  LayerSpec gru;
  gru.cell = nn::CellKind::Gru;
  gru.bidirectional = true;
  add_layer("gru bidirectional", gru);
  LayerSpec rnn;
  rnn.cell = nn::CellKind::RnnTanh;
  rnn.hidden = 6;
  rnn.bidirectional = true;
  rnn.lengths = true;
  add_layer("rnn bidirectional lengths", rnn);
  LayerSpec lstm64 = lstm;
  lstm64.dtype = DType::f64;
  lstm64.bidirectional = true;
  add_layer("lstm f64 bidirectional lengths", lstm64);
  graphs.emplace_back("left product", left_product_graph(false, false));
  graphs.emplace_back("left product transposed reversed", left_product_graph(true, true));

  const testemu::Variant persistent{"O1", true};
  testemu::Batch batch;
  for (const auto& [name, graph] : graphs) {
    SCOPED_TRACE(name);
    // The variant does render every loop as a persistent kernel on the small grid.
    auto rendered = testemu::render(*graph, persistent);
    const auto loops = loops_of(rendered->program);
    EXPECT_GE(loops.size(), 2u);
    EXPECT_EQ(persistent_launches(rendered->rendered).size(), loops.size());
    for (const cuda::Launch* launch : persistent_launches(rendered->rendered))
      EXPECT_EQ(launch->blocks * launch->block_threads, 64);
    batch.add(name, *graph, random_inputs(*graph, 5, 11), initialize_parameters(*graph, 2),
              {persistent}, 1e-4);
  }
  batch.check();
}

}  // namespace
}  // namespace rnnc

#else

TEST(CudaPersistent, BuiltWithoutTheCudaBackend) {
  GTEST_SKIP() << "rnnc was configured without the CUDA toolkit (NVRTC): no CUDA backend";
}

#endif
