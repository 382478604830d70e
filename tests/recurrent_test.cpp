// The recurrent layers of rnnc::nn (frontend/recurrent.h), run by the interpreter in float64
// against a plain-loop reference of the cell formulas (tests/recurrent_reference.h): every
// cell kind, the lecture's eight LSTM variants with and without peepholes, lengths, both
// directions, stacks, residual connections; parameter names and initialization; errors.
#include "frontend/recurrent.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "codegen/interp/interpreter.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "runtime/initializers.h"
#include "tests/recurrent_reference.h"
#include "tests/support/random_values.h"

namespace rnnc {
namespace {

using testrand::random_values;

using ir::Value;
using nn::CellKind;
using nn::LstmGates;
using nn::RecurrentConfig;

constexpr double kTolerance = 1e-12;

RecurrentConfig config_of(CellKind cell, int64_t input_size = 3, int64_t hidden_size = 4) {
  RecurrentConfig config;
  config.cell = cell;
  config.input_size = input_size;
  config.hidden_size = hidden_size;
  return config;
}

RecurrentConfig lecture_lstm(const std::string& variant, bool peepholes) {
  RecurrentConfig config = config_of(CellKind::LectureLstm);
  config.gates = LstmGates::parse(variant);
  config.gates.peepholes = peepholes;
  return config;
}

bool has_cell_state(const RecurrentConfig& config) {
  return config.cell == CellKind::Lstm || config.cell == CellKind::LectureLstm;
}

/// What one run of a built stack gives, beside the reference's answer.
struct StackRun {
  Bindings outputs;
  reference::Result expected;
};

/// Builds `config` as "rnn" in an f64 model over T = `steps`, B = lengths.size() or 2, runs
/// it with random inputs (and random h0/c0 when `initial_states`), and runs the reference.
StackRun run_stack(const RecurrentConfig& config, int64_t steps, const std::vector<int>& lengths,
                   bool initial_states, uint64_t seed = 7) {
  const int64_t batch = lengths.empty() ? 2 : static_cast<int64_t>(lengths.size());
  const int64_t slots = config.num_layers * (config.bidirectional ? 2 : 1);
  nn::Model model(DType::f64, seed);
  nn::Recurrent rnn(model, "rnn", config);
  Bindings inputs;
  Value* x = model.input("x", {steps, batch, config.input_size});
  inputs["x"] = Tensor::from_doubles(DType::f64, x->shape(),
                                     random_values(x->type().num_elements(), seed + 1));
  Value* length_input = nullptr;
  if (!lengths.empty()) {
    length_input = model.input("lengths", {batch}, DType::i32);
    inputs["lengths"] = Tensor::from_ints({batch}, lengths);
  }
  Value *h0 = nullptr, *c0 = nullptr;
  if (initial_states) {
    h0 = model.input("h0", {slots, batch, config.hidden_size});
    inputs["h0"] = Tensor::from_doubles(DType::f64, h0->shape(),
                                        random_values(h0->type().num_elements(), seed + 2));
    if (has_cell_state(config)) {
      c0 = model.input("c0", h0->shape());
      inputs["c0"] = Tensor::from_doubles(DType::f64, c0->shape(),
                                          random_values(c0->type().num_elements(), seed + 3));
    }
  }
  nn::RecurrentResult result = rnn(x, length_input, h0, c0);
  EXPECT_EQ(result.c_n != nullptr, has_cell_state(config));
  model.output("outputs", result.outputs);
  model.output("h_n", result.h_n);
  if (result.c_n) model.output("c_n", result.c_n);
  ir::verify(model.graph());

  Bindings params = initialize_parameters(model.graph());
  Bindings state = params;
  StackRun run{interp::run_graph(model.graph(), inputs, state), {}};
  run.expected = reference::run(config, "rnn", params, inputs.at("x"), lengths,
                                h0 ? &inputs.at("h0") : nullptr, c0 ? &inputs.at("c0") : nullptr);
  return run;
}

/// Every output of `run` equals the reference within kTolerance.
void expect_matches_reference(const StackRun& run) {
  EXPECT_LE(max_relative_difference(run.outputs.at("outputs"), run.expected.outputs), kTolerance);
  EXPECT_LE(max_relative_difference(run.outputs.at("h_n"), run.expected.h_n), kTolerance);
  if (run.outputs.count("c_n")) {
    EXPECT_LE(max_relative_difference(run.outputs.at("c_n"), run.expected.c_n), kTolerance);
  }
}

/// A named configuration for the parameterized tests.
struct NamedConfig {
  std::string name;
  RecurrentConfig config;
};

std::vector<NamedConfig> every_cell() {
  std::vector<NamedConfig> cases = {{"RnnTanh", config_of(CellKind::RnnTanh)},
                                    {"RnnRelu", config_of(CellKind::RnnRelu)},
                                    {"Lstm", config_of(CellKind::Lstm)},
                                    {"Gru", config_of(CellKind::Gru)},
                                    {"LectureGru", config_of(CellKind::LectureGru)}};
  for (const char* variant : {"none", "input", "forget", "output", "input+output", "input+forget",
                              "forget+output", "all"})
    for (bool peepholes : {false, true}) {
      std::string name = std::string("LectureLstm_") + variant + (peepholes ? "_peepholes" : "");
      for (char& ch : name)
        if (ch == '+') ch = '_';
      cases.push_back({name, lecture_lstm(variant, peepholes)});
    }
  return cases;
}

class EveryCell : public testing::TestWithParam<NamedConfig> {};

TEST_P(EveryCell, MatchesReferenceWithInitialStates) {
  expect_matches_reference(run_stack(GetParam().config, 4, {}, true));
}

TEST_P(EveryCell, MatchesReferenceFromZeroStates) {
  expect_matches_reference(run_stack(GetParam().config, 3, {}, false));
}

TEST_P(EveryCell, MatchesReferenceWithoutBias) {
  RecurrentConfig config = GetParam().config;
  config.bias = false;
  expect_matches_reference(run_stack(config, 3, {}, true));
}

TEST_P(EveryCell, MatchesReferenceBidirectionalWithLengths) {
  RecurrentConfig config = GetParam().config;
  config.bidirectional = true;
  expect_matches_reference(run_stack(config, 5, {3, 5, 1}, true));
}

INSTANTIATE_TEST_SUITE_P(Recurrent, EveryCell, testing::ValuesIn(every_cell()),
                         [](const testing::TestParamInfo<NamedConfig>& info) {
                           return info.param.name;
                         });

/// Element [i, b, k] of a rank-3 tensor.
double at(const Tensor& tensor, int64_t i, int64_t b, int64_t k) {
  return tensor.get((i * tensor.shape()[1] + b) * tensor.shape()[2] + k);
}

TEST(RecurrentLengths, OutputsZeroPastLengthAndFinalStatesAtLastValidStep) {
  RecurrentConfig config = config_of(CellKind::Lstm);
  config.bidirectional = true;
  const std::vector<int> lengths = {2, 4, 1};
  StackRun run = run_stack(config, 4, lengths, true);
  const Tensor& outputs = run.outputs.at("outputs");
  const Tensor& h_n = run.outputs.at("h_n");
  const int64_t hidden = 4;
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t t = 0; t < 4; ++t)
      for (int64_t k = 0; k < 2 * hidden; ++k) {
        if (t >= lengths[b])
          EXPECT_EQ(at(outputs, t, b, k), 0.0) << "t=" << t << " b=" << b;
        else
          EXPECT_NE(at(outputs, t, b, k), 0.0) << "t=" << t << " b=" << b;
      }
    for (int64_t k = 0; k < hidden; ++k) {
      // Forward: the state after step lengths[b] - 1; reverse: after step 0, having started at
      // the row's last valid step.
      EXPECT_EQ(at(h_n, 0, b, k), at(outputs, lengths[b] - 1, b, k));
      EXPECT_EQ(at(h_n, 1, b, k), at(outputs, 0, b, hidden + k));
    }
  }
  expect_matches_reference(run);
}

TEST(RecurrentLengths, ReverseStartsAtEachRowsLastStepNotAtT) {
  // A row of length 2 padded to T = 4: its reverse pass must equal that of the unpadded row.
  RecurrentConfig config = config_of(CellKind::Gru);
  config.bidirectional = true;
  StackRun padded = run_stack(config, 4, {2, 4}, false);
  StackRun full = run_stack(config, 4, {}, false);
  const Tensor& h_n_padded = padded.outputs.at("h_n");
  const Tensor& h_n_full = full.outputs.at("h_n");
  // Row 1 has the full length in both runs: equal. Row 0 differs (fewer steps).
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_EQ(at(h_n_padded, 1, 1, k), at(h_n_full, 1, 1, k));
    EXPECT_NE(at(h_n_padded, 1, 0, k), at(h_n_full, 1, 0, k));
  }
  expect_matches_reference(padded);
}

TEST(RecurrentStack, TwoLayersBidirectionalMatchReference) {
  for (CellKind cell : {CellKind::Lstm, CellKind::Gru, CellKind::LectureLstm, CellKind::LectureGru,
                        CellKind::RnnTanh}) {
    RecurrentConfig config = config_of(cell);
    config.num_layers = 2;
    config.bidirectional = true;
    if (cell == CellKind::LectureLstm) config.gates.peepholes = true;
    SCOPED_TRACE(static_cast<int>(cell));
    expect_matches_reference(run_stack(config, 4, {}, true));
    expect_matches_reference(run_stack(config, 5, {5, 2}, true));
  }
}

TEST(RecurrentStack, ThreeUnidirectionalLayersMatchReference) {
  RecurrentConfig config = config_of(CellKind::Lstm, 2, 3);
  config.num_layers = 3;
  expect_matches_reference(run_stack(config, 3, {}, true));
}

TEST(RecurrentStack, ResidualAddsEachLaterLayersInput) {
  RecurrentConfig config = config_of(CellKind::Gru);
  config.num_layers = 3;
  config.bidirectional = true;
  config.residual = true;
  StackRun residual = run_stack(config, 4, {4, 3}, true);
  expect_matches_reference(residual);
  config.residual = false;
  StackRun plain = run_stack(config, 4, {4, 3}, true);
  // Same parameters and inputs: the states agree only in the first layer.
  EXPECT_GT(max_relative_difference(residual.outputs.at("outputs"), plain.outputs.at("outputs")),
            1e-3);
  const Tensor& h_res = residual.outputs.at("h_n");
  const Tensor& h_plain = plain.outputs.at("h_n");
  for (int64_t i = 0; i < 2 * 2 * 4; ++i) EXPECT_EQ(h_res.get(i), h_plain.get(i));
}

/// Nodes of `graph` and of every body in it.
int64_t count_nodes(const ir::Graph& graph) {
  int64_t count = 0;
  for (const auto& node : graph.nodes()) {
    ++count;
    for (const auto& body : node->bodies()) count += count_nodes(*body);
  }
  return count;
}

TEST(RecurrentGraph, NodeCountDoesNotDependOnSequenceLength) {
  auto build = [](int64_t steps) {
    RecurrentConfig config = lecture_lstm("all", true);
    config.num_layers = 2;
    config.bidirectional = true;
    nn::Model model(DType::f32);
    nn::Recurrent rnn(model, "rnn", config);
    nn::RecurrentResult result =
        rnn(model.input("x", {steps, 2, 3}), model.input("lengths", {2}, DType::i32));
    model.output("y", result.outputs);
    EXPECT_EQ(model.graph().nodes_of(ir::OpKind::Scan).size(), 4u);
    EXPECT_EQ(result.outputs->shape(), (ir::Shape{steps, 2, 8}));
    EXPECT_EQ(result.h_n->shape(), (ir::Shape{4, 2, 4}));
    return count_nodes(model.graph());
  };
  int64_t short_count = build(10);
  EXPECT_EQ(short_count, build(1000));
  EXPECT_LT(short_count, 400);
}

TEST(RecurrentGraph, TextIrRoundTripsAndRunsTheSame) {
  RecurrentConfig config = config_of(CellKind::Gru);
  config.num_layers = 2;
  config.bidirectional = true;
  nn::Model model(DType::f64, 1);
  nn::Recurrent rnn(model, "enc.gru", config);
  nn::RecurrentResult result =
      rnn(model.input("x", {3, 2, 3}), model.input("lengths", {2}, DType::i32));
  model.output("y", result.outputs);
  model.output("h_n", result.h_n);
  std::string text = ir::print_graph(model.graph());
  std::unique_ptr<ir::Graph> parsed = ir::parse_graph(text, "recurrent.rnn");
  EXPECT_EQ(ir::print_graph(*parsed), text);
  Bindings inputs{{"x", Tensor::from_doubles(DType::f64, {3, 2, 3}, random_values(18, 5))},
                  {"lengths", Tensor::from_ints({2}, {3, 1})}};
  Bindings state = initialize_parameters(model.graph());
  Bindings parsed_state = state;
  Bindings built_out = interp::run_graph(model.graph(), inputs, state);
  Bindings parsed_out = interp::run_graph(*parsed, inputs, parsed_state);
  EXPECT_EQ(built_out.at("y").to_doubles(), parsed_out.at("y").to_doubles());
  EXPECT_EQ(built_out.at("h_n").to_doubles(), parsed_out.at("h_n").to_doubles());
}

TEST(RecurrentParameters, PyTorchNamesShapesOrderAndInitialization) {
  RecurrentConfig config = config_of(CellKind::Lstm);
  config.num_layers = 2;
  config.bidirectional = true;
  nn::Model model(DType::f64, 3);
  nn::Recurrent rnn(model, "lstm", config);
  std::vector<std::pair<std::string, ir::Shape>> expected;
  for (std::string layer : {"l0", "l1"})
    for (std::string suffix : {"", "_reverse"}) {
      int64_t in = layer == "l0" ? 3 : 8;
      expected.push_back({"lstm.weight_ih_" + layer + suffix, {16, in}});
      expected.push_back({"lstm.weight_hh_" + layer + suffix, {16, 4}});
      expected.push_back({"lstm.bias_ih_" + layer + suffix, {16}});
      expected.push_back({"lstm.bias_hh_" + layer + suffix, {16}});
    }
  ASSERT_EQ(rnn.parameters().size(), expected.size());
  EXPECT_EQ(rnn.parameters(), model.weights());
  Bindings values = initialize_parameters(model.graph());
  for (size_t i = 0; i < expected.size(); ++i) {
    Value* parameter = rnn.parameters()[i];
    EXPECT_EQ(parameter->name(), expected[i].first);
    EXPECT_EQ(parameter->shape(), expected[i].second);
    EXPECT_EQ(parameter->dtype(), DType::f64);
    const Tensor& tensor = values.at(parameter->name());
    double low = 1, high = -1;
    for (double v : tensor.to_doubles()) low = std::min(low, v), high = std::max(high, v);
    EXPECT_GE(low, -0.5);  // 1 / sqrt(hidden_size 4)
    EXPECT_LE(high, 0.5);
    EXPECT_GT(high - low, 0.3) << parameter->name();
  }
}

TEST(RecurrentParameters, LectureCellsKeepOneMatrixPerGateAndInput) {
  nn::Model model(DType::f32);
  nn::Recurrent lstm(model, "lstm", lecture_lstm("input+output", true));
  std::vector<std::string> names;
  for (Value* p : lstm.parameters()) names.push_back(p->name() + ir::shape_to_string(p->shape()));
  EXPECT_EQ(names,
            (std::vector<std::string>{"lstm.W_xi_l0[4, 3]", "lstm.W_hi_l0[4, 4]", "lstm.b_i_l0[4]",
                                      "lstm.w_ci_l0[4]", "lstm.W_xc_l0[4, 3]", "lstm.W_hc_l0[4, 4]",
                                      "lstm.b_c_l0[4]", "lstm.W_xo_l0[4, 3]", "lstm.W_ho_l0[4, 4]",
                                      "lstm.b_o_l0[4]", "lstm.w_co_l0[4]"}));
  RecurrentConfig gru_config = config_of(CellKind::LectureGru);
  gru_config.bias = false;
  gru_config.bidirectional = true;
  nn::Recurrent gru(model, "gru", gru_config);
  names.clear();
  for (Value* p : gru.parameters()) names.push_back(p->name() + ir::shape_to_string(p->shape()));
  EXPECT_EQ(names,
            (std::vector<std::string>{"gru.W_u_l0[4, 4]", "gru.U_u_l0[4, 3]", "gru.W_r_l0[4, 4]",
                                      "gru.U_r_l0[4, 3]", "gru.W_h_l0[4, 4]", "gru.U_h_l0[4, 3]",
                                      "gru.W_u_l0_reverse[4, 4]", "gru.U_u_l0_reverse[4, 3]",
                                      "gru.W_r_l0_reverse[4, 4]", "gru.U_r_l0_reverse[4, 3]",
                                      "gru.W_h_l0_reverse[4, 4]", "gru.U_h_l0_reverse[4, 3]"}));
}

TEST(LstmGates, ParsesAndNamesTheEightVariants) {
  const std::vector<std::string> variants = {
      "none", "input", "forget", "output", "input+output", "input+forget", "forget+output", "all"};
  for (const std::string& variant : variants) EXPECT_EQ(LstmGates::parse(variant).name(), variant);
  LstmGates gates = LstmGates::parse("forget+output");
  EXPECT_FALSE(gates.input);
  EXPECT_TRUE(gates.forget);
  EXPECT_TRUE(gates.output);
  EXPECT_FALSE(gates.peepholes);
  EXPECT_FALSE(LstmGates::parse("none").input || LstmGates::parse("none").output);
  try {
    LstmGates::parse("output+input");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unknown LSTM variant 'output+input'"),
              std::string::npos)
        << error.what();
  }
}

TEST(Embedding, GathersRowsOfANormalTable) {
  nn::Model model(DType::f64, 5);
  nn::Embedding embedding(model, "emb", 6, 3);
  EXPECT_EQ(embedding.weight()->name(), "emb.weight");
  EXPECT_EQ(embedding.weight()->shape(), (ir::Shape{6, 3}));
  EXPECT_EQ(embedding.weight()->producer()->attrs().get_str("init"), "normal:0,1");
  Value* tokens = model.input("tokens", {2, 2}, DType::i32);
  model.output("vectors", embedding(tokens));
  Bindings state = initialize_parameters(model.graph());
  Bindings out = interp::run_graph(model.graph(),
                                   {{"tokens", Tensor::from_ints({2, 2}, {5, 0, 2, 5})}}, state);
  const Tensor& table = state.at("emb.weight");
  const Tensor& vectors = out.at("vectors");
  ASSERT_EQ(vectors.shape(), (ir::Shape{2, 2, 3}));
  const int rows[] = {5, 0, 2, 5};
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < 3; ++k) EXPECT_EQ(vectors.get(i * 3 + k), table.get(rows[i] * 3 + k));
}

TEST(BatchFirst, SwapsBatchAndTimeBothWays) {
  nn::Model model(DType::f64);
  Value* x = model.input("x", {2, 3, 1});
  Value* time_major = nn::batch_first_to_time_major(x);
  EXPECT_EQ(time_major->shape(), (ir::Shape{3, 2, 1}));
  model.output("time_major", time_major);
  model.output("back", nn::time_major_to_batch_first(time_major));
  Bindings state;
  Tensor input = Tensor::from_doubles(DType::f64, {2, 3, 1}, {0, 1, 2, 10, 11, 12});
  Bindings out = interp::run_graph(model.graph(), {{"x", input}}, state);
  EXPECT_EQ(out.at("time_major").to_doubles(), (std::vector<double>{0, 10, 1, 11, 2, 12}));
  EXPECT_EQ(out.at("back").to_doubles(), input.to_doubles());
}

/// Runs `action` and expects an rnnc::Error containing every one of `parts`.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& parts) {
  try {
    action();
    ADD_FAILURE() << "no error; expected " << parts.front();
  } catch (const Error& error) {
    for (const std::string& part : parts)
      EXPECT_NE(std::string(error.what()).find(part), std::string::npos)
          << "message: " << error.what() << "\nmissing: " << part;
  }
}

TEST(RecurrentErrors, BadConfigurations) {
  nn::Model model(DType::f64);
  auto make = [&](RecurrentConfig config) {
    return [&model, config] { nn::Recurrent(model, "enc", config); };
  };
  expect_error(make(config_of(CellKind::Lstm, 3, 0)),
               {"Recurrent 'enc'", "hidden_size must be >= 1, got 0"});
  expect_error(make(config_of(CellKind::Gru, -2, 4)),
               {"Recurrent 'enc'", "input_size must be >= 1, got -2"});
  RecurrentConfig no_layers = config_of(CellKind::Lstm);
  no_layers.num_layers = 0;
  expect_error(make(no_layers), {"Recurrent 'enc'", "num_layers must be >= 1, got 0"});
  RecurrentConfig gated = config_of(CellKind::Lstm);
  gated.gates = LstmGates::parse("input+forget");
  expect_error(make(gated),
               {"Recurrent 'enc'", "gates 'input+forget'", "LectureLstm only", "the cell is Lstm"});
  RecurrentConfig peephole_gru = config_of(CellKind::Gru);
  peephole_gru.gates.peepholes = true;
  expect_error(make(peephole_gru), {"'all' with peepholes", "the cell is Gru"});
  expect_error([&] { nn::Embedding(model, "emb", 0, 3); }, {"Embedding 'emb'", "0 x 3"});
  EXPECT_TRUE(model.weights().empty());
}

TEST(RecurrentErrors, BadInputsNameTheLayerAndTheValue) {
  nn::Model model(DType::f64);
  RecurrentConfig config = config_of(CellKind::Lstm);
  config.num_layers = 2;
  nn::Recurrent rnn(model, "enc", config);
  Value* x = model.input("x", {5, 2, 3});
  expect_error(
      [&] {
        rnn(model.input("flat", {5, 3}));
      },
      {"Recurrent 'enc'", "%flat (f64[5, 3])", "rank 3"});
  expect_error(
      [&] {
        rnn(model.input("wide", {5, 2, 4}));
      },
      {"Recurrent 'enc'", "%wide (f64[5, 2, 4])", "last dimension input_size = 3"});
  expect_error(
      [&] {
        rnn(model.input("single", {5, 2, 3}, DType::f32));
      },
      {"Recurrent 'enc'", "%single (f32[5, 2, 3])", "must be f64"});
  expect_error([&] { rnn(x, model.input("float_lengths", {2})); },
               {"Recurrent 'enc'", "lengths %float_lengths (f64[2])", "must be i32[2]"});
  expect_error([&] { rnn(x, model.input("long_lengths", {3}, DType::i32)); },
               {"lengths %long_lengths (i32[3])", "must be i32[2]"});
  expect_error(
      [&] {
        rnn(x, nullptr, model.input("h0", {1, 2, 4}));
      },
      {"Recurrent 'enc'", "h0 %h0 (f64[1, 2, 4])", "must be f64[2, 2, 4]"});
  Value* good_h0 = model.input("good_h0", {2, 2, 4});
  expect_error(
      [&] {
        rnn(x, nullptr, good_h0, model.input("c0", {2, 4, 2}));
      },
      {"Recurrent 'enc'", "c0 %c0 (f64[2, 4, 2])", "must be f64[2, 2, 4]"});
  nn::Recurrent gru(model, "dec", config_of(CellKind::Gru));
  expect_error(
      [&] {
        gru(x, nullptr, nullptr, model.input("c0_gru", {1, 2, 4}));
      },
      {"Recurrent 'dec'", "c0 %c0_gru", "has no cell state"});
  nn::Model other(DType::f64);
  expect_error(
      [&] {
        rnn(other.input("foreign", {5, 2, 3}));
      },
      {"Recurrent 'enc'", "%foreign (f64[5, 2, 3])", "another graph"});
  nn::Embedding embedding(model, "emb", 4, 3);
  expect_error([&] { embedding(x); }, {"emb.weight", "indices %x (f64[5, 2, 3])", "must be i32"});
  expect_error([&] { embedding(other.input("ids", {2}, DType::i32)); },
               {"emb.weight", "indices %ids (i32[2])", "another graph"});
  expect_error([&] { nn::batch_first_to_time_major(model.input("vector", {3})); },
               {"batch_first_to_time_major", "%vector (f64[3])", "rank >= 2"});
}

}  // namespace
}  // namespace rnnc
