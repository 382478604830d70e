// Matrix products of the CUDA backend (docs/cuda-backend.md, "Rendering"): the per-shape
// choice between cuBLAS and generated tiled kernels and its overrides (RenderOptions::gemm,
// RNNC_CUDA_GEMM, `rnnc dump --cuda-gemm`); generated kernels of many shapes (transposes,
// batches, odd sizes, k = 1, k longer than one shared-memory slice; f32, f64, i32) run by the
// CUDA emulator against the interpreter, and in lecture models and scans (as loops and in
// persistent kernels' fallbacks); a program whose products are all generated has no cuBLAS
// entry; and the kernels compile with NVRTC with an empty log and no spills.
#include <gtest/gtest.h>

#ifdef RNNC_HAVE_CUDA
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "codegen/cuda/nvrtc_compiler.h"
#include "ir/builder.h"
#include "tests/support/backend_cases.h"
#include "tests/support/cuda_emulation_cases.h"
#include "tests/support/errors.h"
#include "tests/support/programs.h"

namespace rnnc {
namespace {

using namespace ir;
using cuda::GemmChoice;
using testemu::Batch;
using testemu::Variant;

/// One product c = op(a) x op(b), with `batch` leading matrices when batch > 1.
struct Product {
  DType dtype;
  int64_t m, n, k, batch;
  bool transpose_a, transpose_b;

  std::string name() const {
    return std::string(dtype_name(dtype)) + " m" + std::to_string(m) + " n" + std::to_string(n) +
           " k" + std::to_string(k) + " batch" + std::to_string(batch) +
           (transpose_a ? " a^T" : "") + (transpose_b ? " b^T" : "");
  }
};

/// The shape of an operand: rows x cols, transposed when asked, behind the batch.
Shape operand_shape(const Product& p, int64_t rows, int64_t cols, bool transpose) {
  Shape shape;
  if (p.batch > 1) shape.push_back(p.batch);
  shape.push_back(transpose ? cols : rows);
  shape.push_back(transpose ? rows : cols);
  return shape;
}

std::unique_ptr<Graph> product_graph(const Product& p) {
  auto graph = std::make_unique<Graph>("product");
  Value* a = graph->add_input("a", {p.dtype, operand_shape(p, p.m, p.k, p.transpose_a)});
  Value* b = graph->add_input("b", {p.dtype, operand_shape(p, p.k, p.n, p.transpose_b)});
  graph->add_output("c", build::matmul(a, b, p.transpose_a, p.transpose_b));
  return graph;
}

/// The products the generated kernels are checked on.
std::vector<Product> products() {
  std::vector<Product> list;
  for (DType dtype : {DType::f32, DType::f64}) {
    // Every transpose on a shape with tails in m, n and k.
    for (bool ta : {false, true})
      for (bool tb : {false, true}) list.push_back({dtype, 7, 13, 9, 1, ta, tb});
    list.push_back({dtype, 1, 1, 1, 1, false, false});
    list.push_back({dtype, 3, 5, 1, 1, false, true});       // k = 1: an outer product
    list.push_back({dtype, 33, 17, 65, 1, true, false});    // several tiles, odd sizes
    list.push_back({dtype, 70, 130, 20, 1, false, false});  // 64 x 64 tiles, 4 x 4 a thread
    list.push_back({dtype, 5, 6, 7, 3, false, true});       // batched
    list.push_back({dtype, 4, 9, 3, 4, true, true});        // batched, both transposed
    list.push_back({dtype, 9, 10, 700, 1, false, false});   // k in slices of 16 (a tail of 12)
    list.push_back({dtype, 3, 11, 301, 2, true, true});     // slices, batched, transposed
  }
  list.push_back({DType::i32, 6, 7, 5, 1, false, false});
  list.push_back({DType::i32, 9, 4, 3, 2, true, true});
  return list;
}

/// Every launch of `plan`, loop bodies and persistent fallbacks included.
void all_launches(const std::vector<cuda::Launch>& plan, std::vector<const cuda::Launch*>& out) {
  for (const cuda::Launch& launch : plan) {
    out.push_back(&launch);
    all_launches(launch.body, out);
  }
}

/// How many gemm (cuBLAS) launches and generated product kernels `rendered` has.
std::pair<int, int> count_products(const cuda::RenderedCuda& rendered) {
  std::vector<const cuda::Launch*> launches;
  all_launches(rendered.plan, launches);
  int gemms = 0, generated = 0;
  for (const cuda::Launch* launch : launches) {
    gemms += launch->kind == cuda::Launch::Kind::gemm;
    generated += launch->kind == cuda::Launch::Kind::kernel && launch->gemm.c >= 0;
  }
  return {gemms, generated};
}

/// Sets an environment variable for the scope, restoring what it was.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnvironment() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(CudaGemm, TheChoiceFollowsTheRuleAndItsOverrides) {
  ScopedEnvironment unset("RNNC_CUDA_GEMM", nullptr);
  cuda::GemmCall at_limit;  // 32 x 512 x 128 = 2^21 multiply-adds
  at_limit.m = 32, at_limit.n = 512, at_limit.k = 128;
  cuda::GemmCall above = at_limit;
  above.k = 129;
  cuda::GemmCall batched = at_limit;
  batched.batch = 2;
  cuda::RenderOptions options;
  EXPECT_TRUE(cuda::gemm_is_generated(at_limit, options));
  EXPECT_FALSE(cuda::gemm_is_generated(above, options));
  EXPECT_FALSE(cuda::gemm_is_generated(batched, options));
  above.dtype = DType::f64;
  EXPECT_FALSE(cuda::gemm_is_generated(above, options));
  above.dtype = DType::i32;  // cuBLAS has no i32 product
  EXPECT_TRUE(cuda::gemm_is_generated(above, options));
  above.dtype = DType::f32;
  options.gemm = GemmChoice::generated;
  EXPECT_TRUE(cuda::gemm_is_generated(above, options));
  options.gemm = GemmChoice::cublas;
  EXPECT_FALSE(cuda::gemm_is_generated(at_limit, options));
  {
    // The environment decides only under auto.
    ScopedEnvironment generated("RNNC_CUDA_GEMM", "generated");
    EXPECT_FALSE(cuda::gemm_is_generated(at_limit, options));
    options.gemm = GemmChoice::automatic;
    EXPECT_TRUE(cuda::gemm_is_generated(above, options));
  }
  {
    ScopedEnvironment cublas("RNNC_CUDA_GEMM", "cublas");
    EXPECT_FALSE(cuda::gemm_is_generated(at_limit, options));
  }
  {
    ScopedEnvironment automatic("RNNC_CUDA_GEMM", "auto");
    EXPECT_TRUE(cuda::gemm_is_generated(at_limit, options));
    EXPECT_FALSE(cuda::gemm_is_generated(above, options));
  }
  {
    ScopedEnvironment bad("RNNC_CUDA_GEMM", "tiles");
    const std::string message =
        testerr::error_of([&] { cuda::gemm_is_generated(at_limit, options); });
    EXPECT_NE(message.find("RNNC_CUDA_GEMM expects auto, cublas or generated, got 'tiles'"),
              std::string::npos)
        << message;
  }
  for (GemmChoice choice : {GemmChoice::automatic, GemmChoice::cublas, GemmChoice::generated})
    EXPECT_EQ(cuda::parse_gemm_choice(cuda::gemm_choice_name(choice), "x"), choice);

  // A program with a small and a large product: auto splits them; generated leaves no cuBLAS
  // entry (so the runtime never loads cuBLAS for it); cublas leaves no product kernel.
  Graph graph("two");
  Value* a = graph.add_input("a", {DType::f32, {4, 6}});
  Value* b = graph.add_input("b", {DType::f32, {6, 5}});
  Value* x = graph.add_input("x", {DType::f32, {128, 160}});
  Value* y = graph.add_input("y", {DType::f32, {160, 128}});
  graph.add_output("small", build::matmul(a, b));
  graph.add_output("large", build::matmul(x, y));
  ir::Program program = passes::plan_memory(graph);
  for (auto [choice, gemms, generated] :
       std::vector<std::tuple<GemmChoice, int, int>>{{GemmChoice::automatic, 1, 1},
                                                     {GemmChoice::generated, 0, 2},
                                                     {GemmChoice::cublas, 2, 0}}) {
    cuda::RenderOptions render;
    render.gemm = choice;
    const cuda::RenderedCuda rendered = cuda::render_cuda(program, render);
    EXPECT_EQ(count_products(rendered), std::make_pair(gemms, generated))
        << cuda::gemm_choice_name(choice);
    const std::string plan = cuda::print_plan(rendered, program);
    EXPECT_EQ(plan.find("gemm sgemm") != std::string::npos, gemms > 0) << plan;
    EXPECT_EQ(plan.find(" shared=") != std::string::npos, generated > 0) << plan;
  }
}

TEST(CudaGemm, GeneratedProductsOfManyShapesMatchTheInterpreter) {
  Batch batch;
  std::vector<std::unique_ptr<Graph>> graphs;
  for (const Product& p : products()) {
    graphs.push_back(product_graph(p));
    Bindings state;
    Bindings inputs = cases::random_bindings(*graphs.back(), graphs.size(), state);
    batch.add(p.name(), *graphs.back(), inputs, state,
              {{"O0", false, 2, 32, GemmChoice::generated}});
  }
  batch.check();
}

TEST(CudaGemm, ModelsAndScansWithGeneratedProductsMatchTheInterpreter) {
  Batch batch;
  std::vector<cases::Model> models;
  for (const char* file : {"hihell_rnn.forward.rnn", "hihell_rnn.train.rnn", "diabetes.train.rnn"})
    models.push_back(cases::load_model(file));
  for (const cases::Model& model : models)
    batch.add(
        model.graph->name(), *model.graph, model.inputs, model.state,
        {{"O1", false, 2, 32, GemmChoice::generated}, {"O1", true, 2, 32, GemmChoice::automatic}});
  // Scans whose step product is a generated kernel in the loop (and, persistent, in the
  // fallback the emulator's second run replays); batched products in a scan's body.
  std::vector<std::unique_ptr<Graph>> graphs;
  graphs.push_back(cases::rnn(DType::f32, 4, 3, 6, false, false));
  graphs.push_back(cases::rnn(DType::f64, 3, 2, 5, true, true));
  graphs.push_back(cases::nested_scans());
  for (const auto& graph : graphs) {
    Bindings state;
    Bindings inputs = cases::random_bindings(*graph, 9, state);
    if (graph->name() == "rnn" && inputs.count("lengths"))
      inputs["lengths"] = Tensor::from_ints({2}, {3, 1});
    batch.add(
        graph->name(), *graph, inputs, state,
        {{"O1", false, 2, 32, GemmChoice::generated}, {"O1", true, 2, 32, GemmChoice::generated}});
  }
  batch.check();
}

TEST(CudaGemm, GeneratedKernelsCompileWithoutWarningsOrSpills) {
  // Every product of products() plus 64 x 64 tiles of f64 in one source.
  Graph graph("products");
  std::vector<Product> list = products();
  list.push_back({DType::f64, 200, 300, 40, 1, false, false});
  for (size_t i = 0; i < list.size(); ++i) {
    const Product& p = list[i];
    Value* a = graph.add_input("a" + std::to_string(i),
                               {p.dtype, operand_shape(p, p.m, p.k, p.transpose_a)});
    Value* b = graph.add_input("b" + std::to_string(i),
                               {p.dtype, operand_shape(p, p.k, p.n, p.transpose_b)});
    graph.add_output("c" + std::to_string(i), build::matmul(a, b, p.transpose_a, p.transpose_b));
  }
  ir::Program program = passes::plan_memory(graph);
  cuda::RenderOptions options;
  options.gemm = GemmChoice::generated;
  const cuda::RenderedCuda rendered = cuda::render_cuda(program, options);
  EXPECT_EQ(count_products(rendered), std::make_pair(0, static_cast<int>(list.size())));
  cuda::NvrtcOptions nvrtc;
  nvrtc.disk_cache = false;
  auto module = cuda::compile_cuda(rendered.source, nvrtc, "products.cu");
  EXPECT_EQ(module->log, "");
  nvrtc.ptxas_report = true;
  auto reported = cuda::compile_cuda(rendered.source, nvrtc, "products.cu");
  int kernels = 0;
  for (const std::string& kernel : rendered.kernels) {
    const std::regex properties(
        "Function properties for " + kernel +
        "\\s*\\n[^\\n]*?(\\d+) bytes spill stores, (\\d+) bytes spill loads");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(reported->log, match, properties)) << kernel;
    EXPECT_EQ(match[1].str() + " " + match[2].str(), "0 0") << kernel;
    ++kernels;
  }
  EXPECT_EQ(kernels, static_cast<int>(list.size()));
}

TEST(CudaGemm, DumpTakesTheChoice) {
  const std::string rnnc = testprog::binary("rnnc");
  const std::string model = std::string(RNNC_SOURCE_DIR) + "/examples/models/char_lstm.train.rnn";
  testprog::ProgramRun run =
      testprog::run_program(rnnc + " dump " + model + " --emit=cuda --cuda-gemm=generated");
  ASSERT_EQ(run.status, 0) << run.output.substr(0, 2000);
  EXPECT_EQ(run.output.find("gemm sgemm"), std::string::npos);
  EXPECT_NE(run.output.find("_matmul_"), std::string::npos);
  run = testprog::run_program(rnnc + " dump " + model + " --emit=cuda --cuda-gemm=cublas");
  ASSERT_EQ(run.status, 0) << run.output.substr(0, 2000);
  EXPECT_FALSE(std::regex_search(run.output, std::regex("kernel \\w+ threads=\\d+ shared=")));
  EXPECT_NE(run.output.find("gemm sgemm"), std::string::npos);
  run = testprog::run_program(rnnc + " dump " + model + " --emit=cuda --cuda-gemm=tiles");
  EXPECT_NE(run.status, 0);
  EXPECT_NE(run.output.find("--cuda-gemm expects auto, cublas or generated, got 'tiles'"),
            std::string::npos)
      << run.output;
  run = testprog::run_program(rnnc + " dump " + model + " --emit=program --cuda-gemm=cublas");
  EXPECT_NE(run.status, 0);
  EXPECT_NE(run.output.find("--cuda-gemm applies only to --emit=cuda and --emit=ptx"),
            std::string::npos)
      << run.output;
}

}  // namespace
}  // namespace rnnc
#endif
