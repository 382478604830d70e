#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

/// Optimizers and gradient clipping as graph ops: the update of every parameter and of the
/// optimizer's state is appended to the graph and registered with Graph::add_update, so one
/// run of the graph is one whole training step.
namespace rnnc::nn {

/// The optimizers of torch.optim that rnnc reproduces.
enum class OptimizerKind { sgd, adagrad, rmsprop, adam };

/// An optimizer and its hyper-parameters, named and defaulted as in torch.optim (the fields
/// that do not apply to `kind` are ignored). Construct with OptimizerConfig::defaults(kind)
/// or parse().
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  /// Learning rate. torch.optim's defaults: SGD 0.001, Adagrad 0.01, RMSprop 0.01, Adam 0.001.
  double lr = 0.001;
  /// L2 penalty added to the gradient (g + weight_decay * p), all optimizers.
  double weight_decay = 0;
  /// SGD and RMSprop momentum.
  double momentum = 0;
  /// SGD: dampening of the momentum buffer (the first step stores the gradient undamped).
  double dampening = 0;
  /// SGD: Nesterov momentum.
  bool nesterov = false;
  /// Term added to the denominator: Adagrad 1e-10, RMSprop 1e-8, Adam 1e-8.
  double eps = 1e-8;
  /// RMSprop smoothing constant.
  double alpha = 0.99;
  /// RMSprop: normalize by the centered second moment (an estimate of the variance).
  bool centered = false;
  /// Adam's betas.
  double beta1 = 0.9;
  double beta2 = 0.999;
  /// Adam: AMSGrad variant (denominator from the running maximum of the second moment).
  bool amsgrad = false;
  /// Adagrad: starting value of the sum of squared gradients.
  double initial_accumulator_value = 0;
  /// Adagrad: learning rate decay, lr / (1 + (step - 1) * lr_decay).
  double lr_decay = 0;

  /// torch.optim's defaults for `kind`.
  static OptimizerConfig defaults(OptimizerKind kind);
  /// Parses "NAME" or "NAME:key=value,key=value" (e.g. "adagrad:lr=0.1",
  /// "adam:lr=1e-3,betas=0.9/0.98", "sgd:lr=0.1,momentum=0.9,nesterov=1"), starting from
  /// defaults(NAME). Keys are the field names (and "betas"); only those that apply to NAME are
  /// accepted. Throws rnnc::Error naming the unknown optimizer, key or malformed value.
  static OptimizerConfig parse(std::string_view text);
  /// The canonical text form, which parse() reads back: "sgd:lr=0.1,momentum=0.9".
  std::string to_string() const;
};

/// "sgd", "adagrad", "rmsprop", "adam".
std::string_view optimizer_name(OptimizerKind kind);

/// Appends `config`'s update of every parameter in `params` given its gradient in `grads`
/// (same order and types) and registers it with Graph::add_update, together with the update
/// of the optimizer's state. The state is made of Parameters with role "state", named after
/// PyTorch's state keys ("<param>.momentum_buffer", "<param>.sum", "<param>.square_avg",
/// "<param>.grad_avg", "<param>.exp_avg", "<param>.exp_avg_sq", "<param>.max_exp_avg_sq")
/// and initialized "zeros" (Adagrad's sum: "constant:<initial_accumulator_value>"); Adam,
/// Adagrad with lr_decay and SGD with dampening also keep a scalar step counter
/// "<optimizer>.step" counting the steps taken. Returns the state values it added. The update
/// formulas are exactly torch.optim's (single-tensor, non-foreach forms). Throws rnnc::Error
/// when params and grads differ in number or type, or a hyper-parameter is out of range.
std::vector<ir::Value*> append_optimizer(ir::Graph& graph, const std::vector<ir::Value*>& params,
                                         const std::vector<ir::Value*>& grads,
                                         const OptimizerConfig& config);

/// Gradients after clipping by global norm, and that norm.
struct ClippedGradients {
  std::vector<ir::Value*> grads;
  /// sqrt of the sum of every squared element of every gradient (before clipping), a scalar.
  ir::Value* norm;
};

/// Clipping by global norm as the lecture defines it: with norm = sqrt(sum of all squared
/// gradient elements), when norm >= threshold every gradient g becomes threshold * g / norm;
/// otherwise the gradients are unchanged (a select, so the graph has no control flow).
/// Throws rnnc::Error when `grads` is empty, mixes dtypes, or threshold <= 0.
ClippedGradients clip_by_global_norm(ir::Graph& graph, const std::vector<ir::Value*>& grads,
                                     double threshold);

}  // namespace rnnc::nn
