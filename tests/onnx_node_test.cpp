// Conformance: ONNX's backend node tests (generated from Debian's python3-onnx) for every op
// rnnc imports, plus rnnc_* cases covering every attribute and optional input of RNN, LSTM
// and GRU against a NumPy reference; all committed under tests/data/onnx_node/ by its
// make_cases.py. Each case is imported, run on every available backend and compared with
// the expected outputs: max |a - b| / max(1, |b|) <= 1e-5.
//
// Integer inputs (a Reshape's shape, a Slice's bounds, Gather's indices, sequence_lens) are
// fixed at import (OnnxImportOptions::constant_inputs): rnnc's IR is static-shaped, so the
// values that decide shapes must be known then. Floating-point inputs are bound at run time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "frontend/onnx/onnx_import.h"
#include "ir/error.h"

namespace rnnc {
namespace {

#ifdef RNNC_HAVE_ONNX

namespace fs = std::filesystem;

const std::string kCaseDir = std::string(RNNC_SOURCE_DIR) + "/tests/data/onnx_node/";
constexpr double kTolerance = 1e-5;

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  std::ifstream in(kCaseDir + "cases.txt");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) names.push_back(line);
  return names;
}

/// The serialized tensors `prefix`_0.pb, `prefix`_1.pb, ... of a data set, in order, with the
/// names they carry.
std::vector<std::pair<std::string, Tensor>> read_tensors(const fs::path& data_set,
                                                         const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (int i = 0;; ++i) {
    fs::path path = data_set / (prefix + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(path)) break;
    std::string name;
    Tensor tensor = read_onnx_tensor(path.string(), &name);
    tensors.emplace_back(name, std::move(tensor));
  }
  return tensors;
}

class OnnxNode : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OnnxNode, MatchesExpectedOutputs) {
  const auto& [name, backend] = GetParam();
  const fs::path folder = kCaseDir + name;
  int data_sets = 0;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (!entry.is_directory()) continue;
    ++data_sets;
    SCOPED_TRACE(entry.path().filename().string());
    OnnxImportOptions options;
    Bindings inputs;
    for (auto& [input, tensor] : read_tensors(entry.path(), "input")) {
      if (tensor.dtype() == DType::i32)
        options.constant_inputs[input] = tensor;
      else
        inputs[input] = tensor;
    }
    OnnxModel model = import_onnx_file((folder / "model.onnx").string(), options);
    std::unique_ptr<Executable> executable = codegen::compile(*model.graph, backend);
    Bindings state = model.parameters;
    Bindings results = executable->run(inputs, state);
    auto expected = read_tensors(entry.path(), "output");
    ASSERT_FALSE(expected.empty());
    for (const auto& [output, tensor] : expected) {
      ASSERT_TRUE(results.count(output)) << "no output " << output;
      const Tensor& actual = results.at(output);
      ASSERT_EQ(actual.shape(), tensor.shape()) << output;
      ASSERT_EQ(actual.dtype(), tensor.dtype()) << output;
      EXPECT_LE(max_relative_difference(actual.cast(DType::f64), tensor.cast(DType::f64)),
                kTolerance)
          << output;
    }
  }
  EXPECT_GE(data_sets, 1);
}

std::string case_label(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Cases, OnnxNode,
                         ::testing::Combine(::testing::ValuesIn(case_names()),
                                            ::testing::ValuesIn(codegen::available_backends())),
                         case_label);

TEST(OnnxNodeCases, CoverEverySupportedOp) {
  std::vector<std::string> names = case_names();
  for (const char* op : {"rnn",       "lstm",     "gru",     "gemm",       "matmul",
                         "add",       "sub",      "mul",     "div",        "sigmoid",
                         "tanh",      "relu",     "softmax", "logsoftmax", "gather",
                         "concat",    "slice",    "split",   "squeeze",    "unsqueeze",
                         "transpose", "reshape",  "flatten", "expand",     "constantofshape",
                         "identity",  "constant", "shape"}) {
    bool found = false;
    for (const std::string& name : names)
      found = found || name.rfind(std::string("test_") + op, 0) == 0 ||
              name.find(std::string("_") + op + "_") != std::string::npos;
    EXPECT_TRUE(found) << op;
  }
}

// The comparison can fail: the expected outputs of a case, perturbed, no longer match.
TEST(OnnxNodeCases, AWrongExpectationIsDetected) {
  const fs::path data_set = kCaseDir + "rnnc_lstm_bidirectional_everything/test_data_set_0";
  OnnxImportOptions options;
  Bindings inputs;
  for (auto& [input, tensor] : read_tensors(data_set, "input")) {
    if (tensor.dtype() == DType::i32)
      options.constant_inputs[input] = tensor;
    else
      inputs[input] = tensor;
  }
  OnnxModel model =
      import_onnx_file(kCaseDir + "rnnc_lstm_bidirectional_everything/model.onnx", options);
  Bindings state = model.parameters;
  Bindings results = codegen::compile(*model.graph, "interp")->run(inputs, state);
  auto expected = read_tensors(data_set, "output");
  Tensor wrong = expected.at(0).second;
  wrong.set(0, wrong.get(0) + 1e-3);
  EXPECT_GT(max_relative_difference(results.at(expected.at(0).first).cast(DType::f64),
                                    wrong.cast(DType::f64)),
            kTolerance);
}

#else

TEST(OnnxNode, SkippedWithoutOnnx) { GTEST_SKIP() << "built without libonnx-dev"; }

#endif

}  // namespace
}  // namespace rnnc
