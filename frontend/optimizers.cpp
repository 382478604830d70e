#include "frontend/optimizers.h"

#include <cstdio>
#include <string>

#include "ir/builder.h"
#include "ir/error.h"

namespace rnnc::nn {

using ir::Value;
namespace build = ir::build;

namespace {

/// A constant of x's type with every element `value`.
Value* fill(Value* x, double value) { return build::full_like(x, value); }

/// x * value (x itself when value is 1).
Value* scale(Value* x, double value) { return value == 1.0 ? x : build::mul(x, fill(x, value)); }

/// The scalar `s` broadcast to x's shape.
Value* spread(Value* s, Value* x) { return build::broadcast(s, x->shape()); }

/// Appends the whole update for one optimizer. Holds what every parameter's update shares.
class UpdateBuilder {
 public:
  UpdateBuilder(ir::Graph& graph, const OptimizerConfig& config, ir::DType dtype)
      : graph_(graph), config_(config), dtype_(dtype) {}

  /// The optimizer's step counter after this step (1 on the first step), creating it and
  /// registering its update on first use.
  Value* step() {
    if (!next_step_) {
      Value* counter = graph_.add_parameter(std::string(optimizer_name(config_.kind)) + ".step",
                                            {dtype_, {}}, "zeros", 0, "state");
      states_.push_back(counter);
      next_step_ = build::add(counter, fill(counter, 1.0));
      graph_.add_update(counter, next_step_);
    }
    return next_step_;
  }

  /// A state tensor of p's type named "<p>.<key>", initialized by `init`.
  Value* state(Value* p, const std::string& key, const std::string& init = "zeros") {
    Value* value = graph_.add_parameter(p->name() + "." + key, p->type(), init, 0, "state");
    states_.push_back(value);
    return value;
  }

  /// Registers the new value of a parameter or state.
  void update(Value* target, Value* new_value) { graph_.add_update(target, new_value); }

  void sgd(Value* p, Value* g) {
    const OptimizerConfig& c = config_;
    if (c.weight_decay != 0) g = build::add(g, scale(p, c.weight_decay));
    if (c.momentum != 0) {
      Value* buffer = state(p, "momentum_buffer");
      Value* accumulated = build::add(scale(buffer, c.momentum), scale(g, 1.0 - c.dampening));
      if (c.dampening != 0) {
        // torch.optim stores the first step's gradient undamped.
        Value* first = build::equal(step(), build::scalar(graph_, dtype_, 1.0));
        accumulated = build::select(spread(first, g), g, accumulated);
      }
      update(buffer, accumulated);
      g = c.nesterov ? build::add(g, scale(accumulated, c.momentum)) : accumulated;
    }
    update(p, build::sub(p, scale(g, c.lr)));
  }

  void adagrad(Value* p, Value* g) {
    const OptimizerConfig& c = config_;
    if (c.weight_decay != 0) g = build::add(g, scale(p, c.weight_decay));
    Value* sum = state(p, "sum", "constant:" + format_number(c.initial_accumulator_value));
    Value* new_sum = build::add(sum, build::mul(g, g));
    update(sum, new_sum);
    Value* std = build::add(build::sqrt(new_sum), fill(new_sum, c.eps));
    Value* step_size = nullptr;  // -clr as a scalar, or constant when lr_decay is 0
    if (c.lr_decay != 0) {
      Value* s = step();
      Value* one = build::scalar(graph_, dtype_, 1.0);
      Value* decay = build::add(
          one, build::mul(build::sub(s, one), build::scalar(graph_, dtype_, c.lr_decay)));
      step_size = spread(build::div(build::scalar(graph_, dtype_, c.lr), decay), p);
    } else {
      step_size = fill(p, c.lr);
    }
    update(p, build::sub(p, build::mul(step_size, build::div(g, std))));
  }

  void rmsprop(Value* p, Value* g) {
    const OptimizerConfig& c = config_;
    if (c.weight_decay != 0) g = build::add(g, scale(p, c.weight_decay));
    Value* square_avg = state(p, "square_avg");
    Value* new_square_avg =
        build::add(scale(square_avg, c.alpha), scale(build::mul(g, g), 1.0 - c.alpha));
    update(square_avg, new_square_avg);
    Value* variance = new_square_avg;
    if (c.centered) {
      Value* grad_avg = state(p, "grad_avg");
      Value* new_grad_avg = build::add(scale(grad_avg, c.alpha), scale(g, 1.0 - c.alpha));
      update(grad_avg, new_grad_avg);
      variance = build::sub(new_square_avg, build::mul(new_grad_avg, new_grad_avg));
    }
    Value* avg = build::add(build::sqrt(variance), fill(variance, c.eps));
    if (c.momentum > 0) {
      Value* buffer = state(p, "momentum_buffer");
      Value* new_buffer = build::add(scale(buffer, c.momentum), build::div(g, avg));
      update(buffer, new_buffer);
      update(p, build::sub(p, scale(new_buffer, c.lr)));
    } else {
      update(p, build::sub(p, scale(build::div(g, avg), c.lr)));
    }
  }

  void adam(Value* p, Value* g) {
    const OptimizerConfig& c = config_;
    if (c.weight_decay != 0) g = build::add(g, scale(p, c.weight_decay));
    Value* exp_avg = state(p, "exp_avg");
    Value* exp_avg_sq = state(p, "exp_avg_sq");
    Value* new_exp_avg = build::add(scale(exp_avg, c.beta1), scale(g, 1.0 - c.beta1));
    Value* new_exp_avg_sq =
        build::add(scale(exp_avg_sq, c.beta2), scale(build::mul(g, g), 1.0 - c.beta2));
    update(exp_avg, new_exp_avg);
    update(exp_avg_sq, new_exp_avg_sq);
    Value* second = new_exp_avg_sq;
    if (c.amsgrad) {
      Value* max_sq = state(p, "max_exp_avg_sq");
      second = build::max(max_sq, new_exp_avg_sq);
      update(max_sq, second);
    }
    // Bias corrections 1 - beta^step, as scalars shared by the parameter's elements.
    Value* s = step();
    Value* one = build::scalar(graph_, dtype_, 1.0);
    Value* correction1 = build::sub(one, build::pow(build::scalar(graph_, dtype_, c.beta1), s));
    Value* correction2 = build::sub(one, build::pow(build::scalar(graph_, dtype_, c.beta2), s));
    Value* step_size = build::div(build::scalar(graph_, dtype_, c.lr), correction1);
    Value* denominator = build::add(
        build::div(build::sqrt(second), spread(build::sqrt(correction2), p)), fill(p, c.eps));
    update(p,
           build::sub(p, build::mul(spread(step_size, p), build::div(new_exp_avg, denominator))));
  }

  const std::vector<Value*>& states() const { return states_; }

  static std::string format_number(double value);

 private:
  ir::Graph& graph_;
  const OptimizerConfig& config_;
  ir::DType dtype_;
  Value* next_step_ = nullptr;
  std::vector<Value*> states_;
};

std::string UpdateBuilder::format_number(double value) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

void check_range(bool ok, const std::string& what, double value) {
  if (!ok) throw Error("optimizer: invalid " + what + " " + UpdateBuilder::format_number(value));
}

void validate(const OptimizerConfig& c) {
  check_range(c.lr >= 0, "lr", c.lr);
  check_range(c.weight_decay >= 0, "weight_decay", c.weight_decay);
  check_range(c.momentum >= 0, "momentum", c.momentum);
  check_range(c.eps >= 0, "eps", c.eps);
  check_range(c.alpha >= 0 && c.alpha <= 1, "alpha", c.alpha);
  check_range(c.beta1 >= 0 && c.beta1 < 1, "beta1", c.beta1);
  check_range(c.beta2 >= 0 && c.beta2 < 1, "beta2", c.beta2);
  check_range(c.lr_decay >= 0, "lr_decay", c.lr_decay);
  check_range(c.initial_accumulator_value >= 0, "initial_accumulator_value",
              c.initial_accumulator_value);
  if (c.kind == OptimizerKind::sgd && c.nesterov && (c.momentum <= 0 || c.dampening != 0))
    throw Error("optimizer: Nesterov momentum requires a momentum and zero dampening");
}

}  // namespace

std::vector<Value*> append_optimizer(ir::Graph& graph, const std::vector<Value*>& params,
                                     const std::vector<Value*>& grads,
                                     const OptimizerConfig& config) {
  validate(config);
  if (params.size() != grads.size())
    throw Error("optimizer: " + std::to_string(params.size()) + " parameters but " +
                std::to_string(grads.size()) + " gradients");
  if (params.empty()) return {};
  UpdateBuilder builder(graph, config, params[0]->dtype());
  for (size_t i = 0; i < params.size(); ++i) {
    Value* p = params[i];
    Value* g = grads[i];
    if (p->producer()->kind() != ir::OpKind::Parameter)
      throw Error("optimizer: %" + p->name() + " is not a parameter");
    if (p->type() != g->type() || p->dtype() != params[0]->dtype())
      throw Error("optimizer: gradient %" + g->name() + " (" + g->type().to_string() +
                  ") does not match parameter %" + p->name() + " (" + p->type().to_string() +
                  ") or the other parameters' dtype");
    switch (config.kind) {
      case OptimizerKind::sgd:
        builder.sgd(p, g);
        break;
      case OptimizerKind::adagrad:
        builder.adagrad(p, g);
        break;
      case OptimizerKind::rmsprop:
        builder.rmsprop(p, g);
        break;
      case OptimizerKind::adam:
        builder.adam(p, g);
        break;
    }
  }
  return builder.states();
}

ClippedGradients clip_by_global_norm(ir::Graph& graph, const std::vector<Value*>& grads,
                                     double threshold) {
  if (grads.empty()) throw Error("clip_by_global_norm: no gradients");
  if (!(threshold > 0))
    throw Error("clip_by_global_norm: threshold must be positive, got " +
                UpdateBuilder::format_number(threshold));
  ir::DType dtype = grads[0]->dtype();
  Value* sum_of_squares = nullptr;
  for (Value* g : grads) {
    if (g->dtype() != dtype || !ir::is_float(dtype))
      throw Error("clip_by_global_norm: gradient %" + g->name() + " is " + g->type().to_string() +
                  ", expected " + std::string(ir::dtype_name(dtype)));
    Value* squares = build::mul(g, g);
    std::vector<int64_t> axes(g->type().rank());
    for (size_t a = 0; a < axes.size(); ++a) axes[a] = static_cast<int64_t>(a);
    Value* sum = axes.empty() ? squares : build::reduce_sum(squares, axes);
    sum_of_squares = sum_of_squares ? build::add(sum_of_squares, sum) : sum;
  }
  ClippedGradients result;
  result.norm = build::sqrt(sum_of_squares);
  Value* limit = build::scalar(graph, dtype, threshold);
  Value* below = build::less(result.norm, limit);
  Value* factor = build::div(limit, result.norm);
  for (Value* g : grads)
    result.grads.push_back(build::select(spread(below, g), g, build::mul(g, spread(factor, g))));
  return result;
}

}  // namespace rnnc::nn
