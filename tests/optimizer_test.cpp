// Optimizers and clipping as graph ops, checked step by step against a hand-written C++
// transcription of torch.optim's update rules (single-tensor forms), with the gradients fed
// in explicitly as graph inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <optional>

#include "codegen/interp/interpreter.h"
#include "frontend/nn.h"
#include "frontend/optimizers.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "runtime/initializers.h"

namespace rnnc {
namespace {

using ir::DType;
using ir::Value;
using nn::OptimizerConfig;
using nn::OptimizerKind;
using Vec = std::vector<double>;

/// torch.optim's update of one parameter tensor, transcribed from its _single_tensor_*
/// functions; `state` holds the tensors PyTorch keeps, absent until PyTorch creates them.
class ReferenceOptimizer {
 public:
  explicit ReferenceOptimizer(OptimizerConfig config) : c_(config) {}

  void step(Vec& param, Vec grad, std::map<std::string, Vec>& state, int step_count) {
    const size_t n = param.size();
    if (c_.weight_decay != 0)
      for (size_t i = 0; i < n; ++i) grad[i] += c_.weight_decay * param[i];
    switch (c_.kind) {
      case OptimizerKind::sgd: {
        if (c_.momentum != 0) {
          if (!state.count("momentum_buffer")) {
            state["momentum_buffer"] = grad;  // torch.clone(grad)
          } else {
            Vec& buf = state["momentum_buffer"];
            for (size_t i = 0; i < n; ++i)
              buf[i] = buf[i] * c_.momentum + (1 - c_.dampening) * grad[i];
          }
          const Vec& buf = state["momentum_buffer"];
          for (size_t i = 0; i < n; ++i)
            grad[i] = c_.nesterov ? grad[i] + c_.momentum * buf[i] : buf[i];
        }
        for (size_t i = 0; i < n; ++i) param[i] -= c_.lr * grad[i];
        return;
      }
      case OptimizerKind::adagrad: {
        if (!state.count("sum")) state["sum"] = Vec(n, c_.initial_accumulator_value);
        Vec& sum = state["sum"];
        double clr = c_.lr / (1 + (step_count - 1) * c_.lr_decay);
        for (size_t i = 0; i < n; ++i) {
          sum[i] += grad[i] * grad[i];
          param[i] -= clr * grad[i] / (std::sqrt(sum[i]) + c_.eps);
        }
        return;
      }
      case OptimizerKind::rmsprop: {
        if (!state.count("square_avg")) state["square_avg"] = Vec(n, 0);
        if (c_.centered && !state.count("grad_avg")) state["grad_avg"] = Vec(n, 0);
        if (c_.momentum > 0 && !state.count("momentum_buffer"))
          state["momentum_buffer"] = Vec(n, 0);
        for (size_t i = 0; i < n; ++i) {
          double& sq = state["square_avg"][i];
          sq = sq * c_.alpha + (1 - c_.alpha) * grad[i] * grad[i];
          double avg;
          if (c_.centered) {
            double& ga = state["grad_avg"][i];
            ga = ga + (1 - c_.alpha) * (grad[i] - ga);  // lerp
            avg = std::sqrt(sq - ga * ga) + c_.eps;
          } else {
            avg = std::sqrt(sq) + c_.eps;
          }
          if (c_.momentum > 0) {
            double& buf = state["momentum_buffer"][i];
            buf = buf * c_.momentum + grad[i] / avg;
            param[i] -= c_.lr * buf;
          } else {
            param[i] -= c_.lr * grad[i] / avg;
          }
        }
        return;
      }
      case OptimizerKind::adam: {
        for (const char* key : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
          if (!state.count(key) && (c_.amsgrad || std::string(key) != "max_exp_avg_sq"))
            state[key] = Vec(n, 0);
        double bias_correction1 = 1 - std::pow(c_.beta1, step_count);
        double bias_correction2 = 1 - std::pow(c_.beta2, step_count);
        double step_size = c_.lr / bias_correction1;
        double bias_correction2_sqrt = std::sqrt(bias_correction2);
        for (size_t i = 0; i < n; ++i) {
          double& m = state["exp_avg"][i];
          double& v = state["exp_avg_sq"][i];
          m = m + (1 - c_.beta1) * (grad[i] - m);  // lerp
          v = v * c_.beta2 + (1 - c_.beta2) * grad[i] * grad[i];
          double second = v;
          if (c_.amsgrad) {
            double& vmax = state["max_exp_avg_sq"][i];
            vmax = std::max(vmax, v);
            second = vmax;
          }
          double denom = std::sqrt(second) / bias_correction2_sqrt + c_.eps;
          param[i] -= step_size * m / denom;
        }
        return;
      }
    }
  }

 private:
  OptimizerConfig c_;
};

/// A deterministic, sign-changing gradient sequence (some exact zeros).
Vec gradient(size_t size, int param, int step) {
  Vec g(size);
  for (size_t i = 0; i < size; ++i)
    g[i] = (i % 5 == 3) ? 0.0 : std::sin(1.3 * i + 0.7 * step + param) * (1 + 0.5 * step);
  return g;
}

/// Runs `config` for 6 steps on two parameters ([2, 3] and [4]) in `dtype`, comparing the
/// parameters and every state tensor with the reference after each step.
void check_against_reference(const OptimizerConfig& config, DType dtype, double tolerance) {
  SCOPED_TRACE(config.to_string() + " " + std::string(ir::dtype_name(dtype)));
  ir::Graph graph;
  const std::vector<Shape> shapes = {{2, 3}, {4}};
  std::vector<Value*> params, grads;
  for (size_t k = 0; k < shapes.size(); ++k) {
    params.push_back(graph.add_parameter("p" + std::to_string(k), {dtype, shapes[k]}, "zeros"));
    grads.push_back(graph.add_input("g" + std::to_string(k), {dtype, shapes[k]}));
  }
  std::vector<Value*> added = nn::append_optimizer(graph, params, grads, config);
  EXPECT_EQ(graph.updates().size(), params.size() + added.size());
  for (Value* s : added) EXPECT_EQ(s->producer()->attrs().get_str("role"), "state");

  Bindings state;
  std::vector<Vec> reference_params = {{0.5, -1, 2, 0, 0.25, -0.75}, {1, 2, -3, 0.1}};
  for (size_t k = 0; k < shapes.size(); ++k)
    state["p" + std::to_string(k)] = Tensor::from_doubles(dtype, shapes[k], reference_params[k]);
  for (Value* s : added) {
    const std::string& init = s->producer()->attrs().get_str("init");
    double value = init.rfind("constant:", 0) == 0 ? std::stod(init.substr(9)) : 0.0;
    EXPECT_TRUE(init == "zeros" || init.rfind("constant:", 0) == 0) << init;
    state[s->name()] =
        Tensor::from_doubles(dtype, s->shape(), Vec(s->type().num_elements(), value));
  }
  ReferenceOptimizer reference(config);
  std::vector<std::map<std::string, Vec>> reference_state(shapes.size());
  for (int step = 1; step <= 6; ++step) {
    Bindings inputs;
    for (size_t k = 0; k < shapes.size(); ++k) {
      Vec g = gradient(reference_params[k].size(), static_cast<int>(k), step);
      inputs["g" + std::to_string(k)] = Tensor::from_doubles(dtype, shapes[k], g);
      if (dtype == DType::f32)  // the graph sees the gradient rounded to f32
        g = Tensor::from_doubles(dtype, shapes[k], g).to_doubles();
      reference.step(reference_params[k], g, reference_state[k], step);
    }
    interp::run_graph(graph, inputs, state);
    for (size_t k = 0; k < shapes.size(); ++k) {
      std::string name = "p" + std::to_string(k);
      Vec actual = state.at(name).to_doubles();
      for (size_t i = 0; i < actual.size(); ++i)
        EXPECT_NEAR(actual[i], reference_params[k][i],
                    tolerance * std::max(1.0, std::abs(reference_params[k][i])))
            << name << "[" << i << "] after step " << step;
      for (const auto& [key, values] : reference_state[k]) {
        ASSERT_TRUE(state.count(name + "." + key)) << "missing state " << name << "." << key;
        Vec got = state.at(name + "." + key).to_doubles();
        for (size_t i = 0; i < values.size(); ++i)
          EXPECT_NEAR(got[i], values[i], tolerance * std::max(1.0, std::abs(values[i])))
              << name << "." << key << "[" << i << "] after step " << step;
      }
    }
  }
  std::string counter = std::string(nn::optimizer_name(config.kind)) + ".step";
  if (state.count(counter)) {
    EXPECT_EQ(state.at(counter).get(0), 6);
  }
}

const char* const kConfigs[] = {
    "sgd:lr=0.1",
    "sgd:lr=0.05,momentum=0.9",
    "sgd:lr=0.05,momentum=0.8,dampening=0.3,weight_decay=0.01",
    "sgd:lr=0.05,momentum=0.9,nesterov=1,weight_decay=0.1",
    "adagrad",
    "adagrad:lr=0.1,lr_decay=0.05,initial_accumulator_value=0.2,weight_decay=0.01,eps=1e-6",
    "rmsprop",
    "rmsprop:lr=0.003,alpha=0.9,momentum=0.5,centered=1,weight_decay=0.02",
    "adam",
    "adam:lr=0.01,betas=0.8/0.95,eps=1e-6,weight_decay=0.05,amsgrad=1",
};

TEST(Optimizers, MatchTorchOptimInDouble) {
  for (const char* text : kConfigs)
    check_against_reference(OptimizerConfig::parse(text), DType::f64, 1e-12);
}

TEST(Optimizers, MatchTorchOptimInFloat) {
  for (const char* text : kConfigs)
    check_against_reference(OptimizerConfig::parse(text), DType::f32, 2e-5);
}

TEST(Optimizers, StateIsNamedAfterPyTorchKeys) {
  ir::Graph graph;
  Value* p = graph.add_parameter("w", {DType::f32, {3}}, "zeros");
  Value* g = graph.add_input("g", {DType::f32, {3}});
  std::vector<Value*> state =
      nn::append_optimizer(graph, {p}, {g}, OptimizerConfig::parse("adam:amsgrad=1"));
  std::vector<std::string> names;
  for (Value* s : state) names.push_back(s->name());
  EXPECT_EQ(names, (std::vector<std::string>{"w.exp_avg", "w.exp_avg_sq", "w.max_exp_avg_sq",
                                             "adam.step"}));
  ir::Graph adagrad;
  Value* q = adagrad.add_parameter("q", {DType::f64, {2}}, "zeros");
  state = nn::append_optimizer(adagrad, {q}, {adagrad.add_input("g", {DType::f64, {2}})},
                               OptimizerConfig::parse("adagrad:initial_accumulator_value=0.5"));
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0]->producer()->attrs().get_str("init"), "constant:0.5");
}

TEST(Optimizers, RejectMismatchedGradients) {
  ir::Graph graph;
  Value* p = graph.add_parameter("w", {DType::f32, {3}}, "zeros");
  Value* wrong = graph.add_input("g", {DType::f32, {2}});
  EXPECT_THROW(nn::append_optimizer(graph, {p}, {wrong}, OptimizerConfig()), Error);
  EXPECT_THROW(nn::append_optimizer(graph, {p}, {}, OptimizerConfig()), Error);
  EXPECT_THROW(nn::append_optimizer(graph, {p}, {p}, OptimizerConfig::parse("sgd:lr=-1")), Error);
}

TEST(OptimizerConfig, ParsesDefaultsAndOptions) {
  OptimizerConfig adagrad = OptimizerConfig::parse("adagrad:lr=0.1");
  EXPECT_EQ(adagrad.kind, OptimizerKind::adagrad);
  EXPECT_EQ(adagrad.lr, 0.1);
  EXPECT_EQ(adagrad.eps, 1e-10);
  OptimizerConfig adam = OptimizerConfig::parse("adam:betas=0.8/0.99");
  EXPECT_EQ(adam.lr, 1e-3);
  EXPECT_EQ(adam.beta1, 0.8);
  EXPECT_EQ(adam.beta2, 0.99);
  EXPECT_EQ(adam.eps, 1e-8);
  EXPECT_EQ(OptimizerConfig::parse("rmsprop").alpha, 0.99);
  EXPECT_EQ(OptimizerConfig::parse("rmsprop").lr, 0.01);
  OptimizerConfig sgd = OptimizerConfig::parse("sgd:lr=0.1,momentum=0.9,nesterov=true");
  EXPECT_TRUE(sgd.nesterov);
  EXPECT_EQ(sgd.momentum, 0.9);
  for (const char* text : kConfigs) {
    OptimizerConfig parsed = OptimizerConfig::parse(text);
    EXPECT_EQ(OptimizerConfig::parse(parsed.to_string()).to_string(), parsed.to_string());
  }
  EXPECT_EQ(sgd.to_string(), "sgd:lr=0.1,momentum=0.9,nesterov=1");
}

TEST(OptimizerConfig, RejectsUnknownNamesAndBadValues) {
  for (const char* bad : {"adamw", "", "sgd:alpha=0.9", "sgd:lr=abc", "sgd:lr", "sgd:lr=1,",
                          "sgd:nesterov=2", "adam:betas=0.9", "rmsprop:lr=0.1x"}) {
    EXPECT_THROW(OptimizerConfig::parse(bad), Error) << bad;
  }
  try {
    OptimizerConfig::parse("adagrad:momentum=0.9");
    FAIL();
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(),
                 "optimizer 'adagrad:momentum=0.9': adagrad has no option 'momentum'");
  }
}

/// Clips gradients [3, 4] and [12] (global norm 13) at `threshold`.
std::pair<Vec, double> clip(double threshold) {
  ir::Graph graph;
  Value* a = graph.add_input("a", {DType::f64, {2}});
  Value* b = graph.add_input("b", {DType::f64, {}});
  nn::ClippedGradients clipped = nn::clip_by_global_norm(graph, {a, b}, threshold);
  graph.add_output("a", clipped.grads[0]);
  graph.add_output("b", clipped.grads[1]);
  graph.add_output("norm", clipped.norm);
  Bindings state;
  Bindings out = interp::run_graph(
      graph,
      {{"a", Tensor::from_doubles(DType::f64, {2}, {3, 4})}, {"b", Tensor::scalar(DType::f64, 12)}},
      state);
  Vec values = out.at("a").to_doubles();
  values.push_back(out.at("b").get(0));
  return {values, out.at("norm").get(0)};
}

TEST(Clipping, RescalesToThresholdAboveIt) {
  auto [values, norm] = clip(6.5);
  EXPECT_EQ(norm, 13);
  EXPECT_EQ(values, (Vec{1.5, 2, 6}));
  auto [at_threshold, norm_at] = clip(13);
  EXPECT_EQ(at_threshold, (Vec{3, 4, 12}));  // norm >= threshold: rescaled to the same norm
  EXPECT_EQ(norm_at, 13);
}

TEST(Clipping, LeavesGradientsBelowThreshold) {
  auto [values, norm] = clip(13.5);
  EXPECT_EQ(norm, 13);
  EXPECT_EQ(values, (Vec{3, 4, 12}));
  ir::Graph graph;
  Value* g = graph.add_input("g", {DType::f32, {2}});
  EXPECT_THROW(nn::clip_by_global_norm(graph, {g}, 0), Error);
  EXPECT_THROW(nn::clip_by_global_norm(graph, {}, 1), Error);
}

/// A 2 -> 4 -> 1 tanh regression of y = x0 - 2 x1 on 8 fixed points, as one training step.
struct TinyRegression {
  nn::Model model{DType::f32, 5};
  Bindings inputs;
  nn::TrainingStep step;

  explicit TinyRegression(nn::TrainingConfig config) {
    nn::Linear hidden(model, "hidden", 2, 4);
    nn::Linear out(model, "out", 4, 1);
    Value* x = model.input("x", {8, 2});
    Value* loss = nn::mse(out(nn::tanh(hidden(x))), model.input("y", {8, 1}));
    step = nn::make_training_step(model.graph(), loss, config);
    Vec xs, ys;
    for (int i = 0; i < 8; ++i) {
      double a = 0.25 * i - 1, b = std::cos(i);
      xs.insert(xs.end(), {a, b});
      ys.push_back(0.5 * (a - 2 * b));
    }
    inputs = {{"x", Tensor::from_doubles(DType::f32, {8, 2}, xs)},
              {"y", Tensor::from_doubles(DType::f32, {8, 1}, ys)}};
  }
};

TEST(TrainingStep, LossDecreasesWithEveryOptimizer) {
  for (const char* text : {"sgd:lr=0.2", "sgd:lr=0.1,momentum=0.9", "adagrad:lr=0.1",
                           "rmsprop:lr=0.01", "adam:lr=0.02"}) {
    SCOPED_TRACE(text);
    nn::TrainingConfig config;
    config.optimizer = OptimizerConfig::parse(text);
    TinyRegression problem(config);
    Bindings state = initialize_parameters(problem.model.graph());
    std::vector<double> losses;
    for (int step = 0; step < 60; ++step)
      losses.push_back(
          interp::run_graph(problem.model.graph(), problem.inputs, state).at("loss").get(0));
    EXPECT_LT(losses.back(), 0.25 * losses.front());
    EXPECT_LT(losses[1], losses[0]);
  }
}

TEST(TrainingStep, ClipsTheAppliedGradientsAndOutputsTheirNorm) {
  nn::TrainingConfig config;
  config.optimizer = OptimizerConfig::parse("sgd:lr=1");
  config.clip_norm = 1e-3;  // far below the initial gradient norm
  TinyRegression problem(config);
  ir::Graph& graph = problem.model.graph();
  ASSERT_NE(problem.step.grad_norm, nullptr);
  EXPECT_EQ(graph.output("grad_norm"), problem.step.grad_norm);
  for (size_t i = 0; i < problem.step.grads.size(); ++i)
    graph.add_output("grad" + std::to_string(i), problem.step.grads[i]);
  Bindings state = initialize_parameters(graph);
  Bindings before = state;
  Bindings out = interp::run_graph(graph, problem.inputs, state);
  double squares = 0;
  for (size_t i = 0; i < problem.step.grads.size(); ++i)
    for (double g : out.at("grad" + std::to_string(i)).to_doubles()) squares += g * g;
  double norm = out.at("grad_norm").get(0);
  EXPECT_NEAR(norm, std::sqrt(squares), 1e-6 * norm);
  ASSERT_GT(norm, 1e-2);
  for (size_t i = 0; i < problem.step.params.size(); ++i) {
    const std::string& name = problem.step.params[i]->name();
    Vec g = out.at("grad" + std::to_string(i)).to_doubles();
    for (size_t k = 0; k < g.size(); ++k)  // SGD with lr 1: p - threshold * g / norm
      EXPECT_NEAR(state.at(name).get(k), before.at(name).get(k) - 1e-3 * g[k] / norm, 1e-7);
  }
}

TEST(TrainingStep, RejectsNonScalarLossesTakenNamesAndModelsWithoutWeights) {
  nn::Model model;
  nn::Linear fc(model, "fc", 2, 1);
  Value* y = fc(model.input("x", {3, 2}));
  EXPECT_THROW(nn::make_training_step(model.graph(), y, {}), Error);
  Value* mean = ir::build::reduce_mean(y, {0, 1});
  model.output("loss", mean);
  EXPECT_THROW(nn::make_training_step(model.graph(), mean, {}), Error);
  nn::Model empty;
  Value* loss = nn::mse(empty.input("a", {2}), empty.input("b", {2}));
  EXPECT_THROW(nn::make_training_step(empty.graph(), loss, {}), Error);
}

}  // namespace
}  // namespace rnnc
