// Exported models: for every case in tests/data/onnx_pytorch/ (written by
// tests/onnx_pytorch/make_fixtures.py with torch.onnx.export; the suite does not need torch)
// the model is imported, its inputs bound from the fixtures (token ids as int64 .npy files)
// and its initializers as parameters, and every output of every available backend is
// compared with PyTorch's: max |a - b| / max(1, |b|) <= 1e-5.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "frontend/onnx/onnx_import.h"
#include "ir/error.h"
#include "runtime/npy.h"

namespace rnnc {
namespace {

#ifdef RNNC_HAVE_ONNX

const std::string kFixtureDir = std::string(RNNC_SOURCE_DIR) + "/tests/data/onnx_pytorch/";
constexpr double kTolerance = 1e-5;

/// The case names in cases.txt.
std::vector<std::string> case_names() {
  std::vector<std::string> names;
  std::ifstream in(kFixtureDir + "cases.txt");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) names.push_back(line);
  return names;
}

/// The key=value lines of a case's manifest.txt.
std::map<std::string, std::string> manifest(const std::string& case_name) {
  std::map<std::string, std::string> entries;
  std::ifstream in(kFixtureDir + case_name + "/manifest.txt");
  std::string line;
  while (std::getline(in, line)) {
    size_t equals = line.find('=');
    if (equals != std::string::npos) entries[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return entries;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

/// One case imported and run on `backend`: outputs by name, plus the expected ones.
struct CaseRun {
  Bindings actual, expected;
};

/// Runs case `name` on `backend`; `tamper` may change the parameters before running.
CaseRun run_case(const std::string& name, const std::string& backend,
                 void (*tamper)(Bindings&) = nullptr) {
  const std::string folder = kFixtureDir + name + "/";
  OnnxModel model = import_onnx_file(folder + "model.onnx");
  std::map<std::string, std::string> entries = manifest(name);
  Bindings inputs;
  for (const std::string& input : split(entries["inputs"]))
    inputs[input] = read_npy(folder + "input_" + input + ".npy");
  Bindings state = model.parameters;
  if (tamper) tamper(state);
  std::unique_ptr<Executable> executable = codegen::compile(*model.graph, backend);
  CaseRun run;
  run.actual = executable->run(inputs, state);
  for (const std::string& output : split(entries["outputs"]))
    run.expected[output] = read_npy(folder + "output_" + output + ".npy");
  return run;
}

class OnnxPytorch : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OnnxPytorch, OutputsMatchPyTorch) {
  const auto& [name, backend] = GetParam();
  CaseRun run = run_case(name, backend);
  ASSERT_FALSE(run.expected.empty());
  for (const auto& [output, expected] : run.expected) {
    ASSERT_TRUE(run.actual.count(output)) << "no output " << output;
    const Tensor& actual = run.actual.at(output);
    ASSERT_EQ(actual.shape(), expected.shape()) << output;
    Tensor actual64 = actual.cast(DType::f64);
    EXPECT_LE(max_relative_difference(actual64, expected.cast(DType::f64)), kTolerance) << output;
  }
}

std::string case_label(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Cases, OnnxPytorch,
                         ::testing::Combine(::testing::ValuesIn(case_names()),
                                            ::testing::ValuesIn(codegen::available_backends())),
                         case_label);

TEST(OnnxPytorchFixtures, CoverTheLecturesModelsAndEveryCell) {
  std::vector<std::string> names = case_names();
  EXPECT_GE(names.size(), 30u);
  for (const char* expected :
       {"hihell_embedding_rnn", "names_gru_classifier", "sentiment_lstm_classifier",
        "lstm_l2_bi_batch_first_state", "gru_l2_bi_embedding_head", "rnn_relu_l2_bi"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

// The comparison can fail: a weight changed by 1e-3 moves the outputs beyond the tolerance.
TEST(OnnxPytorchFixtures, ATamperedWeightIsDetected) {
  CaseRun run = run_case("lstm_l1_uni", "interp", [](Bindings& state) {
    for (auto& [name, tensor] : state)
      for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, tensor.get(i) + 1e-3);
  });
  double worst = 0;
  for (const auto& [output, expected] : run.expected)
    worst = std::max(worst, max_relative_difference(run.actual.at(output).cast(DType::f64),
                                                    expected.cast(DType::f64)));
  EXPECT_GT(worst, 10 * kTolerance);
}

#else

TEST(OnnxPytorch, SkippedWithoutOnnx) { GTEST_SKIP() << "built without libonnx-dev"; }

#endif

}  // namespace
}  // namespace rnnc
