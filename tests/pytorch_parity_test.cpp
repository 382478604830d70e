// Parity of nn::Recurrent with torch.nn.RNN / LSTM / GRU: for every case in
// tests/data/pytorch_parity/ (written by tests/pytorch_parity/make_fixtures.py with PyTorch;
// the suite does not need torch) the same stack is built in rnnc, the fixture's state_dict is
// bound by name, and the interpreter's outputs, final states and the gradients of a fixed
// scalar loss w.r.t. the input, the initial states and every parameter are compared with
// PyTorch's: max |a - b| / max(1, |b|) <= 1e-5 in f64 and <= 1e-4 in f32.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "codegen/interp/interpreter.h"
#include "frontend/recurrent.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "passes/autodiff.h"
#include "runtime/npy.h"

namespace rnnc {
namespace {

using ir::DType;
using ir::Value;
namespace build = ir::build;

const std::string kFixtureDir = std::string(RNNC_SOURCE_DIR) + "/tests/data/pytorch_parity/";

/// The key=value lines of a case's manifest.txt.
class Manifest {
 public:
  explicit Manifest(const std::string& case_name) {
    std::string path = kFixtureDir + case_name + "/manifest.txt";
    std::ifstream in(path);
    if (!in) throw Error("cannot open " + path);
    std::string line;
    while (std::getline(in, line)) {
      size_t equals = line.find('=');
      if (equals == std::string::npos) throw Error(path + ": no '=' in line '" + line + "'");
      entries_[line.substr(0, equals)] = line.substr(equals + 1);
    }
  }
  const std::string& get(const std::string& key) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) throw Error("manifest has no key " + key);
    return it->second;
  }
  int64_t get_int(const std::string& key) const { return std::stoll(get(key)); }
  bool get_bool(const std::string& key) const { return get_int(key) != 0; }
  /// A comma-separated entry, split (empty when the entry is).
  std::vector<std::string> get_list(const std::string& key) const {
    std::vector<std::string> items;
    std::stringstream stream(get(key));
    std::string item;
    while (std::getline(stream, item, ',')) items.push_back(item);
    return items;
  }

 private:
  std::map<std::string, std::string> entries_;
};

/// The case names make_fixtures.py writes, in its order (case_list() there).
std::vector<std::string> expected_case_names() {
  std::vector<std::string> names;
  for (const char* cell : {"rnn_tanh", "rnn_relu", "lstm", "gru"}) {
    std::string c = cell;
    for (const char* layers : {"_l1", "_l2"})
      for (const char* directions : {"_uni", "_bi"}) names.push_back(c + layers + directions);
    names.push_back(c + "_l2_bi_batch_first");
    names.push_back(c + "_l1_uni_packed");
    names.push_back(c + "_l2_bi_packed");
  }
  for (const char* name :
       {"lstm_l2_bi_batch_first_packed", "gru_l2_bi_batch_first_packed", "lstm_l1_bi_zero_state",
        "rnn_tanh_l2_uni_zero_state", "gru_l2_bi_packed_zero_state"})
    names.push_back(name);
  return names;
}

nn::CellKind cell_kind(const std::string& cell) {
  if (cell == "rnn_tanh") return nn::CellKind::RnnTanh;
  if (cell == "rnn_relu") return nn::CellKind::RnnRelu;
  if (cell == "lstm") return nn::CellKind::Lstm;
  if (cell == "gru") return nn::CellKind::Gru;
  throw Error("unknown cell " + cell);
}

/// Fixture `file` (without .npy) of case `case_name`; floats converted to `dtype`.
Tensor fixture(const std::string& case_name, const std::string& file, DType dtype) {
  Tensor tensor = read_npy(kFixtureDir + case_name + "/" + file + ".npy");
  return tensor.dtype() == DType::i32 ? tensor : tensor.cast(dtype);
}

/// One case built in rnnc: the graph, its bindings from the fixtures, and the names of the
/// graph outputs that have a PyTorch counterpart of the same file name.
struct ParityRun {
  explicit ParityRun(DType dtype) : model(dtype) {}
  nn::Model model;
  Bindings inputs;
  Bindings state;
  std::vector<std::string> compared;
  std::vector<std::string> parameter_names;
};

/// Builds case `case_name` in `dtype` as the manifest describes: the stack and, when
/// `with_gradients`, the loss sum(output * R_output) + sum(h_n * R_h_n) (+ sum(c_n * R_c_n))
/// and its gradients.
std::unique_ptr<ParityRun> build_case(const std::string& case_name, DType dtype,
                                      bool with_gradients) {
  Manifest manifest(case_name);
  auto run = std::make_unique<ParityRun>(dtype);
  nn::Model& model = run->model;
  nn::RecurrentConfig config;
  config.cell = cell_kind(manifest.get("cell"));
  config.input_size = manifest.get_int("input_size");
  config.hidden_size = manifest.get_int("hidden_size");
  config.num_layers = manifest.get_int("num_layers");
  config.bidirectional = manifest.get_bool("bidirectional");
  nn::Recurrent rnn(model, manifest.get("prefix"), config);
  for (Value* parameter : rnn.parameters()) run->parameter_names.push_back(parameter->name());

  auto add_input = [&](const std::string& name, ir::DType input_dtype) {
    Tensor tensor = fixture(case_name, name, dtype);
    Value* value = model.input(name, tensor.shape(), input_dtype);
    run->inputs[name] = std::move(tensor);
    return value;
  };
  bool batch_first = manifest.get_bool("batch_first");
  bool lstm = config.cell == nn::CellKind::Lstm;
  Value* input = add_input("input", dtype);
  Value* lengths = manifest.get_bool("packed") ? add_input("lengths", DType::i32) : nullptr;
  Value* h0 = nullptr;
  Value* c0 = nullptr;
  if (manifest.get_bool("initial_state")) {
    h0 = add_input("h0", dtype);
    if (lstm) c0 = add_input("c0", dtype);
  }
  Value* time_major = batch_first ? nn::batch_first_to_time_major(input) : input;
  nn::RecurrentResult result = rnn(time_major, lengths, h0, c0);
  Value* output = batch_first ? nn::time_major_to_batch_first(result.outputs) : result.outputs;

  auto weighted_sum = [&](Value* value, const std::string& weights_name) {
    Value* product = build::mul(value, add_input(weights_name, dtype));
    std::vector<int64_t> axes(value->shape().size());
    for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
    return build::reduce_sum(product, axes);
  };
  std::vector<std::pair<std::string, Value*>> outputs = {{"output", output}, {"h_n", result.h_n}};
  if (lstm) outputs.emplace_back("c_n", result.c_n);
  for (Value* parameter : rnn.parameters())
    run->state[parameter->name()] = fixture(case_name, parameter->name(), dtype);
  // Forward results become graph outputs before the gradient is appended: append_gradients
  // may replace the forward nodes (a Scan that stacks its residuals) and then rewires the
  // graph's outputs, while the Value pointers held here would be left dangling.
  auto add_output = [&](const std::string& name, Value* value) {
    model.output(name, value);
    run->compared.push_back(name);
  };
  for (auto& [name, value] : outputs) add_output(name, value);
  if (!with_gradients) return run;
  Value* loss = nullptr;
  for (auto& [name, value] : outputs) {
    Value* term = weighted_sum(value, "R_" + name);
    loss = loss ? build::add(loss, term) : term;
  }
  std::vector<Value*> wrt = {input};
  if (h0) wrt.push_back(h0);
  if (c0) wrt.push_back(c0);
  for (Value* parameter : rnn.parameters()) wrt.push_back(parameter);
  std::vector<std::string> wrt_names;
  for (Value* value : wrt) wrt_names.push_back(value->name());
  std::vector<Value*> grads = passes::append_gradients(model.graph(), loss, wrt);
  for (size_t i = 0; i < wrt.size(); ++i) add_output("grad_" + wrt_names[i], grads[i]);
  return run;
}

/// Runs `run` and returns, per compared output, the max relative difference from the
/// fixture (in f64).
std::map<std::string, double> differences(const std::string& case_name, ParityRun& run) {
  Bindings state = run.state;
  Bindings results = interp::run_graph(run.model.graph(), run.inputs, state);
  std::map<std::string, double> result;
  for (const std::string& name : run.compared) {
    Tensor expected = fixture(case_name, name, DType::f64);
    Tensor actual = results.at(name).cast(DType::f64);
    if (actual.shape() != expected.shape()) {
      ADD_FAILURE() << name << ": shape " << ir::shape_to_string(actual.shape()) << ", PyTorch "
                    << ir::shape_to_string(expected.shape());
      continue;
    }
    result[name] = max_relative_difference(actual, expected);
  }
  return result;
}

double worst(const std::map<std::string, double>& differences) {
  double worst_difference = 0;
  for (auto& [name, difference] : differences)
    worst_difference = std::max(worst_difference, difference);
  return worst_difference;
}

struct ParityCase {
  std::string name;
  DType dtype;
};

/// Prints a case as its test name suffix (instead of the struct's bytes).
void PrintTo(const ParityCase& param, std::ostream* out) {
  *out << param.name << (param.dtype == DType::f64 ? " (f64)" : " (f32)");
}

/// The fixture files of a case whose names start with `prefix`, without ".npy", sorted.
std::vector<std::string> fixture_files(const std::string& case_name, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kFixtureDir + case_name)) {
    std::string file = entry.path().filename().string();
    if (file.rfind(prefix, 0) == 0 && entry.path().extension() == ".npy")
      names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class PyTorchParity : public ::testing::TestWithParam<ParityCase> {
 protected:
  double tolerance() const { return GetParam().dtype == DType::f64 ? 1e-5 : 1e-4; }
  /// Builds and runs the case; checks every compared tensor against the tolerance.
  std::vector<std::string> check(bool with_gradients) {
    const ParityCase& param = GetParam();
    std::unique_ptr<ParityRun> run = build_case(param.name, param.dtype, with_gradients);
    // The stack has exactly PyTorch's parameters, in state_dict order.
    EXPECT_EQ(run->parameter_names, Manifest(param.name).get_list("parameters"));
    std::map<std::string, double> found = differences(param.name, *run);
    EXPECT_EQ(found.size(), run->compared.size());
    for (auto& [name, difference] : found) {
      // Shown by --gtest_output=xml: how close each tensor comes.
      std::ostringstream shown;
      shown << difference;
      RecordProperty("difference." + name, shown.str());
      EXPECT_LE(difference, tolerance()) << param.name << ": " << name << " differs from PyTorch";
    }
    return run->compared;
  }
};

TEST_P(PyTorchParity, OutputsAndFinalStatesMatch) {
  std::vector<std::string> compared = check(/*with_gradients=*/false);
  std::vector<std::string> states = fixture_files(GetParam().name, "c_n");
  EXPECT_EQ(compared.size(), 2 + states.size());
}

TEST_P(PyTorchParity, GradientsMatch) {
  std::vector<std::string> compared = check(/*with_gradients=*/true);
  // Every gradient PyTorch computed (input, initial states, each parameter) is compared.
  std::vector<std::string> gradients;
  for (const std::string& name : compared)
    if (name.rfind("grad_", 0) == 0) gradients.push_back(name);
  std::sort(gradients.begin(), gradients.end());
  EXPECT_EQ(gradients, fixture_files(GetParam().name, "grad_"));
}

std::vector<ParityCase> all_cases() {
  std::vector<ParityCase> cases;
  for (const std::string& name : expected_case_names())
    for (DType dtype : {DType::f64, DType::f32}) cases.push_back({name, dtype});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PyTorchParity, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<ParityCase>& info) {
                           return info.param.name +
                                  (info.param.dtype == DType::f64 ? "_f64" : "_f32");
                         });

TEST(PyTorchParityFixtures, CaseListMatchesTheScript) {
  std::ifstream in(kFixtureDir + "cases.txt");
  ASSERT_TRUE(in) << "missing " << kFixtureDir << "cases.txt";
  std::vector<std::string> written;
  for (std::string line; std::getline(in, line);) written.push_back(line);
  EXPECT_EQ(written, expected_case_names());
}

/// Runs case `case_name` (forward and gradients) in f64 with `tamper` applied to the bound
/// parameters first and returns the worst difference from PyTorch.
double worst_with_tampered_state(const std::string& case_name,
                                 const std::function<void(Bindings&)>& tamper) {
  std::unique_ptr<ParityRun> run = build_case(case_name, DType::f64, /*with_gradients=*/true);
  tamper(run->state);
  return worst(differences(case_name, *run));
}

/// Swaps rows [a, a + n) and [b, b + n) of a 2-D tensor (or elements of a 1-D one).
void swap_row_blocks(Tensor& tensor, int64_t a, int64_t b, int64_t n) {
  int64_t row = tensor.shape().size() == 2 ? tensor.shape()[1] : 1;
  for (int64_t i = 0; i < n * row; ++i) {
    double x = tensor.get(a * row + i);
    tensor.set(a * row + i, tensor.get(b * row + i));
    tensor.set(b * row + i, x);
  }
}

// Negative controls: the comparison must notice weights bound under the wrong name or in the
// wrong gate order, by far more than the tolerance.
TEST(PyTorchParityFixtures, WrongBindingsAreCaught) {
  const int64_t hidden = 5;
  double untouched = worst_with_tampered_state("lstm_l1_uni", [](Bindings&) {});
  EXPECT_LE(untouched, 1e-5);
  // LSTM gates i and f swapped in weight_ih.
  EXPECT_GT(worst_with_tampered_state("lstm_l1_uni",
                                      [&](Bindings& state) {
                                        swap_row_blocks(state.at("rnn.weight_ih_l0"), 0, hidden,
                                                        hidden);
                                      }),
            1e-3);
  // GRU biases swapped (only the GRU's n gate tells b_ih from b_hh).
  EXPECT_GT(worst_with_tampered_state("gru_l1_uni",
                                      [](Bindings& state) {
                                        std::swap(state.at("rnn.bias_ih_l0"),
                                                  state.at("rnn.bias_hh_l0"));
                                      }),
            1e-3);
  // Forward and reverse recurrent weights swapped.
  EXPECT_GT(worst_with_tampered_state("rnn_tanh_l1_bi",
                                      [](Bindings& state) {
                                        std::swap(state.at("rnn.weight_hh_l0"),
                                                  state.at("rnn.weight_hh_l0_reverse"));
                                      }),
            1e-3);
  // A layer's input and recurrent weights swapped (both [H, H] in a second layer).
  EXPECT_GT(worst_with_tampered_state("rnn_relu_l2_uni",
                                      [](Bindings& state) {
                                        std::swap(state.at("rnn.weight_ih_l1"),
                                                  state.at("rnn.weight_hh_l1"));
                                      }),
            1e-3);
}

}  // namespace
}  // namespace rnnc
