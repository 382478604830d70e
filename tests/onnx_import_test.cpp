// The ONNX importer: bad input gets a clear error naming the node or value (never a crash or
// a read outside the model's folder), and the semantics the conformance cases do not show
// (folding of Shape-driven subgraphs, initializers as parameters, run-time sequence_lens
// and indices, symbolic dimensions, external data).
#include "frontend/onnx/onnx_import.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "ir/error.h"
#include "runtime/npy.h"

#ifdef RNNC_HAVE_ONNX
#include <onnx/onnx_pb.h>
#endif

namespace rnnc {
namespace {

#ifdef RNNC_HAVE_ONNX

namespace fs = std::filesystem;

const std::string kDataDir = std::string(RNNC_SOURCE_DIR) + "/tests/data/";

/// The message of the rnnc::Error `f` throws ("" when it throws none; other exceptions fail).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

/// A small model under construction.
struct ModelBuilder {
  onnx::ModelProto model;
  onnx::GraphProto* graph;

  explicit ModelBuilder(int64_t opset = 14) {
    model.set_ir_version(8);
    auto* entry = model.add_opset_import();
    entry->set_domain("");
    entry->set_version(opset);
    graph = model.mutable_graph();
    graph->set_name("test");
  }
  /// A value info of float (or `elem_type`) with `shape` (-1: a symbolic dimension).
  static void describe(onnx::ValueInfoProto* info, const std::string& name,
                       const std::vector<int64_t>& shape, int elem_type) {
    info->set_name(name);
    auto* tensor = info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(elem_type);
    auto* dims = tensor->mutable_shape();
    for (int64_t d : shape) {
      auto* dim = dims->add_dim();
      if (d < 0)
        dim->set_dim_param("batch");
      else
        dim->set_dim_value(d);
    }
  }
  ModelBuilder& input(const std::string& name, const std::vector<int64_t>& shape,
                      int elem_type = onnx::TensorProto::FLOAT) {
    describe(graph->add_input(), name, shape, elem_type);
    return *this;
  }
  ModelBuilder& output(const std::string& name) {
    graph->add_output()->set_name(name);
    return *this;
  }
  onnx::TensorProto* initializer(const std::string& name, const std::vector<int64_t>& shape,
                                 const std::vector<float>& values) {
    auto* tensor = graph->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) tensor->add_dims(d);
    for (float v : values) tensor->add_float_data(v);
    return tensor;
  }
  onnx::TensorProto* int_initializer(const std::string& name, const std::vector<int64_t>& shape,
                                     const std::vector<int64_t>& values) {
    auto* tensor = graph->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : shape) tensor->add_dims(d);
    for (int64_t v : values) tensor->add_int64_data(v);
    return tensor;
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "") {
    auto* node = graph->add_node();
    node->set_op_type(op);
    node->set_name(name.empty() ? op + "_" + std::to_string(graph->node_size()) : name);
    for (const auto& i : inputs) node->add_input(i);
    for (const auto& o : outputs) node->add_output(o);
    return node;
  }
  static void attr(onnx::NodeProto* node, const std::string& name, const std::string& value) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(value);
  }
  static void attr(onnx::NodeProto* node, const std::string& name, int64_t value) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  std::string bytes() const { return model.SerializeAsString(); }
  OnnxModel import(const OnnxImportOptions& options = {}) const {
    std::string b = bytes();
    return import_onnx_bytes(b.data(), b.size(), "test.onnx", options);
  }
};

/// A one-layer LSTM X [T=3, B=2, I=2] -> Y, Y_h with hidden size 2 and its initializers.
ModelBuilder lstm_model() {
  ModelBuilder m;
  m.input("X", {3, 2, 2});
  m.initializer("W", {1, 8, 2}, std::vector<float>(16, 0.1f));
  m.initializer("R", {1, 8, 2}, std::vector<float>(16, 0.2f));
  auto* lstm = m.node("LSTM", {"X", "W", "R"}, {"Y", "Y_h"}, "my_lstm");
  ModelBuilder::attr(lstm, "hidden_size", int64_t{2});
  m.output("Y").output("Y_h");
  return m;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(OnnxImportErrors, TruncatedFilesAreRejected) {
  std::string bytes = read_file(kDataDir + "onnx_pytorch/lstm_l1_uni/model.onnx");
  ASSERT_GT(bytes.size(), 100u);
  for (size_t size : {size_t{0}, size_t{1}, size_t{10}, bytes.size() / 3, bytes.size() / 2,
                      bytes.size() - 40, bytes.size() - 1}) {
    std::string message =
        error_of([&] { import_onnx_bytes(bytes.data(), size, "truncated.onnx"); });
    EXPECT_NE(message.find("truncated.onnx"), std::string::npos) << size << ": " << message;
  }
}

TEST(OnnxImportErrors, RandomBytesAreRejected) {
  std::mt19937 generator(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes(1 + generator() % 300, '\0');
    for (char& c : bytes) c = static_cast<char>(generator());
    EXPECT_NE(error_of([&] { import_onnx_bytes(bytes.data(), bytes.size(), "random.onnx"); }), "");
  }
}

TEST(OnnxImportErrors, MissingFile) {
  EXPECT_NE(error_of([] { import_onnx_file("/nonexistent/model.onnx"); }).find("cannot open"),
            std::string::npos);
}

TEST(OnnxImportErrors, CycleNamesANode) {
  ModelBuilder m;
  m.input("x", {2});
  m.node("Add", {"x", "b"}, {"a"}, "first");
  m.node("Relu", {"a"}, {"b"}, "second");
  m.output("b");
  std::string message = error_of([&] { m.import(); });
  EXPECT_NE(message.find("cycle"), std::string::npos) << message;
  EXPECT_NE(message.find("node '"), std::string::npos) << message;
}

TEST(OnnxImportErrors, MissingInitializerNamesTheNodeAndValue) {
  ModelBuilder m = lstm_model();
  m.graph->mutable_initializer()->RemoveLast();  // R
  std::string message = error_of([&] { m.import(); });
  EXPECT_NE(message.find("node 'my_lstm' (LSTM)"), std::string::npos) << message;
  EXPECT_NE(message.find("'R' is not defined"), std::string::npos) << message;
}

TEST(OnnxImportErrors, ShapeContradictingAnInitializer) {
  ModelBuilder m = lstm_model();
  ModelBuilder::describe(m.graph->add_input(), "W", {1, 4, 2}, onnx::TensorProto::FLOAT);
  std::string message = error_of([&] { m.import(); });
  EXPECT_NE(message.find("input 'W': the declared shape contradicts its initializer"),
            std::string::npos)
      << message;

  ModelBuilder hidden = lstm_model();
  ModelBuilder::attr(hidden.graph->mutable_node(0), "hidden_size", int64_t{3});
  hidden.graph->mutable_node(0)->mutable_attribute()->DeleteSubrange(0, 1);
  message = error_of([&] { hidden.import(); });
  EXPECT_NE(message.find("hidden_size 3 contradicts R"), std::string::npos) << message;
}

TEST(OnnxImportErrors, RawDataOfTheWrongSize) {
  ModelBuilder m = lstm_model();
  auto* w = m.graph->mutable_initializer(0);
  w->clear_float_data();
  w->set_raw_data(std::string(10, '\0'));
  std::string message = error_of([&] { m.import(); });
  EXPECT_NE(message.find("initializer 'W': raw_data holds 10 bytes"), std::string::npos) << message;
}

TEST(OnnxImportErrors, UnsupportedOpsAndAttributes) {
  ModelBuilder m;
  m.input("x", {2});
  m.node("Swish", {"x"}, {"y"}, "mystery");
  m.output("y");
  EXPECT_NE(error_of([&] { m.import(); }).find("node 'mystery' (Swish): op Swish is not supported"),
            std::string::npos);

  ModelBuilder direction = lstm_model();
  ModelBuilder::attr(direction.graph->mutable_node(0), "direction", std::string("sideways"));
  EXPECT_NE(error_of([&] { direction.import(); }).find("direction 'sideways'"), std::string::npos);

  ModelBuilder activation = lstm_model();
  auto* a = activation.graph->mutable_node(0)->add_attribute();
  a->set_name("activations");
  a->set_type(onnx::AttributeProto::STRINGS);
  for (const char* f : {"Sigmoid", "Swish", "Tanh"}) a->add_strings(f);
  EXPECT_NE(error_of([&] { activation.import(); }).find("activation 'Swish' is not supported"),
            std::string::npos);

  ModelBuilder unknown = lstm_model();
  ModelBuilder::attr(unknown.graph->mutable_node(0), "frobnicate", int64_t{1});
  EXPECT_NE(error_of([&] { unknown.import(); }).find("attribute 'frobnicate' is not supported"),
            std::string::npos);

  ModelBuilder wrong_type = lstm_model();
  ModelBuilder::attr(wrong_type.graph->mutable_node(0), "clip", int64_t{1});
  EXPECT_NE(error_of([&] { wrong_type.import(); }).find("attribute 'clip' is INT, expected FLOAT"),
            std::string::npos);

  ModelBuilder domain = lstm_model();
  domain.graph->mutable_node(0)->set_domain("com.example");
  EXPECT_NE(error_of([&] { domain.import(); }).find("domain 'com.example'"), std::string::npos);
}

TEST(OnnxImportErrors, OpsetOutsideTheSupportedRange) {
  for (int64_t opset : {1, 6, 18, 99}) {
    ModelBuilder m(opset);
    m.input("x", {2});
    m.node("Relu", {"x"}, {"y"});
    m.output("y");
    EXPECT_NE(error_of([&] {
                m.import();
              }).find("opset " + std::to_string(opset) + " is outside the supported range 7 to 17"),
              std::string::npos);
  }
  ModelBuilder none;
  none.model.clear_opset_import();
  EXPECT_NE(error_of([&] { none.import(); }).find("imports no opset"), std::string::npos);
}

TEST(OnnxImportErrors, AbsurdDimensions) {
  ModelBuilder input;
  input.input("x", {int64_t{1} << 40, 3});
  input.node("Relu", {"x"}, {"y"});
  input.output("y");
  EXPECT_NE(error_of([&] { input.import(); }).find("absurdly large"), std::string::npos);

  ModelBuilder product;
  product.input("x", {1 << 20, 1 << 20});
  product.node("Relu", {"x"}, {"y"});
  product.output("y");
  EXPECT_NE(error_of([&] { product.import(); }).find("more than"), std::string::npos);

  ModelBuilder initializer;
  initializer.input("x", {2});
  initializer.initializer("w", {1 << 30, 1 << 30, 16}, {});
  initializer.node("Add", {"x", "w"}, {"y"});
  initializer.output("y");
  EXPECT_NE(error_of([&] { initializer.import(); }).find("initializer 'w'"), std::string::npos);

  ModelBuilder expand;
  expand.input("x", {1});
  expand.int_initializer("shape", {2}, {int64_t{1} << 40, int64_t{1} << 40});
  expand.node("Expand", {"x", "shape"}, {"y"}, "big");
  expand.output("y");
  EXPECT_NE(error_of([&] { expand.import(); }).find("node 'big' (Expand)"), std::string::npos);

  ModelBuilder negative;
  negative.input("x", {2, -7});
  negative.graph->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_value(-7);
  negative.node("Relu", {"x"}, {"y"});
  negative.output("y");
  EXPECT_NE(error_of([&] { negative.import(); }).find("negative dimension"), std::string::npos);
}

TEST(OnnxImportErrors, Int64OutsideTheI32RangeNamesTheValue) {
  ModelBuilder m;
  m.initializer("table", {3, 2}, {1, 2, 3, 4, 5, 6});
  m.int_initializer("big", {1}, {int64_t{1} << 40});
  m.input("x", {3, 2});
  m.node("Add", {"x", "table"}, {"sum"});
  m.node("Identity", {"big"}, {"y"});
  m.output("sum").output("y");
  EXPECT_NE(error_of([&] { m.import(); }).find("value 'y': int64 element 1099511627776"),
            std::string::npos);
}

TEST(OnnxImportErrors, ExternalDataStaysInTheModelsFolder) {
  const fs::path root = fs::temp_directory_path() / "rnnc_onnx_external_test";
  fs::remove_all(root);
  fs::create_directories(root / "model");
  std::vector<float> weights(16, 0.1f);
  std::string weight_bytes(reinterpret_cast<const char*>(weights.data()), 64);
  std::ofstream(root / "secret.bin", std::ios::binary) << weight_bytes;
  std::ofstream(root / "model" / "weights.bin", std::ios::binary) << weight_bytes;
  fs::create_symlink(root / "secret.bin", root / "model" / "link.bin");
  auto model_with = [&](const std::string& location) {
    ModelBuilder m = lstm_model();
    auto* w = m.graph->mutable_initializer(0);
    w->clear_float_data();
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* entry = w->add_external_data();
    entry->set_key("location");
    entry->set_value(location);
    std::string path = (root / "model" / "model.onnx").string();
    std::ofstream(path, std::ios::binary) << m.bytes();
    return path;
  };
  std::string path = model_with("weights.bin");
  OnnxModel model = import_onnx_file(path);
  EXPECT_FLOAT_EQ(model.parameters.at("W").get(3), 0.1f);
  EXPECT_NE(error_of([&] {
              import_onnx_file(model_with("../secret.bin"));
            }).find("leaves the model's folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              import_onnx_file(model_with((root / "secret.bin").string()));
            }).find("is absolute"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              import_onnx_file(model_with("link.bin"));
            }).find("resolves outside the model's folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] { import_onnx_file(model_with("missing.bin")); }).find("does not exist"),
            std::string::npos);
  std::string from_bytes = read_file(model_with("weights.bin"));
  EXPECT_NE(error_of([&] {
              import_onnx_bytes(from_bytes.data(), from_bytes.size());
            }).find("not loaded from a file"),
            std::string::npos);
  fs::remove_all(root);
}

TEST(OnnxImportErrors, SymbolicDimensionsNeedAShape) {
  ModelBuilder m;
  m.input("x", {-1, 3});
  m.node("Relu", {"x"}, {"y"});
  m.output("y");
  EXPECT_NE(error_of([&] { m.import(); }).find("input 'x' has symbolic or unknown dimensions"),
            std::string::npos);
  OnnxImportOptions options;
  options.input_shapes["x"] = {4, 3};
  OnnxModel model = m.import(options);
  EXPECT_EQ(model.graph->find("x")->shape(), (ir::Shape{4, 3}));
  options.input_shapes["x"] = {4, 2};
  EXPECT_NE(error_of([&] { m.import(options); }).find("contradicts"), std::string::npos);
}

TEST(OnnxImportErrors, BadShapesInOpsNameTheNode) {
  ModelBuilder m;
  m.input("a", {2, 3}).input("b", {4, 3});
  m.node("Add", {"a", "b"}, {"y"}, "adder");
  m.output("y");
  EXPECT_NE(error_of([&] { m.import(); }).find("node 'adder' (Add): shapes [2, 3] and [4, 3]"),
            std::string::npos);

  ModelBuilder reshape;
  reshape.input("x", {2, 3});
  reshape.int_initializer("shape", {1}, {7});
  reshape.node("Reshape", {"x", "shape"}, {"y"}, "reshaper");
  reshape.output("y");
  EXPECT_NE(error_of([&] { reshape.import(); }).find("node 'reshaper' (Reshape): cannot reshape"),
            std::string::npos);

  ModelBuilder runtime_shape;
  runtime_shape.input("x", {2, 3}).input("shape", {1}, onnx::TensorProto::INT64);
  runtime_shape.node("Reshape", {"x", "shape"}, {"y"}, "dynamic");
  runtime_shape.output("y");
  EXPECT_NE(error_of([&] { runtime_shape.import(); }).find("must be known at import"),
            std::string::npos);
}

TEST(OnnxImportSemantics, ShapeSubgraphsFoldAndInitializersBecomeParameters) {
  const std::string folder = kDataDir + "onnx_pytorch/lstm_l2_bi_embedding_head/";
  OnnxModel model = import_onnx_file(folder + "model.onnx");
  const ir::Graph& graph = *model.graph;
  // Two layers, two directions: four scans; the Shape/Gather/Concat/Expand chains that make
  // the initial states are gone (folded into constants).
  EXPECT_EQ(graph.nodes_of(ir::OpKind::Scan).size(), 4u);
  EXPECT_EQ(graph.find("x")->dtype(), DType::i32);
  ASSERT_NE(graph.output("y"), nullptr);
  ASSERT_NE(graph.output("h_n"), nullptr);
  std::vector<ir::Node*> parameters = graph.nodes_of(ir::OpKind::Parameter);
  EXPECT_EQ(parameters.size(), model.parameters.size());
  for (ir::Node* parameter : parameters) {
    EXPECT_EQ(parameter->attrs().get_str("role"), "weight");
    ASSERT_TRUE(model.parameters.count(parameter->result()->name()));
    EXPECT_EQ(model.parameters.at(parameter->result()->name()).type(), parameter->result()->type());
  }
  EXPECT_TRUE(model.parameters.count("embedding.weight"));
}

TEST(OnnxImportSemantics, SequenceLengthsAtRunTime) {
  // The conformance harness fixes integer inputs at import; here sequence_lens stays a graph
  // input bound at run time, and the results are the same.
  const std::string folder = kDataDir + "onnx_node/rnnc_gru_bidirectional_lengths/";
  OnnxModel model = import_onnx_file(folder + "model.onnx");
  EXPECT_EQ(model.graph->find("sequence_lens")->type(), (ir::TensorType{DType::i32, {3}}));
  Bindings inputs;
  for (int i = 0; fs::exists(folder + "test_data_set_0/input_" + std::to_string(i) + ".pb"); ++i) {
    std::string name;
    Tensor tensor =
        read_onnx_tensor(folder + "test_data_set_0/input_" + std::to_string(i) + ".pb", &name);
    inputs[name] = tensor;
  }
  EXPECT_EQ(inputs.size(), 6u);
  Bindings state = model.parameters;
  Bindings results = codegen::compile(*model.graph, "interp")->run(inputs, state);
  for (int i = 0; i < 2; ++i) {
    std::string name;
    Tensor expected =
        read_onnx_tensor(folder + "test_data_set_0/output_" + std::to_string(i) + ".pb", &name);
    EXPECT_LE(max_relative_difference(results.at(name).cast(DType::f64), expected.cast(DType::f64)),
              1e-5)
        << name;
  }
  // Rows past their length are zero in Y (row 0 has length 1: steps 1..3 are zero).
  const Tensor& y = results.at("Y");  // [T=4, D=2, B=3, H=4]
  for (int64_t t = 1; t < 4; ++t)
    for (int64_t d = 0; d < 2; ++d)
      for (int64_t h = 0; h < 4; ++h) EXPECT_EQ(y.get(((t * 2 + d) * 3 + 0) * 4 + h), 0.0);
}

TEST(OnnxImportSemantics, GatherWithRunTimeInt64IndicesCountsNegativesFromTheEnd) {
  ModelBuilder m;
  m.initializer("table", {3, 2}, {1, 2, 3, 4, 5, 6});
  m.input("ids", {2, 2}, onnx::TensorProto::INT64);
  m.node("Gather", {"table", "ids"}, {"rows"});
  m.output("rows");
  OnnxModel model = m.import();
  Bindings inputs{{"ids", Tensor::from_ints({2, 2}, {0, -1, 2, -3})}};
  Bindings state = model.parameters;
  Bindings results = codegen::compile(*model.graph, "interp")->run(inputs, state);
  EXPECT_EQ(results.at("rows").to_doubles(), (std::vector<double>{1, 2, 5, 6, 5, 6, 1, 2}));
  // Constant indices out of range are an import error naming the node.
  ModelBuilder bad;
  bad.initializer("table", {3, 2}, {1, 2, 3, 4, 5, 6});
  bad.int_initializer("ids", {1}, {3});
  bad.node("Gather", {"table", "ids"}, {"rows"}, "lookup");
  bad.output("rows");
  EXPECT_NE(error_of([&] { bad.import(); }).find("node 'lookup' (Gather): index 3 is out of range"),
            std::string::npos);
}

TEST(OnnxImportSemantics, Int64NpyInputsDriveAnImportedEmbedding) {
  const std::string folder = kDataDir + "onnx_pytorch/names_gru_classifier/";
  Tensor ids = read_npy(folder + "input_x.npy");  // int64 on disk
  EXPECT_EQ(ids.dtype(), DType::i32);
  OnnxModel model = import_onnx_file(folder + "model.onnx");
  EXPECT_EQ(model.graph->find("x")->type(), ids.type());
}

#else

TEST(OnnxImport, SkippedWithoutOnnx) { GTEST_SKIP() << "built without libonnx-dev"; }

#endif

}  // namespace
}  // namespace rnnc
