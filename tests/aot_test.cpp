// Ahead-of-time libraries (`rnnc compile`, codegen/cpu/aot.h): the lecture's models compiled
// into C libraries, driven from generated C programs linked statically and dynamically, and
// compared with the interpreter; what the shared library depends on and exports; parameter
// files; bad input; the C example; and an installed rnnc used from another CMake project.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "codegen/interp/interpreter.h"
#include "frontend/losses.h"
#include "frontend/onnx/onnx_import.h"
#include "frontend/optimizers.h"
#include "frontend/training.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "runtime/initializers.h"
#include "runtime/random.h"
#include "tests/support/huge_pages.h"
#include "tests/support/programs.h"
#include "tests/support/scratch_dir.h"

namespace rnnc {
namespace {

namespace fs = std::filesystem;
using testprog::ProgramRun;
using testprog::run_program;

std::string source_path(const std::string& relative) {
  return std::string(RNNC_SOURCE_DIR) + "/" + relative;
}

/// An empty folder of its own for `name`, removed when the returned object goes away.
testdir::ScratchDir scratch(const std::string& name) { return testdir::ScratchDir("aot_" + name); }

ProgramRun rnnc_driver(const std::string& arguments) {
  return run_program(testprog::binary("rnnc") + " " + arguments);
}

void write_raw(const fs::path& path, const Tensor& tensor) {
  std::ofstream file(path, std::ios::binary);
  file.write(static_cast<const char*>(tensor.raw()),
             tensor.num_elements() * ir::dtype_size(tensor.dtype()));
}

Tensor read_raw(const fs::path& path, const TensorType& type) {
  Tensor tensor(type);
  std::ifstream file(path, std::ios::binary);
  std::streamsize bytes = tensor.num_elements() * ir::dtype_size(type.dtype);
  file.read(static_cast<char*>(tensor.raw()), bytes);
  EXPECT_EQ(file.gcount(), bytes) << path;
  return tensor;
}

/// Every element within 1e-5 (relative to the larger magnitude when above 1); i32 exactly.
void expect_close(const Tensor& expected, const Tensor& actual, const std::string& what) {
  ASSERT_EQ(expected.type(), actual.type()) << what;
  int failures = 0;
  for (int64_t i = 0; i < expected.num_elements() && failures < 5; ++i) {
    double a = expected.get(i), b = actual.get(i);
    double scale = std::max({1.0, std::abs(a), std::abs(b)});
    if (!(std::abs(a - b) <= 1e-5 * scale)) {
      ADD_FAILURE() << what << "[" << i << "]: interpreter " << a << ", library " << b;
      ++failures;
    }
  }
}

/// Inputs for `graph`: floats uniform in [-1, 1); an i32 input uniform in [low, high) from
/// `ranges` by name (labels, ids, lengths must be valid for the model).
Bindings random_inputs(const ir::Graph& graph,
                       const std::map<std::string, std::pair<int, int>>& ranges, uint64_t seed) {
  Rng rng(seed);
  Bindings inputs;
  for (const ir::Node* node : graph.nodes_of(ir::OpKind::Input)) {
    const ir::Value* value = node->result();
    Tensor tensor(value->type());
    for (int64_t i = 0; i < tensor.num_elements(); ++i) {
      if (value->dtype() == ir::DType::i32) {
        auto [low, high] = ranges.at(value->name());
        tensor.set(i, low + static_cast<double>(rng.below(high - low)));
      } else {
        tensor.set(i, rng.uniform(-1, 1));
      }
    }
    inputs[value->name()] = tensor;
  }
  return inputs;
}

/// The parameters of a parameter file (the format of NAME.h), by name.
Bindings read_parameter_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  auto u32 = [&] {
    uint32_t value = 0;
    file.read(reinterpret_cast<char*>(&value), 4);
    return value;
  };
  auto u64 = [&] {
    uint64_t value = 0;
    file.read(reinterpret_cast<char*>(&value), 8);
    return value;
  };
  char magic[8] = {};
  file.read(magic, 8);
  EXPECT_EQ(std::string(magic, 8), "RNNCPAR1");
  Bindings parameters;
  for (uint32_t count = u32(), t = 0; t < count && file; ++t) {
    std::string name(u32(), '\0');
    file.read(name.data(), static_cast<std::streamsize>(name.size()));
    const ir::DType dtypes[] = {ir::DType::f32, ir::DType::f64, ir::DType::i32};
    ir::DType dtype = dtypes[u32() % 3];
    ir::Shape shape(u32());
    for (int64_t& dim : shape) dim = static_cast<int64_t>(u64());
    Tensor tensor(dtype, shape);
    EXPECT_EQ(u64(), static_cast<uint64_t>(tensor.num_elements() * ir::dtype_size(dtype)));
    file.read(static_cast<char*>(tensor.raw()), tensor.num_elements() * ir::dtype_size(dtype));
    parameters[name] = tensor;
  }
  EXPECT_TRUE(file) << path << " is truncated";
  return parameters;
}

/// `name` in upper case, as the header's macros spell it.
std::string upper_name(const std::string& name) {
  std::string result = name;
  for (char& ch : result) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return result;
}

/// A C program that drives library `name`: reads each input from DIR/<fn>_in<i>.bin, runs
/// forward once and `steps` training steps on the same inputs, writes each output to
/// DIR/<fn><step>_out<i>.bin, saves the parameters to DIR/params.bin, checks that bad
/// parameter files are refused, loads params.bin into a second context and runs forward
/// there (DIR/reloaded_out<i>.bin).
std::string harness(const std::string& name, const ir::Graph& forward, const ir::Graph* train,
                    int steps) {
  std::ostringstream c;
  c << "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"" << name
    << ".h\"\n"
    << "static char path[4096];\n"
    << "static const char* at(const char* dir, const char* file) {\n"
    << "  snprintf(path, sizeof path, \"%s/%s\", dir, file);\n  return path;\n}\n"
    << "static void* load(const char* dir, const char* file, size_t bytes) {\n"
    << "  void* data = malloc(bytes + 1);\n  FILE* f = fopen(at(dir, file), \"rb\");\n"
    << "  if (!f || fread(data, 1, bytes, f) != bytes) { printf(\"cannot read %s\\n\", file); "
       "exit(1); }\n"
    << "  fclose(f);\n  return data;\n}\n"
    << "static void store(const char* dir, const char* file, const void* data, size_t bytes) {\n"
    << "  FILE* f = fopen(at(dir, file), \"wb\");\n"
    << "  if (!f || fwrite(data, 1, bytes, f) != bytes) exit(1);\n  fclose(f);\n}\n"
    << "static void check(int code, const char* what) {\n"
    << "  if (code != 0) { printf(\"%s: %s\\n\", what, " << name
    << "_error_message(code)); exit(1); }\n}\n";
  auto bytes = [](const ir::Value* value) {
    return std::to_string(value->type().num_elements() * ir::dtype_size(value->dtype()));
  };
  // One function per entry point: run it once, writing outputs with `tag`.
  auto runner = [&](const ir::Graph& graph, const std::string& function, const std::string& in) {
    c << "static void run_" << function << "(" << name
      << "_context* context, const char* dir, const char* tag) {\n  char file[256];\n";
    std::vector<ir::Node*> inputs = graph.nodes_of(ir::OpKind::Input);
    for (size_t i = 0; i < inputs.size(); ++i)
      c << "  void* in" << i << " = load(dir, \"" << in << "_in" << i << ".bin\", "
        << bytes(inputs[i]->result()) << ");\n";
    for (size_t i = 0; i < graph.outputs().size(); ++i)
      c << "  void* out" << i << " = malloc(" << bytes(graph.outputs()[i].value) << " + 1);\n";
    c << "  check(" << name << "_" << function << "(context";
    for (size_t i = 0; i < inputs.size(); ++i) c << ", in" << i;
    for (size_t i = 0; i < graph.outputs().size(); ++i) c << ", out" << i;
    c << "), \"" << function << "\");\n";
    for (size_t i = 0; i < graph.outputs().size(); ++i)
      c << "  snprintf(file, sizeof file, \"%s_out" << i << ".bin\", tag);\n"
        << "  store(dir, file, out" << i << ", " << bytes(graph.outputs()[i].value)
        << ");\n  free(out" << i << ");\n";
    for (size_t i = 0; i < inputs.size(); ++i) c << "  free(in" << i << ");\n";
    c << "}\n";
  };
  runner(forward, "forward", "forward");
  if (train) runner(*train, "train_step", "train");
  c << "int main(int argc, char** argv) {\n"
    << "  " << name << "_context* context = " << name << "_create();\n"
    << "  " << name << "_context* reloaded = " << name << "_create();\n"
    << "  char tag[64];\n  int step;\n  FILE* f;\n"
    << "  if (argc != 2 || !context || !reloaded) return 2;\n"
    << "  run_forward(context, argv[1], \"forward\");\n"
    << "  for (step = 0; step < " << (train ? steps : 0) << "; ++step) {\n"
    << "    snprintf(tag, sizeof tag, \"train%d\", step);\n";
  if (train) c << "    run_train_step(context, argv[1], tag);\n";
  c << "  }\n"
    << "  check(" << name << "_save(context, at(argv[1], \"params.bin\")), \"save\");\n"
    << "  if (" << name << "_load(reloaded, \"/nonexistent/params.bin\") != " << upper_name(name)
    << "_ERROR_OPEN) return 3;\n"
    << "  f = fopen(at(argv[1], \"truncated.bin\"), \"wb\");\n"
    << "  fwrite(\"RNNCPAR1\\1\\0\", 1, 10, f);\n  fclose(f);\n"
    << "  if (" << name << "_load(reloaded, at(argv[1], \"truncated.bin\")) != " << upper_name(name)
    << "_ERROR_FORMAT) return 4;\n"
    << "  check(" << name << "_load(reloaded, at(argv[1], \"params.bin\")), \"load\");\n"
    << "  run_forward(reloaded, argv[1], \"reloaded\");\n"
    << "  " << name << "_destroy(context);\n  " << name << "_destroy(reloaded);\n"
    << "  printf(\"HARNESS_OK\\n\");\n  return 0;\n}\n";
  return c.str();
}

/// A model compiled by `rnnc compile`, its harness built against libNAME.a and libNAME.so and
/// run, every result compared with the interpreter running `forward` and `train` (the graphs
/// the library was compiled from) from `state` (the library's initial parameters).
void check_library(const std::string& name, const std::string& compile_arguments,
                   const ir::Graph& forward, const ir::Graph* train, Bindings state,
                   const std::map<std::string, std::pair<int, int>>& ranges, int steps) {
  const testdir::ScratchDir scratch_dir = scratch(name);
  const fs::path& folder = scratch_dir.path();
  fs::path library = folder / "lib";
  ProgramRun compiled =
      rnnc_driver("compile " + compile_arguments + " --name " + name + " -o " + library.string());
  ASSERT_EQ(compiled.status, 0) << compiled.output;

  Bindings forward_inputs = random_inputs(forward, ranges, 11);
  std::vector<ir::Node*> forward_input_nodes = forward.nodes_of(ir::OpKind::Input);
  for (size_t i = 0; i < forward_input_nodes.size(); ++i)
    write_raw(folder / ("forward_in" + std::to_string(i) + ".bin"),
              forward_inputs.at(forward_input_nodes[i]->result()->name()));
  Bindings train_inputs;
  if (train) {
    train_inputs = random_inputs(*train, ranges, 12);
    std::vector<ir::Node*> nodes = train->nodes_of(ir::OpKind::Input);
    for (size_t i = 0; i < nodes.size(); ++i)
      write_raw(folder / ("train_in" + std::to_string(i) + ".bin"),
                train_inputs.at(nodes[i]->result()->name()));
  }
  std::ofstream(folder / "harness.c") << harness(name, forward, train, steps);
  std::string cc = "cc -std=c99 -Wall -Wextra -Wpedantic -Werror -I " + library.string() + " " +
                   (folder / "harness.c").string();
  ProgramRun built_static =
      run_program(cc + " " + (library / ("lib" + name + ".a")).string() +
                  " -lopenblas -lm -lpthread -o " + (folder / "static").string());
  ASSERT_EQ(built_static.status, 0) << built_static.output;
  ProgramRun built_shared =
      run_program(cc + " " + (library / ("lib" + name + ".so")).string() + " -Wl,-rpath," +
                  library.string() + " -o " + (folder / "shared").string());
  ASSERT_EQ(built_shared.status, 0) << built_shared.output;

  // The interpreter's results, from the same initial parameters.
  Bindings forward_expected = interp::run_graph(forward, forward_inputs, state);
  std::vector<Bindings> train_expected;
  for (int step = 0; train && step < steps; ++step)
    train_expected.push_back(interp::run_graph(*train, train_inputs, state));
  Bindings reloaded_expected = interp::run_graph(forward, forward_inputs, state);

  for (const char* linkage : {"static", "shared"}) {
    SCOPED_TRACE(std::string(name) + " linked " + linkage);
    ProgramRun run = run_program((folder / linkage).string() + " " + folder.string());
    ASSERT_EQ(run.status, 0) << run.output;
    ASSERT_NE(run.output.find("HARNESS_OK"), std::string::npos) << run.output;
    for (size_t i = 0; i < forward.outputs().size(); ++i) {
      const ir::GraphOutput& output = forward.outputs()[i];
      std::string file = "_out" + std::to_string(i) + ".bin";
      expect_close(forward_expected.at(output.name),
                   read_raw(folder / ("forward" + file), output.value->type()),
                   "forward " + output.name);
      expect_close(reloaded_expected.at(output.name),
                   read_raw(folder / ("reloaded" + file), output.value->type()),
                   "forward after load " + output.name);
    }
    for (int step = 0; train && step < steps; ++step)
      for (size_t i = 0; i < train->outputs().size(); ++i) {
        const ir::GraphOutput& output = train->outputs()[i];
        expect_close(train_expected[step].at(output.name),
                     read_raw(folder / ("train" + std::to_string(step) + "_out" +
                                        std::to_string(i) + ".bin"),
                              output.value->type()),
                     "train step " + std::to_string(step) + " " + output.name);
      }
    Bindings saved = read_parameter_file(folder / "params.bin");
    EXPECT_EQ(saved.size(), state.size());
    for (const auto& [parameter, value] : state) {
      ASSERT_TRUE(saved.count(parameter)) << parameter;
      expect_close(value, saved.at(parameter), "saved parameter " + parameter);
    }
  }
}

std::unique_ptr<ir::Graph> model_file(const std::string& file) {
  return ir::parse_graph_file(source_path("examples/models/" + file));
}

class Aot : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef RNNC_HAVE_CPU
    GTEST_SKIP() << "built without the CPU backend";
#endif
  }
};

TEST_F(Aot, DiabetesMatchesTheInterpreter) {
  auto forward = model_file("diabetes.forward.rnn");
  auto train = model_file("diabetes.train.rnn");
  check_library("diabetes",
                source_path("examples/models/diabetes.forward.rnn") + " --train-model " +
                    source_path("examples/models/diabetes.train.rnn"),
                *forward, train.get(), initialize_parameters(*train), {}, 3);
}

TEST_F(Aot, HihellRnnMatchesTheInterpreter) {
  // A scan (forward and reverse), cross entropy, Adam with its step counter.
  auto forward = model_file("hihell_rnn.forward.rnn");
  auto train = model_file("hihell_rnn.train.rnn");
  check_library("hihell",
                source_path("examples/models/hihell_rnn.forward.rnn") + " --train-model " +
                    source_path("examples/models/hihell_rnn.train.rnn"),
                *forward, train.get(), initialize_parameters(*train),
                {{"x", {0, 5}}, {"y", {0, 5}}}, 3);
}

TEST_F(Aot, SstLstmMatchesTheInterpreter) {
  // The lecture's LSTM with peepholes over an embedding, per-row lengths, AdaGrad, clipping.
  auto forward = model_file("sst_lstm.forward.rnn");
  auto train = model_file("sst_lstm.train.rnn");
  check_library("sst",
                source_path("examples/models/sst_lstm.forward.rnn") + " --train-model " +
                    source_path("examples/models/sst_lstm.train.rnn"),
                *forward, train.get(), initialize_parameters(*train),
                {{"tokens", {0, 14830}}, {"lengths", {1, 57}}, {"label", {0, 2}}}, 2);
}

/// The training step `rnnc compile --train` derives, rebuilt with the same API calls.
std::unique_ptr<ir::Graph> derived_step(const ir::Graph& forward, const std::string& output,
                                        const std::string& loss_kind, const std::string& optimizer,
                                        double clip) {
  auto train = ir::parse_graph(ir::print_graph(forward), forward.name());
  ir::Value* prediction = train->output(output);
  ir::Value* loss = nullptr;
  if (loss_kind == "cross-entropy") {
    ir::Shape shape(prediction->shape().begin(), prediction->shape().end() - 1);
    loss = nn::cross_entropy(prediction, train->add_input("labels", {ir::DType::i32, shape}));
  } else {
    loss = nn::bce(prediction, train->add_input("labels", prediction->type()));
  }
  nn::TrainingConfig config;
  config.optimizer = nn::OptimizerConfig::parse(optimizer);
  if (clip > 0) config.clip_norm = clip;
  nn::make_training_step(*train, loss, config);
  return train;
}

/// A one-product model `name` in `folder`: y = sigmoid(x w), or sigmoid(x w^T) when
/// `transposed`, x [rows, depth], y [rows, columns]; returns the model file's path.
fs::path one_product_model(const fs::path& folder, const std::string& name, int rows, int depth,
                           int columns, bool transposed) {
  const std::string w = transposed ? std::to_string(columns) + ", " + std::to_string(depth)
                                   : std::to_string(depth) + ", " + std::to_string(columns);
  const std::string x = std::to_string(rows) + ", " + std::to_string(depth);
  const std::string y = std::to_string(rows) + ", " + std::to_string(columns);
  fs::path path = folder / (name + ".rnn");
  std::ofstream(path) << "graph @" << name << " {\n"
                      << "  %w = parameter() {init = \"uniform:-0.1,0.1\", seed = 4, role = "
                         "\"weight\"} : f32["
                      << w << "]\n  %x = input() : f32[" << x << "]\n"
                      << "  %y = matmul(%x, %w) {transpose_a = 0, transpose_b = "
                      << (transposed ? 1 : 0) << "} : f32[" << y << "]\n"
                      << "  %t = sigmoid(%y) : f32[" << y << "]\n  output y = %t\n}\n";
  return path;
}

/// The interpreter's side of a one_product_model of `rows` x `depth` inputs and `columns`
/// outputs: the graph, its training step (bce, SGD at 0.1), their initial parameters, and
/// random x and labels.
struct ProductProblem {
  std::unique_ptr<ir::Graph> forward, train;
  Bindings state, inputs;
};

ProductProblem product_problem(const fs::path& path, int rows, int depth, int columns) {
  ProductProblem p;
  p.forward = ir::parse_graph_file(path.string());
  p.train = derived_step(*p.forward, "y", "bce", "sgd:lr=0.1", 0);
  p.state = initialize_parameters(*p.train);
  p.inputs["x"] = initialize({ir::DType::f32, {rows, depth}}, "uniform:-1,1", 3);
  p.inputs["labels"] = initialize({ir::DType::f32, {rows, columns}}, "uniform:0,1", 4);
  return p;
}

/// The C API of a one_product_model library with a training step, opened with dlopen.
struct ProductLibrary {
  void* handle = nullptr;
  void* (*create)() = nullptr;
  void (*destroy)(void*) = nullptr;
  int (*forward)(void*, const float*, float*) = nullptr;
  int (*train_step)(void*, const float*, const float*, float*, float*) = nullptr;
  float* (*parameter)(void*, int) = nullptr;
  void (*reset)(void*) = nullptr;
  int (*save)(void*, const char*) = nullptr;
  int (*load)(void*, const char*) = nullptr;

  /// Opens `shared` (libNAME.so) and finds NAME's functions; check complete().
  ProductLibrary(const fs::path& shared, const std::string& name)
      : handle(dlopen(shared.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    if (!handle) return;
    auto find = [&](auto& function, const char* suffix) {
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
          dlsym(handle, (name + "_" + suffix).c_str()));
    };
    find(create, "create");
    find(destroy, "destroy");
    find(forward, "forward");
    find(train_step, "train_step");
    find(parameter, "parameter");
    find(reset, "reset");
    find(save, "save");
    find(load, "load");
  }
  ProductLibrary(const ProductLibrary&) = delete;
  ProductLibrary& operator=(const ProductLibrary&) = delete;
  ~ProductLibrary() {
    if (handle) dlclose(handle);
  }
  bool complete() const {
    return create && destroy && forward && train_step && parameter && reset && save && load;
  }
};

TEST_F(Aot, ParallelProductsMatchTheInterpreter) {
  // 48x256x1000 (12M multiply-adds) is a generated product split by columns across the
  // library's own thread pool (NAME_run_parallel, NAME_parallel.c); 1000 columns leave a
  // remainder for the last part. The training step's products are split too. The library is
  // loaded with dlopen and its forward, train_step and updated weight compared with the
  // interpreter's.
  const testdir::ScratchDir scratch_dir = scratch("parallel_model");
  const fs::path& folder = scratch_dir.path();
  fs::path path = one_product_model(folder, "wide", 48, 256, 1000, false);
  ProgramRun compiled =
      rnnc_driver("compile " + path.string() + " --train --loss bce --optimizer sgd:lr=0.1 -o " +
                  (folder / "lib").string());
  ASSERT_EQ(compiled.status, 0) << compiled.output;
  ProgramRun symbols = run_program("nm " + (folder / "lib" / "libwide.a").string());
  EXPECT_NE(symbols.output.find("U wide_run_parallel"), std::string::npos) << symbols.output;

  auto [forward, train, state, inputs] = product_problem(path, 48, 256, 1000);
  Bindings forward_expected = interp::run_graph(*forward, {{"x", inputs["x"]}}, state);
  Bindings train_expected = interp::run_graph(*train, inputs, state);

  ProductLibrary library(folder / "lib" / "libwide.so", "wide");
  ASSERT_TRUE(library.complete()) << dlerror();
  void* context = library.create();
  ASSERT_NE(context, nullptr);
  const auto* x = static_cast<const float*>(inputs["x"].raw());
  Tensor y(forward->output("y")->type()), trained_y(y.type()),
      loss(ir::TensorType{ir::DType::f32, {}});
  ASSERT_EQ(library.forward(context, x, static_cast<float*>(y.raw())), 0);
  expect_close(forward_expected.at("y"), y, "forward y");
  ASSERT_EQ(
      library.train_step(context, x, static_cast<const float*>(inputs["labels"].raw()),
                         static_cast<float*>(trained_y.raw()), static_cast<float*>(loss.raw())),
      0);
  expect_close(train_expected.at("y"), trained_y, "train_step y");
  expect_close(train_expected.at("loss"), loss, "train_step loss");
  Tensor weight(state.at("w").type());
  std::memcpy(weight.raw(), library.parameter(context, 0), 256 * 1000 * sizeof(float));
  expect_close(state.at("w"), weight, "updated w");
  library.destroy(context);
}

TEST_F(Aot, ParameterBlocksOfTwoMebibytesOrMoreAreAdvisedForHugePages) {
  // A library's runtime allocates its parameters, arena and pack caches zeroed, and from 2 MiB
  // on aligned to 2 MiB and advised for transparent huge pages, as the JIT does: a 1024 x 1024
  // weight (4 MiB) is the first parameter, so its address is the block's.
  const testdir::ScratchDir scratch_dir = scratch("huge_pages");
  const fs::path& folder = scratch_dir.path();
  fs::path path = one_product_model(folder, "big", 8, 1024, 1024, false);
  ProgramRun compiled =
      rnnc_driver("compile " + path.string() + " --train --loss bce --optimizer sgd:lr=0.1 -o " +
                  (folder / "lib").string());
  ASSERT_EQ(compiled.status, 0) << compiled.output;
  auto [forward, train, state, inputs] = product_problem(path, 8, 1024, 1024);
  ProductLibrary library(folder / "lib" / "libbig.so", "big");
  ASSERT_TRUE(library.complete()) << dlerror();
  void* context = library.create();
  ASSERT_NE(context, nullptr);
  const float* weight = library.parameter(context, 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(weight) % (size_t{2} << 20), 0u);
  Tensor y(forward->output("y")->type());
  ASSERT_EQ(library.forward(context, static_cast<const float*>(inputs["x"].raw()),
                            static_cast<float*>(y.raw())),
            0);
  expect_close(interp::run_graph(*forward, {{"x", inputs["x"]}}, state).at("y"), y, "forward y");
  std::optional<bool> advised = testhuge::advised_for_huge_pages(weight);
  library.destroy(context);
  if (!advised) GTEST_SKIP() << "no transparent huge pages or no /proc/self/smaps here";
  EXPECT_TRUE(*advised);
}

/// The body of Aot.PackedWeightsAreKeptUntilTheParametersMayChange for a library compiled
/// with or without --repack-weights.
void check_packed_weights(bool repack) {
  const testdir::ScratchDir scratch_dir = scratch(repack ? "repacked_weights" : "packed_weights");
  const fs::path& folder = scratch_dir.path();
  fs::path path = one_product_model(folder, "tall", 64, 200, 300, true);
  ProgramRun compiled =
      rnnc_driver("compile " + path.string() + " --train --loss bce --optimizer sgd:lr=0.1 -o " +
                  (folder / "lib").string() + (repack ? " --repack-weights" : ""));
  ASSERT_EQ(compiled.status, 0) << compiled.output;
  std::string runtime, header;
  std::getline(std::ifstream(folder / "lib" / "tall_runtime.c"), runtime, '\0');
  EXPECT_NE(runtime.find("static void forget_packs("), std::string::npos);
  // The forward function keeps w's panels: its 300 x 200 floats (240000 bytes) padded to
  // whole panels (of 64 floats with AVX-512, 16 with AVX2: less than one more panel of 200
  // rows), after a header of 4 slots per parameter (64 bytes, aligned); none with
  // --repack-weights.
  std::getline(std::ifstream(folder / "lib" / "tall.h"), header, '\0');
  const std::string macro = "#define TALL_FORWARD_PACK_CACHE_BYTES ";
  const size_t at = header.find(macro);
  ASSERT_EQ(at == std::string::npos, repack) << header;
  if (!repack) {
    const long long bytes = std::stoll(header.substr(at + macro.size()));
    EXPECT_GE(bytes, 64 + 240000);
    EXPECT_LT(bytes, 64 + 240000 + 64 * 200 * 4);
  }

  auto [forward, train, state, inputs] = product_problem(path, 64, 200, 300);
  auto expected_y = [&](const Bindings& weights) {
    Bindings copy = weights;
    return interp::run_graph(*forward, {{"x", inputs["x"]}}, copy).at("y");
  };

  ProductLibrary library(folder / "lib" / "libtall.so", "tall");
  ASSERT_TRUE(library.complete()) << dlerror();
  void* context = library.create();
  ASSERT_NE(context, nullptr);
  const auto* x = static_cast<const float*>(inputs["x"].raw());
  auto y_now = [&] {
    Tensor y(forward->output("y")->type());
    EXPECT_EQ(library.forward(context, x, static_cast<float*>(y.raw())), 0);
    return y;
  };
  const int64_t elements = 300 * 200;
  auto scale_w = [&](float* w, float factor) {
    for (int64_t i = 0; i < elements; ++i) w[i] *= factor;
  };
  auto scale = [](Tensor& tensor, double factor) {
    for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, tensor.get(i) * factor);
  };
  Bindings weights = state;
  const Tensor initial_y = y_now();
  expect_close(expected_y(weights), initial_y, "first forward");

  float* w = library.parameter(context, 0);  // its writes are seen by the next run
  scale_w(w, 0.5f);
  scale(weights.at("w"), 0.5);
  expect_close(expected_y(weights), y_now(), "after writing through tall_parameter");
  scale_w(w, 3.0f);  // after a run, through the old pointer: the packs stay
  if (repack) scale(weights.at("w"), 3.0);
  expect_close(expected_y(weights), y_now(), "old pointer, unannounced");
  if (!repack) scale(weights.at("w"), 3.0);
  library.parameter(context, 0);
  expect_close(expected_y(weights), y_now(), "announced by tall_parameter");

  // A training step writes w: the next forward packs what it left.
  Tensor trained_y(initial_y.type()), loss(ir::TensorType{ir::DType::f32, {}});
  ASSERT_EQ(
      library.train_step(context, x, static_cast<const float*>(inputs["labels"].raw()),
                         static_cast<float*>(trained_y.raw()), static_cast<float*>(loss.raw())),
      0);
  interp::run_graph(*train, inputs, weights);
  expect_close(expected_y(weights), y_now(), "after a training step");

  const std::string saved = (folder / "trained.bin").string();
  ASSERT_EQ(library.save(context, saved.c_str()), 0);
  library.reset(context);
  expect_close(initial_y, y_now(), "after tall_reset");
  ASSERT_EQ(library.load(context, saved.c_str()), 0);
  expect_close(expected_y(weights), y_now(), "after tall_load");
  library.destroy(context);
}

TEST_F(Aot, PackedWeightsAreKeptUntilTheParametersMayChange) {
  // x w^T with 64 rows packs w at the top level; the forward program never writes w, so its
  // panels stay in the context from call to call (AotOptions::cache_parameter_packs).
  // tall_parameter, tall_load, tall_reset and a training step make the next call pack w again;
  // a write through a pointer kept from before a run is not seen (the header's contract)
  // unless the library was compiled with --repack-weights.
  for (bool repack : {false, true}) {
    SCOPED_TRACE(repack ? "--repack-weights" : "packs kept");
    check_packed_weights(repack);
  }
}

TEST_F(Aot, DerivedTrainingStepMatchesTheLecturesStep) {
  // --train with BCE and SGD(0.1) on the diabetes forward graph is the committed training
  // step but for its extra "correct" output: their losses and updates agree.
  auto forward = model_file("diabetes.forward.rnn");
  auto train = derived_step(*forward, "probability", "bce", "sgd:lr=0.1", 0);
  Bindings state = initialize_parameters(*train);
  check_library("derived",
                source_path("examples/models/diabetes.forward.rnn") +
                    " --train --loss bce --optimizer sgd:lr=0.1",
                *forward, train.get(), state, {}, 2);

  auto committed = model_file("diabetes.train.rnn");
  Bindings inputs = random_inputs(*forward, {}, 5);
  Rng rng(6);
  Tensor labels(ir::DType::f32, {32, 1});
  for (int64_t i = 0; i < 32; ++i) labels.set(i, rng.below(2));
  Bindings derived_inputs = inputs, committed_inputs = inputs;
  derived_inputs["labels"] = committed_inputs["y"] = labels;
  Bindings derived_state = state, committed_state = state;
  Bindings a = interp::run_graph(*train, derived_inputs, derived_state);
  Bindings b = interp::run_graph(*committed, committed_inputs, committed_state);
  expect_close(b.at("loss"), a.at("loss"), "loss");
  for (const auto& [parameter, value] : committed_state)
    expect_close(value, derived_state.at(parameter), parameter);
}

TEST_F(Aot, ImportedOnnxModelTrainsWithTheIssuesCommand) {
  // rnnc compile model.onnx --train --loss cross-entropy --optimizer adagrad:lr=0.1
  // --clip-norm 5: the imported initializers are the initial parameters.
  std::string path = source_path("tests/fuzz/seeds/torch_gru_embedding_head.onnx");
  OnnxModel model = import_onnx_file(path);
  ASSERT_GE(model.graph->outputs().size(), 1u);
  const ir::GraphOutput& logits = model.graph->outputs()[0];
  auto train = derived_step(*model.graph, logits.name, "cross-entropy", "adagrad:lr=0.1", 5);
  Bindings state = initialize_parameters(*train);
  for (const auto& [name, value] : model.parameters) state[name] = value;
  std::map<std::string, std::pair<int, int>> ranges;
  int64_t classes = logits.value->shape().back();
  ranges["labels"] = {0, static_cast<int>(classes)};
  for (const ir::Node* node : model.graph->nodes_of(ir::OpKind::Input))
    if (node->result()->dtype() == ir::DType::i32) ranges[node->result()->name()] = {0, 2};
  check_library("onnx_gru",
                path + " --train --loss cross-entropy --output " + logits.name +
                    " --optimizer adagrad:lr=0.1 --clip-norm 5",
                *model.graph, train.get(), state, ranges, 2);
}

TEST_F(Aot, SharedLibraryNeedsNothingOfRnncAndExportsOnlyItsApi) {
  const testdir::ScratchDir scratch_dir = scratch("deps");
  const fs::path& folder = scratch_dir.path();
  ProgramRun compiled = rnnc_driver(
      "compile " + source_path("examples/models/hihell_rnn.forward.rnn") + " --train-model " +
      source_path("examples/models/hihell_rnn.train.rnn") + " --name hihell -o " + folder.string());
  ASSERT_EQ(compiled.status, 0) << compiled.output;
  std::string so = (folder / "libhihell.so").string();
  ProgramRun ldd = run_program("ldd " + so);
  ASSERT_EQ(ldd.status, 0) << ldd.output;
  std::istringstream lines(ldd.output);
  std::string line;
  int libraries = 0;
  while (std::getline(lines, line)) {
    std::string library = line.substr(0, line.find(" =>"));
    library.erase(0, library.find_first_not_of(" \t"));
    library = library.substr(0, library.find(' '));
    bool allowed = false;
    for (const char* prefix :
         {"linux-vdso", "libc.so", "libm.so", "libopenblas", "libgfortran", "libquadmath",
          "libgcc_s", "libpthread", "/lib64/ld-linux", "ld-linux"})
      allowed = allowed || library.rfind(prefix, 0) == 0;
    EXPECT_TRUE(allowed) << "libhihell.so depends on " << library << "\n" << ldd.output;
    EXPECT_EQ(line.find("rnnc"), std::string::npos) << line;
    EXPECT_EQ(line.find("LLVM"), std::string::npos) << line;
    ++libraries;
  }
  EXPECT_GE(libraries, 3);

  ProgramRun exports = run_program("nm -D --defined-only " + so);
  ASSERT_EQ(exports.status, 0) << exports.output;
  std::istringstream symbols(exports.output);
  std::vector<std::string> names;
  while (std::getline(symbols, line)) {
    std::string symbol = line.substr(line.rfind(' ') + 1);
    names.push_back(symbol);
    EXPECT_EQ(symbol.rfind("hihell_", 0), 0u) << "exported: " << symbol;
  }
  for (const char* api : {"hihell_create", "hihell_destroy", "hihell_forward", "hihell_train_step",
                          "hihell_load", "hihell_save", "hihell_parameter", "hihell_error_message"})
    EXPECT_NE(std::find(names.begin(), names.end(), api), names.end()) << api;
  // The programs and the initial values stay hidden.
  EXPECT_EQ(std::find(names.begin(), names.end(), "hihell_forward_program"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "hihell_run_parallel"), names.end());

  // The generated sources are clean C99, and the header is valid C++ too.
  ProgramRun c99 = run_program("cc -std=c99 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I " +
                               folder.string() + " " + (folder / "hihell_runtime.c").string());
  EXPECT_EQ(c99.status, 0) << c99.output;
  ProgramRun c11 = run_program("cc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only " +
                               (folder / "hihell_parallel.c").string());
  EXPECT_EQ(c11.status, 0) << c11.output;
  std::ofstream(folder / "use.cpp") << "#include \"hihell.h\"\nint main() { return "
                                       "HIHELL_FORWARD_INPUT_X_SIZE == 6 ? 0 : 1; }\n";
  ProgramRun cxx = run_program("c++ -Wall -Wextra -Werror -fsyntax-only -I " + folder.string() +
                               " " + (folder / "use.cpp").string());
  EXPECT_EQ(cxx.status, 0) << cxx.output;
  std::ifstream header(folder / "hihell.h");
  std::string text((std::istreambuf_iterator<char>(header)), std::istreambuf_iterator<char>());
  for (const char* macro :
       {"#define HIHELL_FORWARD_INPUT_X_DIM0 6", "#define HIHELL_TRAIN_OUTPUT_LOSS_SIZE 1",
        "#define HIHELL_HAS_TRAIN_STEP 1", "#define HIHELL_NUM_PARAMETERS"})
    EXPECT_NE(text.find(macro), std::string::npos) << macro;
}

/// The entries of `folder` whose name contains `part`.
std::vector<std::string> entries_containing(const fs::path& folder, const std::string& part) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string().find(part) != std::string::npos)
      found.push_back(entry.path().filename().string());
  return found;
}

TEST_F(Aot, EntryPointsFlushDenormalsUnlessAskedToKeepThem) {
  // By default every entry point sets MXCSR's FTZ and DAZ bits and restores the caller's word
  // (ldmxcsr twice); --keep-denormals leaves the control word alone.
  std::string model = source_path("examples/models/diabetes.forward.rnn");
  for (bool keep : {false, true}) {
    const testdir::ScratchDir scratch_dir = scratch(keep ? "denormals_kept" : "denormals_flushed");
    const fs::path& folder = scratch_dir.path();
    ProgramRun compiled = rnnc_driver("compile " + model + (keep ? " --keep-denormals" : "") +
                                      " --name flushing -o " + (folder / "lib").string());
    ASSERT_EQ(compiled.status, 0) << compiled.output;
    ProgramRun code = run_program("objdump -d " + (folder / "lib" / "flushing.o").string());
    ASSERT_EQ(code.status, 0) << code.output;
    EXPECT_EQ(code.output.find("ldmxcsr") == std::string::npos, keep) << keep;
  }
  const testdir::ScratchDir cuda_folder = scratch("denormals_cuda");
  ProgramRun cuda = rnnc_driver("compile " + model + " --target cuda --keep-denormals -o " +
                                cuda_folder.path().string());
  EXPECT_EQ(cuda.status, 1) << cuda.output;
  EXPECT_NE(cuda.output.find("--keep-denormals applies only to --target cpu"), std::string::npos)
      << cuda.output;
}

TEST_F(Aot, BadInputFailsClearlyAndLeavesNothing) {
  const testdir::ScratchDir scratch_dir = scratch("bad");
  const fs::path& folder = scratch_dir.path();
  std::ofstream(folder / "broken.rnn") << "graph @broken {\n  %x = input() : f32[2\n}\n";
  ProgramRun parse = rnnc_driver("compile " + (folder / "broken.rnn").string() + " -o " +
                                 (folder / "out").string());
  EXPECT_EQ(parse.status, 1) << parse.output;
  EXPECT_NE(parse.output.find("broken.rnn"), std::string::npos) << parse.output;

  std::string model = source_path("examples/models/diabetes.forward.rnn");
  ProgramRun cpu = rnnc_driver("compile " + model + " --target-cpu pentium-9000 -o " +
                               (folder / "out").string());
  EXPECT_EQ(cpu.status, 1) << cpu.output;
  EXPECT_NE(cpu.output.find("unknown target CPU 'pentium-9000'"), std::string::npos) << cpu.output;

  std::ofstream(folder / "a_file") << "not a folder";
  ProgramRun unwritable =
      rnnc_driver("compile " + model + " -o " + (folder / "a_file" / "out").string());
  EXPECT_EQ(unwritable.status, 1) << unwritable.output;
  EXPECT_NE(unwritable.output.find("cannot"), std::string::npos) << unwritable.output;

  ProgramRun name =
      rnnc_driver("compile " + model + " --name 2fast -o " + (folder / "out").string());
  EXPECT_EQ(name.status, 1) << name.output;
  EXPECT_NE(name.output.find("invalid library name '2fast'"), std::string::npos) << name.output;

  ProgramRun loss =
      rnnc_driver("compile " + model + " --train --loss hinge -o " + (folder / "out").string());
  EXPECT_EQ(loss.status, 1) << loss.output;
  EXPECT_NE(loss.output.find("unknown loss 'hinge'"), std::string::npos) << loss.output;

  // A C compiler that fails: the temporary folder is removed, the target never appears.
  ProgramRun cc =
      rnnc_driver("compile " + model + " --cc /bin/false -o " + (folder / "out").string());
  EXPECT_EQ(cc.status, 1) << cc.output;
  EXPECT_NE(cc.output.find("/bin/false"), std::string::npos) << cc.output;

  EXPECT_FALSE(fs::exists(folder / "out"));
  EXPECT_TRUE(entries_containing(folder, "tmp").empty());
  EXPECT_TRUE(entries_containing(folder, "probe").empty());
}

TEST_F(Aot, RecompilingReplacesTheLibraryInPlace) {
  const testdir::ScratchDir scratch_dir = scratch("again");
  const fs::path& folder = scratch_dir.path();
  std::string model = source_path("examples/models/diabetes.forward.rnn");
  fs::create_directories(folder / "out");
  std::ofstream(folder / "out" / "keep.txt") << "mine";
  for (int i = 0; i < 2; ++i) {
    ProgramRun run = rnnc_driver("compile " + model + " -O0 -o " + (folder / "out").string());
    ASSERT_EQ(run.status, 0) << run.output;
  }
  for (const char* file : {"diabetes.h", "diabetes.o", "diabetes_runtime.c", "diabetes_parallel.c",
                           "libdiabetes.a", "libdiabetes.so", "keep.txt"})
    EXPECT_TRUE(fs::exists(folder / "out" / file)) << file;
  EXPECT_TRUE(entries_containing(folder, "tmp").empty());
}

TEST_F(Aot, CExampleTrainsTheDiabetesClassifier) {
  std::string binary = testprog::binary("c_diabetes");
  if (!fs::exists(binary)) GTEST_SKIP() << binary << " was not built";
  ProgramRun run = run_program(binary);
  ASSERT_EQ(run.status, 0) << run.output;
  auto fields = testprog::result_fields(run.output);
  ASSERT_TRUE(fields.count("test_accuracy")) << run.output;
  // examples/diabetes (the interpreter, other initial weights) reaches 0.78 on this split.
  EXPECT_GT(std::stod(fields["test_accuracy"]), 0.72) << run.output;
  EXPECT_GT(std::stod(fields["train_accuracy"]), 0.72) << run.output;
  EXPECT_EQ(fields["epochs"], "600");
}

TEST_F(Aot, InstalledRnncCompilesAModelInAnotherCMakeProject) {
  // cmake --install, then a user's project: find_package(rnnc), rnnc_add_model with a derived
  // training step, a C program that fits y = 2 x0 - x1 through it.
  const testdir::ScratchDir scratch_dir = scratch("install");
  const fs::path& folder = scratch_dir.path();
  fs::path prefix = folder / "prefix", project = folder / "project";
  ProgramRun install = run_program("cmake --install " + std::string(RNNC_BINARY_DIR) +
                                   " --prefix " + prefix.string());
  ASSERT_EQ(install.status, 0) << install.output;
  ASSERT_TRUE(fs::exists(prefix / "bin" / "rnnc")) << install.output;

  fs::create_directories(project);
  std::ofstream(project / "CMakeLists.txt")
      << "cmake_minimum_required(VERSION 3.25)\n"
         "project(user LANGUAGES C)\n"
         "find_package(rnnc 0.1 REQUIRED)\n"
         "rnnc_add_model(affine MODEL ${CMAKE_CURRENT_SOURCE_DIR}/affine.rnn\n"
         "               TRAIN LOSS mse OPTIMIZER sgd:lr=0.1 TARGET_CPU x86-64-v2)\n"
         "add_executable(user main.c)\n"
         "target_link_libraries(user PRIVATE affine)\n";
  std::ofstream(project / "affine.rnn")
      << "graph @affine {\n"
         "  %x = input() : f32[4, 2]\n"
         "  %w = parameter() {init = \"zeros\", seed = 0, role = \"weight\"} : f32[2, 1]\n"
         "  %y = matmul(%x, %w) {transpose_a = 0, transpose_b = 0} : f32[4, 1]\n"
         "  output y = %y\n"
         "}\n";
  std::ofstream(project / "main.c")
      << "#include <stdio.h>\n#include \"affine.h\"\n"
         "int main(void) {\n"
         "  float x[AFFINE_TRAIN_INPUT_X_SIZE] = {1, 0, 0, 1, 1, 1, 2, -1};\n"
         "  float labels[AFFINE_TRAIN_INPUT_LABELS_SIZE] = {2, -1, 1, 5};\n"
         "  float y[AFFINE_TRAIN_OUTPUT_Y_SIZE], loss = 0;\n"
         "  float* w;\n  int step;\n"
         "  affine_context* model = affine_create();\n"
         "  for (step = 0; step < 300; ++step)\n"
         "    if (affine_train_step(model, x, labels, y, &loss) != AFFINE_OK) return 1;\n"
         "  w = (float*)affine_parameter(model, AFFINE_PARAM_W);\n"
         "  printf(\"RESULT w0=%f w1=%f loss=%g\\n\", w[0], w[1], loss);\n"
         "  affine_destroy(model);\n  return 0;\n}\n";
  fs::path build = folder / "build";
  ProgramRun configure = run_program("cmake -S " + project.string() + " -B " + build.string() +
                                     " -G Ninja -DCMAKE_PREFIX_PATH=" + prefix.string());
  ASSERT_EQ(configure.status, 0) << configure.output;
  ProgramRun built = run_program("cmake --build " + build.string());
  ASSERT_EQ(built.status, 0) << built.output;
  ProgramRun run = run_program((build / "user").string());
  ASSERT_EQ(run.status, 0) << run.output;
  auto fields = testprog::result_fields(run.output);
  ASSERT_TRUE(fields.count("w0")) << run.output;
  EXPECT_NEAR(std::stod(fields["w0"]), 2.0, 1e-3) << run.output;
  EXPECT_NEAR(std::stod(fields["w1"]), -1.0, 1e-3) << run.output;
}

}  // namespace
}  // namespace rnnc
