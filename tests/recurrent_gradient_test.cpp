// Gradients of the recurrent layers (frontend/recurrent.h) through passes::append_gradients,
// i.e. through the gradient of Scan, against central finite differences of the interpreter in
// float64: every cell kind, with and without lengths, and stacked bidirectional layers.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "codegen/interp/interpreter.h"
#include "frontend/recurrent.h"
#include "ir/builder.h"
#include "passes/autodiff.h"
#include "runtime/initializers.h"

namespace rnnc {
namespace {

using ir::Value;
using nn::CellKind;
using nn::RecurrentConfig;

/// One gradient check: a stack, a sequence length, optional per-row lengths.
struct GradientCase {
  std::string name;
  RecurrentConfig config;
  int64_t steps = 4;
  std::vector<int> lengths;  ///< empty: no lengths input, B = 2
  /// At most this many elements of each parameter or input are checked (a seeded random
  /// subset of the larger tensors), to keep the file fast.
  int64_t elements_per_tensor = 1000;
};

/// Names a case in test output.
void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }

std::vector<double> random_values(int64_t count, std::mt19937_64& engine, double scale = 1.0) {
  std::uniform_real_distribution<double> uniform(-scale, scale);
  std::vector<double> values(count);
  for (double& v : values) v = uniform(engine);
  return values;
}

/// sum(value * fixed random weights): every element of `value` matters with its own factor.
Value* weighted_sum(Value* value, std::mt19937_64& engine) {
  ir::Graph& graph = *value->producer()->owner();
  Value* weights =
      graph.add_constant(value->type(), random_values(value->type().num_elements(), engine));
  return ir::build::reduce_sum(ir::build::mul(value, weights), {0, 1, 2});
}

/// The flat indices of `value` to check: all of them, or a sorted seeded random subset.
std::vector<int64_t> indices_to_check(const Value* value, int64_t limit, std::mt19937_64& engine) {
  std::vector<int64_t> all(value->type().num_elements());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  if (static_cast<int64_t>(all.size()) <= limit) return all;
  std::shuffle(all.begin(), all.end(), engine);
  all.resize(limit);
  std::sort(all.begin(), all.end());
  return all;
}

class RecurrentGradient : public testing::TestWithParam<GradientCase> {};

TEST_P(RecurrentGradient, MatchesFiniteDifferences) {
  const GradientCase& test = GetParam();
  const RecurrentConfig& config = test.config;
  const bool has_cell = config.cell == CellKind::Lstm || config.cell == CellKind::LectureLstm;
  const int64_t batch = test.lengths.empty() ? 2 : static_cast<int64_t>(test.lengths.size());
  const int64_t slots = config.num_layers * (config.bidirectional ? 2 : 1);
  std::mt19937_64 engine(11);

  nn::Model model(DType::f64, 3);
  nn::Recurrent rnn(model, "rnn", config);
  Bindings inputs;
  auto float_input = [&](const std::string& name, const ir::Shape& shape) {
    Value* value = model.input(name, shape);
    inputs[name] = Tensor::from_doubles(DType::f64, shape,
                                        random_values(value->type().num_elements(), engine));
    return value;
  };
  Value* x = float_input("x", {test.steps, batch, config.input_size});
  Value* h0 = float_input("h0", {slots, batch, config.hidden_size});
  Value* c0 = has_cell ? float_input("c0", h0->shape()) : nullptr;
  Value* lengths = nullptr;
  if (!test.lengths.empty()) {
    lengths = model.input("lengths", {batch}, DType::i32);
    inputs["lengths"] = Tensor::from_ints({batch}, test.lengths);
  }
  nn::RecurrentResult result = rnn(x, lengths, h0, c0);
  Value* loss = weighted_sum(result.outputs, engine);
  loss = ir::build::add(loss, weighted_sum(result.h_n, engine));
  if (result.c_n) loss = ir::build::add(loss, weighted_sum(result.c_n, engine));
  model.output("loss", loss);

  std::vector<Value*> wrt = rnn.parameters();
  for (Value* input : {x, h0, c0})
    if (input) wrt.push_back(input);
  const Bindings parameters = initialize_parameters(model.graph());
  auto run_loss = [&](const Bindings& inputs_now, const Bindings& parameters_now) {
    Bindings state = parameters_now;
    return interp::run_graph(model.graph(), inputs_now, state).at("loss").get(0);
  };

  // Central differences, before the backward pass is appended.
  const double eps = 1e-6;
  std::vector<std::vector<std::pair<int64_t, double>>> numeric;
  for (Value* value : wrt) {
    const bool is_input = value->producer()->kind() == ir::OpKind::Input;
    std::vector<std::pair<int64_t, double>> slopes;
    for (int64_t i : indices_to_check(value, test.elements_per_tensor, engine)) {
      double sides[2];
      for (int side = 0; side < 2; ++side) {
        Bindings inputs_now = inputs, parameters_now = parameters;
        Tensor& tensor = is_input ? inputs_now.at(value->name()) : parameters_now.at(value->name());
        tensor.set(i, tensor.get(i) + (side == 0 ? eps : -eps));
        sides[side] = run_loss(inputs_now, parameters_now);
      }
      slopes.push_back({i, (sides[0] - sides[1]) / (2 * eps)});
    }
    numeric.push_back(std::move(slopes));
  }

  std::vector<Value*> gradients = passes::append_gradients(model.graph(), loss, wrt);
  ASSERT_EQ(gradients.size(), wrt.size());
  for (size_t k = 0; k < gradients.size(); ++k) {
    ASSERT_EQ(gradients[k]->type(), wrt[k]->type()) << wrt[k]->name();
    model.output("gradient_" + std::to_string(k), gradients[k]);
  }
  Bindings state = parameters;
  Bindings outputs = interp::run_graph(model.graph(), inputs, state);
  EXPECT_DOUBLE_EQ(outputs.at("loss").get(0), run_loss(inputs, parameters));
  int64_t checked = 0, nonzero = 0;
  for (size_t k = 0; k < wrt.size(); ++k) {
    const Tensor& symbolic = outputs.at("gradient_" + std::to_string(k));
    for (auto [i, slope] : numeric[k]) {
      double g = symbolic.get(i);
      EXPECT_NEAR(g, slope, 1e-6 * std::max(1.0, std::abs(g)))
          << "d loss / d " << wrt[k]->name() << "[" << i << "]";
      ++checked;
      nonzero += std::abs(slope) > 1e-9;
    }
  }
  // Most elements influence the loss (only inputs past a row's length may not).
  EXPECT_GT(nonzero, checked / 2);
}

RecurrentConfig config_of(CellKind cell) {
  RecurrentConfig config;
  config.cell = cell;
  config.input_size = 3;
  config.hidden_size = 4;
  return config;
}

std::vector<GradientCase> every_cell() {
  std::vector<std::pair<std::string, RecurrentConfig>> cells = {
      {"RnnTanh", config_of(CellKind::RnnTanh)},
      {"RnnRelu", config_of(CellKind::RnnRelu)},
      {"Lstm", config_of(CellKind::Lstm)},
      {"Gru", config_of(CellKind::Gru)},
      {"LectureGru", config_of(CellKind::LectureGru)}};
  for (const char* variant : {"none", "input", "forget", "output", "input+output", "input+forget",
                              "forget+output", "all"}) {
    RecurrentConfig config = config_of(CellKind::LectureLstm);
    config.gates = nn::LstmGates::parse(variant);
    config.gates.peepholes = true;
    std::string name = std::string("LectureLstm_") + variant + "_peepholes";
    std::replace(name.begin(), name.end(), '+', '_');
    cells.push_back({name, config});
  }
  cells.push_back({"LectureLstm_all", config_of(CellKind::LectureLstm)});

  std::vector<GradientCase> cases;
  for (const auto& [name, config] : cells) {
    cases.push_back({name, config, 4, {}});
    cases.push_back({name + "_lengths", config, 4, {4, 2, 3}});
  }
  return cases;
}

std::vector<GradientCase> stacks() {
  RecurrentConfig lstm = config_of(CellKind::Lstm);
  RecurrentConfig stacked = lstm;
  stacked.num_layers = 2;
  stacked.bidirectional = true;
  RecurrentConfig residual_gru = config_of(CellKind::Gru);
  residual_gru.num_layers = 2;
  residual_gru.bidirectional = true;
  residual_gru.residual = true;
  return {
      {"Lstm_T20_lengths", lstm, 20, {20, 13}},
      {"Lstm_2layers_bidirectional", stacked, 4, {}, 12},
      {"Lstm_2layers_bidirectional_lengths", stacked, 5, {5, 2, 4}, 12},
      {"Gru_2layers_bidirectional_residual_lengths", residual_gru, 4, {3, 4}, 12},
  };
}

INSTANTIATE_TEST_SUITE_P(Cells, RecurrentGradient, testing::ValuesIn(every_cell()),
                         [](const testing::TestParamInfo<GradientCase>& info) {
                           return info.param.name;
                         });
INSTANTIATE_TEST_SUITE_P(Stacks, RecurrentGradient, testing::ValuesIn(stacks()),
                         [](const testing::TestParamInfo<GradientCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace rnnc
