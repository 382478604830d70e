// Vectorized kernels of the CUDA backend (docs/cuda-backend.md, "Rendering"): which
// elementwise and copy kernels move 16-byte vectors (aligned results and operands) and which
// do not (a view at an odd offset, a step stride that is not a multiple of 16 bytes, fewer
// elements than a vector); their results on the CUDA emulator against the interpreter (counts
// that are not multiples of the width, fused kernels with broadcast operands, mixed dtypes,
// in-place updates, inside scans and persistent kernels), bit for bit against the same
// programs rendered without vectors; the error flag set from a lane; and NVRTC turning the
// vector structs into vector instructions.
#include <gtest/gtest.h>

#ifdef RNNC_HAVE_CUDA
#include <algorithm>
#include <cstring>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "codegen/cuda/nvrtc_compiler.h"
#include "ir/builder.h"
#include "tests/support/backend_cases.h"
#include "tests/support/cuda_emulation_cases.h"
#include "tests/support/errors.h"

namespace rnnc {
namespace {

using namespace ir;
using testemu::Batch;
using testemu::Variant;

/// `graph` optimized at `level`, planned and rendered with `options` (what it needs alive).
std::unique_ptr<testemu::Rendered> render_with(const Graph& graph,
                                               const cuda::RenderOptions& options,
                                               const std::string& level = "O1") {
  return testemu::render(graph, level, options);
}

/// Every kernel launch of `plan` (loop bodies and persistent fallbacks included).
void kernel_launches(const std::vector<cuda::Launch>& plan, std::vector<const cuda::Launch*>& out) {
  for (const cuda::Launch& launch : plan) {
    if (launch.kind == cuda::Launch::Kind::kernel) out.push_back(&launch);
    kernel_launches(launch.body, out);
  }
}

/// The step of `steps` (loop bodies included) with result buffer `id`.
const Step* step_writing(const std::vector<Step>& steps, BufferId id) {
  for (const Step& step : steps) {
    if (std::find(step.results.begin(), step.results.end(), id) != step.results.end() &&
        step.kind != StepKind::loop && step.kind != StepKind::copy)
      return &step;
    if (const Step* inner = step_writing(step.body, id)) return inner;
  }
  return nullptr;
}

/// The kernel launch computing buffer `id`.
const cuda::Launch& launch_writing(const testemu::Rendered& rendered, BufferId id) {
  static const cuda::Launch none;
  const Step* step = step_writing(rendered.program.steps, id);
  if (!step) {
    ADD_FAILURE() << "no step writes b" << id;
    return none;
  }
  std::vector<const cuda::Launch*> launches;
  kernel_launches(rendered.rendered.plan, launches);
  for (const cuda::Launch* launch : launches)
    if (launch->node == describe_node(*step->node)) return *launch;
  ADD_FAILURE() << "no kernel computes " << describe_node(*step->node);
  return none;
}

/// The kernel launch computing graph output `index`.
const cuda::Launch& launch_of_output(const testemu::Rendered& rendered, size_t index) {
  return launch_writing(rendered, rendered.program.outputs.at(index));
}

/// Whether `text` uses a vector type.
bool uses_vectors(const std::string& text) {
  return std::regex_search(text, std::regex(R"(rnnc_(float|int|double)\d)"));
}

/// The text of kernel `name` in `source`.
std::string kernel_text(const std::string& source, const std::string& name) {
  const size_t begin = source.find("__global__ void " + name + "(");
  if (begin == std::string::npos) return "";
  return source.substr(begin, source.find("\n}\n", begin) - begin);
}

/// Whether `text` loads buffer `id` as a vector ("*(const rnnc_float4*)(b7 + i)").
bool loads_vector(const std::string& text, BufferId id) {
  return std::regex_search(
      text, std::regex(R"(\*\(const rnnc_\w+\*\)\(b)" + std::to_string(id) + R"( \+ i\))"));
}

/// Whether `text` stores buffer `id` as a vector.
bool stores_vector(const std::string& text, BufferId id) {
  return std::regex_search(
      text, std::regex(R"(\*\(rnnc_\w+\*\)\(b)" + std::to_string(id) + R"( \+ i\))"));
}

/// A fused kernel over [7, 5] (35 elements: eight vectors of 4 f32 and a tail of 3) with a
/// broadcast bias, two outputs, and an f64 input cast down; an i32 kernel of 13 elements; a
/// scalar kernel of 3 elements; a mixed f64/f32 kernel (vectors of 2).
std::unique_ptr<Graph> elementwise_graph() {
  auto graph = std::make_unique<Graph>("vectors");
  Value* x = graph->add_input("x", {DType::f32, {7, 5}});
  Value* y = graph->add_input("y", {DType::f32, {7, 5}});
  Value* bias = graph->add_input("bias", {DType::f32, {5}});
  Value* d = graph->add_input("d", {DType::f64, {9}});
  Value* e = graph->add_input("e", {DType::f32, {9}});
  Value* n = graph->add_input("n", {DType::i32, {13}});
  Value* m = graph->add_input("m", {DType::i32, {13}});
  Value* s = graph->add_input("s", {DType::f32, {3}});
  Value* sum = build::add(x, build::broadcast(bias, {7, 5}));
  graph->add_output("act", build::tanh(build::mul(sum, y)));
  graph->add_output("gate", build::select(build::greater(x, y), build::sigmoid(sum), y));
  graph->add_output("mixed", build::add(build::cast(build::exp(d), DType::f32), e));
  graph->add_output("ints", build::add(build::div(build::mul(n, m), m), build::max(n, m)));
  graph->add_output("small", build::sqrt(build::abs(s)));
  graph->add_output("wide", build::mul(build::exp(d), d));
  return graph;
}

/// Contiguous copies (reshape, slices of whole rows) whose source starts aligned or not.
std::unique_ptr<Graph> copy_graph() {
  auto graph = std::make_unique<Graph>("copies");
  Value* x = graph->add_input("x", {DType::f32, {9, 4}});
  Value* z = graph->add_input("z", {DType::f32, {9, 3}});
  Value* w = graph->add_input("w", {DType::f64, {5, 3}});
  graph->add_output("rows", build::slice(x, {2, 0}, {9, 4}));       // from byte 32: vectors
  graph->add_output("odd_rows", build::slice(z, {1, 0}, {8, 3}));   // from byte 12: scalar
  graph->add_output("wide_rows", build::slice(w, {2, 0}, {5, 3}));  // from byte 48: vectors
  graph->add_output("flat", build::tanh(build::reshape(x, {36})));
  return graph;
}

TEST(CudaVectorize, AlignedKernelsUseVectorsAndOthersDoNot) {
  auto graph = elementwise_graph();
  auto rendered = render_with(*graph, {});
  const std::string& source = rendered->rendered.source;
  const Program& program = rendered->program;
  auto external = [&](size_t index) { return program.externals().at(index); };

  // act and gate: one fused kernel over 35 f32 elements, 4 a thread.
  const cuda::Launch& fused = launch_of_output(*rendered, 0);
  EXPECT_EQ(&fused, &launch_of_output(*rendered, 1));  // act and gate: one fused kernel
  EXPECT_EQ(fused.threads, 9);
  const std::string fused_text = kernel_text(source, fused.kernel);
  EXPECT_TRUE(loads_vector(fused_text, external(0))) << fused_text;   // x
  EXPECT_TRUE(loads_vector(fused_text, external(1))) << fused_text;   // y
  EXPECT_FALSE(loads_vector(fused_text, external(2))) << fused_text;  // bias: per lane
  EXPECT_NE(fused_text.find("% 5LL"), std::string::npos) << fused_text;
  EXPECT_NE(fused_text.find("for (long long e = i; e < 35LL; ++e)"), std::string::npos);
  const size_t outputs = program.inputs.size() + program.parameters.size();
  EXPECT_TRUE(stores_vector(fused_text, external(outputs + 0))) << fused_text;
  EXPECT_TRUE(stores_vector(fused_text, external(outputs + 1))) << fused_text;

  // mixed f64/f32: vectors of 2 (double2 and float2), 9 elements: 5 threads.
  const cuda::Launch& mixed = launch_of_output(*rendered, 2);
  EXPECT_EQ(mixed.threads, 5);
  const std::string mixed_text = kernel_text(source, mixed.kernel);
  EXPECT_NE(mixed_text.find("rnnc_double2"), std::string::npos) << mixed_text;
  EXPECT_NE(mixed_text.find("rnnc_float2"), std::string::npos) << mixed_text;

  // i32: vectors of 4 ints, 13 elements: 4 threads.
  const cuda::Launch& ints = launch_of_output(*rendered, 3);
  EXPECT_EQ(ints.threads, 4);
  EXPECT_NE(kernel_text(source, ints.kernel).find("rnnc_int4"), std::string::npos);

  // 3 elements: fewer than a vector, one a thread.
  const cuda::Launch& small = launch_of_output(*rendered, 4);
  EXPECT_EQ(small.threads, 3);
  EXPECT_FALSE(uses_vectors(kernel_text(source, small.kernel)));

  // Vectorizing off: no kernel uses vectors.
  cuda::RenderOptions off;
  off.vectorize = false;
  auto scalar = render_with(*graph, off);
  for (const std::string& kernel : scalar->rendered.kernels)
    EXPECT_FALSE(uses_vectors(kernel_text(scalar->rendered.source, kernel))) << kernel;
  EXPECT_EQ(launch_of_output(*scalar, 0).threads, 35);
}

TEST(CudaVectorize, MisalignedViewsStayScalar) {
  // exp(tanh(x)) at O0: tanh's result is an arena buffer that exp reads at the flat index.
  Graph graph("views");
  Value* x = graph.add_input("x", {DType::f32, {8}});
  Value* t = build::tanh(x);
  graph.add_output("y", build::exp(t));
  auto rendered = render_with(graph, {}, "O0");
  const Program& aligned = rendered->program;
  const BufferId middle = aligned.steps.at(0).results.at(0);
  const cuda::Launch& first = launch_writing(*rendered, middle);
  ASSERT_EQ(aligned.buffers.at(middle).placement, Placement::arena);
  EXPECT_TRUE(stores_vector(kernel_text(rendered->rendered.source, first.kernel), middle));

  // The same program with tanh's result moved to a view 4 bytes into its arena buffer: tanh
  // stores element by element; exp (whose result is aligned) reads it per lane.
  Program odd = aligned;
  Buffer view = odd.buffers.at(middle);
  view.placement = Placement::view;
  view.base = middle;
  view.offset = 4;
  odd.buffers.push_back(view);
  const BufferId moved = static_cast<BufferId>(odd.buffers.size() - 1);
  odd.buffers.at(middle).bytes += 64;
  odd.arena_bytes += 64;
  odd.steps.at(0).results.at(0) = moved;
  odd.steps.at(1).operands.at(0) = moved;
  const cuda::RenderedCuda shifted = cuda::render_cuda(odd);
  const std::string tanh_text = kernel_text(shifted.source, shifted.kernels.at(0));
  const std::string exp_text = kernel_text(shifted.source, shifted.kernels.at(1));
  EXPECT_FALSE(uses_vectors(tanh_text)) << tanh_text;
  EXPECT_FALSE(loads_vector(exp_text, moved)) << exp_text;
  const std::string lane_read = std::string("b") + std::to_string(moved) + "[(i + 3LL)]";
  EXPECT_NE(exp_text.find(lane_read), std::string::npos) << exp_text;
  EXPECT_TRUE(stores_vector(exp_text, odd.steps.at(1).results.at(0))) << exp_text;

  // Sequence rows of a scan are views moving by a step stride of a row's bytes: 20 bytes (B=1,
  // H=5) is no multiple of 16, so x_t is read per lane; 32 bytes (H=8) is, so x_t is a vector.
  for (int64_t hidden : {5, 8}) {
    auto scan = cases::rnn(DType::f32, 3, 1, hidden, false, false);
    cuda::RenderOptions options;
    options.persistent_scans = false;
    auto planned = render_with(*scan, options);
    const Program& program = planned->program;
    BufferId row = -1;
    for (size_t id = 0; id < program.buffers.size(); ++id)  // x_t (not an output's row)
      if (program.buffers[id].step_stride != 0 &&
          program.buffers.at(program.buffers[id].base).role == ir::BufferRole::input)
        row = static_cast<BufferId>(id);
    ASSERT_GE(row, 0);
    ASSERT_EQ(program.buffers.at(row).step_stride, hidden * 4);
    bool read = false;
    for (const std::string& kernel : planned->rendered.kernels) {
      const std::string text = kernel_text(planned->rendered.source, kernel);
      const std::string declared = std::string("b") + std::to_string(row) + " ";
      if (text.find(declared) == std::string::npos) continue;
      read = true;
      EXPECT_EQ(loads_vector(text, row), hidden == 8) << text;
      // H=8: the other operands too. H=5: the kernel also writes h_t into its misaligned row
      // of the stacked outputs, so it runs element by element.
      EXPECT_EQ(text.find("rnnc_float4") != std::string::npos, hidden == 8) << text;
    }
    EXPECT_TRUE(read) << "no kernel reads the row view";
  }
}

TEST(CudaVectorize, ContiguousCopiesUseVectorsWhereAligned) {
  auto graph = copy_graph();
  auto rendered = render_with(*graph, {});
  const std::string& source = rendered->rendered.source;
  auto text_of = [&](size_t output) {
    return kernel_text(source, launch_of_output(*rendered, output).kernel);
  };
  const std::string rows = text_of(0);
  EXPECT_NE(rows.find("*(rnnc_float4*)"), std::string::npos) << rows;
  EXPECT_NE(rows.find(" + 8LL + i)"), std::string::npos) << rows;  // from element 8
  EXPECT_EQ(launch_of_output(*rendered, 0).threads, 7);
  const std::string odd = text_of(1);
  EXPECT_FALSE(uses_vectors(odd)) << odd;
  const std::string wide = text_of(2);
  EXPECT_NE(wide.find("*(rnnc_double2*)"), std::string::npos) << wide;
  EXPECT_NE(wide.find("for (long long e = i; e < 9LL; ++e)"), std::string::npos) << wide;
}

TEST(CudaVectorize, VectorizedKernelsMatchTheInterpreter) {
  Batch batch;
  std::vector<std::unique_ptr<Graph>> graphs;
  auto add = [&](std::unique_ptr<Graph> graph, uint64_t seed, const std::vector<Variant>& variants,
                 Bindings extra = {}) {
    Bindings state;
    Bindings inputs = cases::random_bindings(*graph, seed, state);
    for (auto& [name, tensor] : extra) inputs[name] = tensor;
    batch.add(graph->name(), *graph, inputs, state, variants);
    graphs.push_back(std::move(graph));
  };
  add(elementwise_graph(), 1, {{"O1", false}, {"O0", false}});
  add(copy_graph(), 2, {{"O1", false}});
  // Scans: rows of 20 bytes (scalar reads of x_t) and of 48 and 32 bytes (vectors), lengths,
  // reversed, f64; as loops and as persistent kernels (whose phases call the same kernels).
  const std::vector<Variant> loops = {{"O1", false}, {"O1", true}, {"O1", true, 3, 64}};
  add(cases::rnn(DType::f32, 4, 1, 5, false, false), 3, loops);
  add(cases::rnn(DType::f32, 5, 3, 4, true, false), 4, loops);
  Bindings lengths{{"lengths", Tensor::from_ints({2}, {6, 3})}};
  add(cases::rnn(DType::f64, 6, 2, 3, false, true), 5, loops, lengths);
  add(cases::rnn(DType::f32, 6, 2, 8, true, true), 6, loops, lengths);
  // A training step: its parameter updates are elementwise kernels writing in place.
  cases::Model diabetes = cases::load_model("diabetes.train.rnn");
  batch.add("diabetes train", *diabetes.graph, diabetes.inputs, diabetes.state, {{"O1", false}});
  batch.check();
}

TEST(CudaVectorize, VectorsChangeNoBit) {
  // The same programs with and without vectors give bit-identical results: each lane does
  // exactly one element's arithmetic.
  std::vector<std::unique_ptr<Graph>> graphs;
  graphs.push_back(elementwise_graph());
  graphs.push_back(copy_graph());
  graphs.push_back(cases::rnn(DType::f32, 4, 3, 8, false, false));
  cuda::RenderOptions off;
  off.vectorize = false;
  std::vector<std::unique_ptr<testemu::Rendered>> renders;
  std::vector<const cuda::RenderedCuda*> sources;
  for (const auto& graph : graphs)
    for (bool vectorize : {true, false}) {
      renders.push_back(render_with(*graph, vectorize ? cuda::RenderOptions{} : off));
      sources.push_back(&renders.back()->rendered);
    }
  auto code = cuda_emulation::compile_emulations(sources);
  for (size_t g = 0; g < graphs.size(); ++g) {
    SCOPED_TRACE(graphs[g]->name());
    Bindings state;
    Bindings inputs = cases::random_bindings(*graphs[g], 7 + g, state);
    std::vector<Bindings> results;
    for (size_t v = 0; v < 2; ++v) {
      const testemu::Rendered& r = *renders[2 * g + v];
      cuda_emulation::EmulatedCuda emulated(*r.graph, r.program, r.rendered, code[2 * g + v]);
      results.push_back(testemu::run_all(emulated, inputs, state));
    }
    ASSERT_EQ(results[0].size(), results[1].size());
    for (const auto& [name, tensor] : results[0]) {
      const Tensor& other = results[1].at(name);
      ASSERT_EQ(tensor.type(), other.type()) << name;
      EXPECT_EQ(std::memcmp(tensor.raw(), other.raw(),
                            tensor.num_elements() * dtype_size(tensor.dtype())),
                0)
          << name;
    }
  }
}

TEST(CudaVectorize, DivisionByZeroInALaneIsAnError) {
  Graph graph("lanes");
  Value* a = graph.add_input("a", {DType::i32, {9}});
  Value* b = graph.add_input("b", {DType::i32, {9}});
  graph.add_output("q", build::div(a, b));
  testemu::Emulated emulated = testemu::emulate(graph);
  ASSERT_EQ(emulated.rendered->rendered.plan.at(0).threads, 3);  // vectors of 4, a tail of 1
  Bindings state;
  const Tensor a_values = Tensor::from_ints({9}, {7, -7, 6, 9, 10, 11, 12, 13, 14});
  for (int zero_at : {6, 8}) {  // a vector's lane, the tail
    std::vector<int32_t> divisors = {2, 2, -3, 3, 5, 1, 4, 2, 7};
    divisors[zero_at] = 0;
    const std::string message = testerr::error_of([&] {
      emulated.executable->run({{"a", a_values}, {"b", Tensor::from_ints({9}, divisors)}}, state);
    });
    EXPECT_NE(message.find("division by zero"), std::string::npos) << zero_at << ": " << message;
  }
  Bindings out = emulated.executable->run(
      {{"a", a_values}, {"b", Tensor::from_ints({9}, {2, 2, -3, 3, 5, 1, 4, 2, 7})}}, state);
  EXPECT_EQ(out.at("q").to_doubles(), (std::vector<double>{3, -3, -2, 3, 2, 11, 3, 6, 2}));
  // One message per error kind, however many lanes can raise it.
  EXPECT_EQ(emulated.rendered->rendered.errors.size(), 2u);
}

TEST(CudaVectorize, NvrtcEmitsVectorInstructions) {
  auto graph = elementwise_graph();
  auto rendered = render_with(*graph, {});
  cuda::NvrtcOptions options;
  options.disk_cache = false;
  auto module = cuda::compile_cuda(rendered->rendered.source, options, "vectors.cu");
  EXPECT_EQ(module->log, "");
  // Vector loads and stores, global or generic (the i32 kernel, whose division may set the
  // error flag, addresses its buffers generically): "ld.v4.f32" for both.
  std::set<std::string> found;
  const std::regex vector(R"(\b(ld|st)(\.global)?(\.v[24]\.\w+))");
  for (auto it = std::sregex_iterator(module->ptx.begin(), module->ptx.end(), vector);
       it != std::sregex_iterator(); ++it)
    found.insert((*it)[1].str() + (*it)[3].str());
  std::string all;
  for (const std::string& instruction : found) all += instruction + " ";
  for (const char* wanted :
       {"ld.v4.f32", "st.v4.f32", "ld.v2.f64", "st.v2.f64", "ld.v2.f32", "ld.v4.u32", "st.v4.u32"})
    EXPECT_TRUE(found.count(wanted)) << wanted << " not among " << all;
}

}  // namespace
}  // namespace rnnc
#endif
