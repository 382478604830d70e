// rnnc::nn: Model, Linear, activations, Sequential, losses and metrics, each checked against
// a direct C++ computation run on the interpreter's results.
#include "frontend/nn.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "codegen/interp/interpreter.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "runtime/initializers.h"

namespace rnnc {
namespace {

using ir::DType;
using ir::Value;
using Vec = std::vector<double>;

/// Runs `graph` (no parameters unless given) and returns output `name`'s values.
std::vector<double> run_output(const ir::Graph& graph, const Bindings& inputs,
                               const std::string& name, Bindings state = {}) {
  return interp::run_graph(graph, inputs, state).at(name).to_doubles();
}

Tensor f64(Shape shape, const std::vector<double>& values) {
  return Tensor::from_doubles(DType::f64, std::move(shape), values);
}

void expect_near_all(const std::vector<double>& actual, const std::vector<double>& expected,
                     double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "element " << i;
}

TEST(Model, ParametersGetDistinctDeterministicSeeds) {
  auto build = [] {
    nn::Model model(DType::f32, 7);
    nn::Linear(model, "fc1", 4, 3);
    nn::Linear(model, "fc2", 3, 1);
    std::vector<int64_t> seeds;
    for (Value* w : model.weights()) seeds.push_back(w->producer()->attrs().get_int("seed"));
    return seeds;
  };
  std::vector<int64_t> seeds = build();
  ASSERT_EQ(seeds.size(), 4u);
  EXPECT_EQ(std::set<int64_t>(seeds.begin(), seeds.end()).size(), 4u);
  EXPECT_EQ(build(), seeds);
  nn::Model other_seed(DType::f32, 8);
  nn::Linear(other_seed, "fc1", 4, 3);
  EXPECT_NE(other_seed.weights()[0]->producer()->attrs().get_int("seed"), seeds[0]);
  for (int64_t seed : seeds) EXPECT_GE(seed, 0);
}

TEST(Model, WeightsExcludeStateAndInputs) {
  nn::Model model(DType::f64);
  model.input("x", {2, 3});
  Value* w = model.parameter("w", {3}, "zeros");
  model.graph().add_parameter("w.sum", {DType::f64, {3}}, "zeros", 0, "state");
  EXPECT_EQ(model.weights(), std::vector<Value*>{w});
  EXPECT_EQ(w->dtype(), DType::f64);
  EXPECT_EQ(model.input("labels", {2}, DType::i32)->dtype(), DType::i32);
  EXPECT_THROW(nn::Model(DType::i32), Error);
}

TEST(Linear, ComputesXWPlusBias) {
  nn::Model model(DType::f64);
  nn::Linear fc(model, "fc", 3, 2);
  model.output("y", fc(model.input("x", {2, 3})));
  EXPECT_EQ(fc.weight()->name(), "fc.weight");
  EXPECT_EQ(fc.weight()->shape(), (Shape{3, 2}));
  EXPECT_EQ(fc.bias()->shape(), (Shape{2}));
  Bindings state{{"fc.weight", f64({3, 2}, {1, 2, 3, 4, 5, 6})}, {"fc.bias", f64({2}, {0.5, -1})}};
  // x = [[1, 0, -1], [2, 1, 0]]: rows times W plus b, by hand.
  std::vector<double> y =
      run_output(model.graph(), {{"x", f64({2, 3}, {1, 0, -1, 2, 1, 0})}}, "y", state);
  EXPECT_EQ(y, (std::vector<double>{1 - 5 + 0.5, 2 - 6 - 1, 2 + 3 + 0.5, 4 + 4 - 1}));
}

TEST(Linear, AppliesToEveryRowOfHigherRankInputs) {
  nn::Model model(DType::f64);
  nn::Linear fc(model, "fc", 2, 1, /*bias=*/false);
  EXPECT_EQ(fc.bias(), nullptr);
  Value* y = fc(model.input("x", {2, 2, 2}));
  EXPECT_EQ(y->shape(), (Shape{2, 2, 1}));
  model.output("y", y);
  Bindings state{{"fc.weight", f64({2, 1}, {10, 1})}};
  EXPECT_EQ(
      run_output(model.graph(), {{"x", f64({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}}, "y", state),
      (std::vector<double>{12, 34, 56, 78}));
  EXPECT_THROW(fc(model.input("bad", {2, 3})), Error);
}

TEST(Linear, InitializesUniformlyWithinPyTorchBound) {
  nn::Model model(DType::f32, 3);
  nn::Linear fc(model, "fc", 16, 64);
  Bindings state = initialize_parameters(model.graph());
  double bound = 1.0 / std::sqrt(16.0);
  for (const char* name : {"fc.weight", "fc.bias"}) {
    std::vector<double> values = state.at(name).to_doubles();
    double lowest = *std::min_element(values.begin(), values.end());
    double highest = *std::max_element(values.begin(), values.end());
    EXPECT_GE(lowest, -bound);
    EXPECT_LT(highest, bound);
    EXPECT_LT(lowest, -bound / 2) << name;  // spread over the range, not a constant
    EXPECT_GT(highest, bound / 2) << name;
  }
}

TEST(Activations, MatchTheirDefinitions) {
  nn::Model model(DType::f64);
  Value* x = model.input("x", {5});
  model.output("sigmoid", nn::sigmoid(x));
  model.output("tanh", nn::tanh(x));
  model.output("relu", nn::relu(x));
  std::vector<double> xs = {-3, -0.5, 0, 0.25, 4};
  Bindings outputs;
  Bindings state;
  outputs = interp::run_graph(model.graph(), {{"x", f64({5}, xs)}}, state);
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_NEAR(outputs.at("sigmoid").get(i), 1 / (1 + std::exp(-xs[i])), 1e-15);
    EXPECT_NEAR(outputs.at("tanh").get(i), std::tanh(xs[i]), 1e-15);
    EXPECT_EQ(outputs.at("relu").get(i), std::max(0.0, xs[i]));
  }
}

/// softmax and log_softmax of each row (axis 1) or column (axis 0) of a 2x3 matrix, computed
/// directly in long double.
std::vector<double> reference_softmax(const std::vector<double>& x, int axis, bool log) {
  std::vector<double> out(6);
  for (int line = 0; line < (axis == 1 ? 2 : 3); ++line) {
    auto at = [&](int k) { return axis == 1 ? line * 3 + k : k * 3 + line; };
    int count = axis == 1 ? 3 : 2;
    long double peak = -INFINITY, total = 0;
    for (int k = 0; k < count; ++k) peak = std::max<long double>(peak, x[at(k)]);
    for (int k = 0; k < count; ++k) total += std::exp(x[at(k)] - peak);
    for (int k = 0; k < count; ++k)
      out[at(k)] = log ? static_cast<double>(x[at(k)] - peak - std::log(total))
                       : static_cast<double>(std::exp(x[at(k)] - peak) / total);
  }
  return out;
}

TEST(Activations, SoftmaxAndLogSoftmaxAreStableOverEitherAxis) {
  std::vector<double> xs = {1000, 1001, 999, -2, 0.5, 3};  // exp(1000) overflows naively
  for (int axis : {0, 1}) {
    nn::Model model(DType::f64);
    Value* x = model.input("x", {2, 3});
    model.output("softmax", nn::softmax(x, axis == 1 ? -1 : 0));
    model.output("log_softmax", nn::log_softmax(x, axis));
    Bindings state;
    Bindings outputs = interp::run_graph(model.graph(), {{"x", f64({2, 3}, xs)}}, state);
    expect_near_all(outputs.at("softmax").to_doubles(), reference_softmax(xs, axis, false), 1e-14);
    expect_near_all(outputs.at("log_softmax").to_doubles(), reference_softmax(xs, axis, true),
                    1e-12);
  }
  nn::Model model;
  EXPECT_THROW(nn::softmax(model.input("x", {2, 3}), 2), Error);
}

TEST(Sequential, AppliesLayersInOrder) {
  nn::Model model(DType::f64);
  nn::Linear first(model, "first", 2, 2, false);
  nn::Sequential net({first, nn::relu});
  net.then([](Value* v) { return ir::build::mul(v, ir::build::full_like(v, 3.0)); });
  EXPECT_EQ(net.size(), 3u);
  model.output("y", net(model.input("x", {1, 2})));
  Bindings state{{"first.weight", f64({2, 2}, {1, -1, 1, 1})}};
  // x W = [2 + 1, -2 + 1] = [3, -1]; relu -> [3, 0]; times 3.
  EXPECT_EQ(run_output(model.graph(), {{"x", f64({1, 2}, {2, 1})}}, "y", state),
            (std::vector<double>{9, 0}));
}

/// A model with inputs "a" and "b" of `shape` whose outputs are `loss` in all reductions.
struct LossCase {
  std::vector<double> none, sum, mean;
};

template <class Loss>
LossCase run_loss(Loss loss, const Shape& shape, const std::vector<double>& a,
                  const std::vector<double>& b, DType b_dtype = DType::f64) {
  nn::Model model(DType::f64);
  Value* va = model.input("a", shape);
  Shape b_shape = shape;
  if (b_dtype == DType::i32) b_shape.pop_back();
  Value* vb = model.input("b", b_shape, b_dtype);
  model.output("none", loss(va, vb, nn::Reduction::none));
  model.output("sum", loss(va, vb, nn::Reduction::sum));
  model.output("mean", loss(va, vb, nn::Reduction::mean));
  Bindings inputs{{"a", f64(shape, a)}, {"b", Tensor::from_doubles(b_dtype, b_shape, b)}};
  Bindings state;
  Bindings outputs = interp::run_graph(model.graph(), inputs, state);
  return {outputs.at("none").to_doubles(), outputs.at("sum").to_doubles(),
          outputs.at("mean").to_doubles()};
}

void expect_loss(const LossCase& got, const std::vector<double>& terms, double tolerance) {
  expect_near_all(got.none, terms, tolerance);
  double total = 0;
  for (double t : terms) total += t;
  ASSERT_EQ(got.sum.size(), 1u);
  EXPECT_NEAR(got.sum[0], total, tolerance * terms.size());
  EXPECT_NEAR(got.mean[0], total / terms.size(), tolerance);
}

TEST(Losses, MseIsMeanSquaredError) {
  std::vector<double> p = {1, 2.5, -1, 0}, t = {0, 2, 1, 0};
  expect_loss(run_loss(nn::mse, {2, 2}, p, t), {1, 0.25, 4, 0}, 1e-15);
}

TEST(Losses, BceClampsLogsAtMinus100) {
  std::vector<double> p = {0.9, 0.2, 0.5, 0, 1, 0, 1e-50}, t = {1, 0, 1, 1, 0, 0, 1};
  std::vector<double> terms;
  for (size_t i = 0; i < p.size(); ++i)
    terms.push_back(-(t[i] * std::max(std::log(p[i]), -100.0) +
                      (1 - t[i]) * std::max(std::log(1 - p[i]), -100.0)));
  EXPECT_EQ(terms[3], 100);  // log(0) clamped
  expect_loss(run_loss(nn::bce, {7, 1}, p, t), terms, 1e-14);
}

TEST(Losses, BceWithLogitsIsStableForLargeLogits) {
  std::vector<double> z = {0, 2, -3, 800, -800, 40}, t = {1, 0, 1, 0, 1, 0.25};
  std::vector<double> terms;
  for (size_t i = 0; i < z.size(); ++i)
    terms.push_back(std::max(z[i], 0.0) - z[i] * t[i] + std::log1p(std::exp(-std::abs(z[i]))));
  EXPECT_NEAR(terms[3], 800, 1e-12);
  expect_loss(run_loss(nn::bce_with_logits, {6}, z, t), terms, 1e-12);
}

TEST(Losses, CrossEntropyIsNegativeLogSoftmaxOfTheLabel) {
  std::vector<double> logits = {1, 2, 3, 500, 0, -500};
  std::vector<double> labels = {0, 1};
  std::vector<double> log_probs = reference_softmax(logits, 1, true);
  expect_loss(run_loss(nn::cross_entropy, {2, 3}, logits, labels, DType::i32),
              {-log_probs[0], -log_probs[4]}, 1e-12);
}

TEST(Losses, NllPicksTheLabelsLogProbability) {
  std::vector<double> log_probs = {-0.1, -2, -3, -1.5, -0.7, -1.2, -4, -0.05, -3};
  expect_loss(run_loss(nn::nll, {3, 3}, log_probs, {2, 0, 1}, DType::i32), {3, 1.5, 0.05}, 1e-15);
}

TEST(Losses, RejectMismatchedTypes) {
  nn::Model model;
  Value* p = model.input("p", {4, 1});
  EXPECT_THROW(nn::mse(p, model.input("t", {4})), Error);
  EXPECT_THROW(nn::bce(p, model.input("t64", {4, 1}, DType::f64)), Error);
  Value* logits = model.input("logits", {4, 3});
  EXPECT_THROW(nn::cross_entropy(logits, model.input("float_labels", {4})), Error);
  EXPECT_THROW(nn::cross_entropy(logits, model.input("short_labels", {3}, DType::i32)), Error);
  EXPECT_THROW(
      nn::nll(model.input("labels_as_logp", {4}, DType::i32), model.input("l", {4}, DType::i32)),
      Error);
}

TEST(Metrics, OneHotAndArgmaxWithTies) {
  nn::Model model(DType::f64);
  Value* labels = model.input("labels", {3}, DType::i32);
  Value* x = model.input("x", {3, 3});
  model.output("one_hot", nn::one_hot(labels, 3, DType::f64));
  model.output("argmax", nn::argmax(x));
  model.output("argmax0", nn::argmax(x, 0));
  Bindings state;
  Bindings outputs = interp::run_graph(model.graph(),
                                       {{"labels", Tensor::from_ints({3}, {2, 0, 7})},
                                        {"x", f64({3, 3}, {1, 5, 5, 9, 2, 9, -1, -2, -3})}},
                                       state);
  EXPECT_EQ(outputs.at("one_hot").to_doubles(), (std::vector<double>{0, 0, 1, 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(outputs.at("argmax").dtype(), DType::i32);
  EXPECT_EQ(outputs.at("argmax").to_doubles(), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(outputs.at("argmax0").to_doubles(), (std::vector<double>{1, 0, 1}));
}

TEST(Metrics, CorrectPerExample) {
  nn::Model model(DType::f32);
  Value* p = model.input("p", {4, 1});
  Value* t = model.input("t", {4, 1});
  Value* scores = model.input("scores", {4, 3});
  Value* labels = model.input("labels", {4}, DType::i32);
  model.output("binary", nn::binary_correct(p, t));
  model.output("multiclass", nn::multiclass_correct(scores, labels));
  model.output("example_loss", nn::per_example_mean(nn::bce(p, t, nn::Reduction::none)));
  Bindings state;
  Bindings outputs = interp::run_graph(
      model.graph(),
      {{"p", Tensor::from_floats({4, 1}, {0.9f, 0.5f, 0.3f, 0.6f})},
       {"t", Tensor::from_floats({4, 1}, {1, 1, 0, 0})},
       {"scores", Tensor::from_floats({4, 3}, {0, 1, 0, 3, 2, 1, 1, 1, 0, 0, 0, 0})},
       {"labels", Tensor::from_ints({4}, {1, 1, 0, 2})}},
      state);
  // p = 0.5 is not above the threshold, so it predicts 0.
  EXPECT_EQ(outputs.at("binary").to_doubles(), (std::vector<double>{1, 0, 1, 0}));
  // Ties go to the first class: row 2 predicts 0 (correct), row 3 predicts 0 (label 2).
  EXPECT_EQ(outputs.at("multiclass").to_doubles(), (std::vector<double>{1, 0, 1, 0}));
  EXPECT_EQ(outputs.at("example_loss").shape(), (Shape{4}));
  EXPECT_NEAR(outputs.at("example_loss").get(0), -std::log(0.9), 1e-6);
}

/// The loss of a Linear(3 -> outputs) layer over a batch of 4, in f64, for each loss.
struct GradientCase {
  std::string loss;
  bool zero_parameters = false;  ///< every logit exactly 0 (the kink of max and |z|)
};

/// Builds the training step of `c` (SGD with lr 0, so running it changes nothing), outputs
/// its gradients, and compares them with central differences of its "loss" output.
void check_training_step_gradients(const GradientCase& c) {
  SCOPED_TRACE(c.loss + (c.zero_parameters ? " at zero" : ""));
  bool binary = c.loss == "bce" || c.loss == "bce_with_logits";
  int64_t outputs = c.loss == "mse" ? 2 : binary ? 1 : 3;
  nn::Model model(DType::f64, 11);
  nn::Linear fc(model, "fc", 3, outputs);
  Value* y = fc(model.input("x", {4, 3}));
  Bindings inputs{{"x", f64({4, 3}, {0.5, -1, 2, 1.5, 0.3, -0.7, -2, 0.1, 0.4, 1, 1, -1})}};
  Value* loss = nullptr;
  if (c.loss == "mse" || binary) {
    Value* t = model.input("t", {4, outputs});
    Vec targets = c.loss == "mse" ? Vec{1, -2, 0.5, 3, 0, 1, -1, 0.25} : Vec{1, 0, 0, 1};
    inputs["t"] = f64({4, outputs}, targets);
    if (c.loss == "mse") loss = nn::mse(y, t);
    if (c.loss == "bce") loss = nn::bce(nn::sigmoid(y), t);
    if (c.loss == "bce_with_logits") loss = nn::bce_with_logits(y, t);
  } else {
    Value* labels = model.input("labels", {4}, DType::i32);
    inputs["labels"] = Tensor::from_ints({4}, {2, 0, 1, 2});
    loss = c.loss == "nll" ? nn::nll(nn::log_softmax(y), labels) : nn::cross_entropy(y, labels);
  }
  nn::TrainingConfig config;
  config.optimizer = nn::OptimizerConfig::parse("sgd:lr=0");
  nn::TrainingStep step = nn::make_training_step(model.graph(), loss, config);
  ASSERT_EQ(step.params.size(), 2u);
  for (size_t i = 0; i < step.grads.size(); ++i)
    model.output("grad" + std::to_string(i), step.grads[i]);
  Bindings state = initialize_parameters(model.graph());
  if (c.zero_parameters)
    for (auto& [name, tensor] : state) tensor = Tensor(tensor.type());
  Bindings scratch = state;
  Bindings analytic = interp::run_graph(model.graph(), inputs, scratch);
  const double h = 1e-6;
  for (size_t p = 0; p < step.params.size(); ++p) {
    const std::string& name = step.params[p]->name();
    std::vector<double> grad = analytic.at("grad" + std::to_string(p)).to_doubles();
    for (size_t i = 0; i < grad.size(); ++i) {
      double at[2];
      for (int side = 0; side < 2; ++side) {
        Bindings shifted = state;
        Tensor& tensor = shifted.at(name);
        tensor.set(i, tensor.get(i) + (side ? -h : h));
        at[side] = interp::run_graph(model.graph(), inputs, shifted).at("loss").get(0);
      }
      EXPECT_NEAR(grad[i], (at[0] - at[1]) / (2 * h), 1e-7 * std::max(1.0, std::abs(grad[i])))
          << name << "[" << i << "]";
    }
  }
}

TEST(TrainingStep, GradientsMatchFiniteDifferencesForEveryLoss) {
  for (const char* loss : {"mse", "bce", "bce_with_logits", "cross_entropy", "nll"})
    check_training_step_gradients({loss});
  check_training_step_gradients({"bce_with_logits", true});
  check_training_step_gradients({"cross_entropy", true});
}

}  // namespace
}  // namespace rnnc
