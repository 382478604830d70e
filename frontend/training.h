#pragma once
#include <optional>
#include <vector>

#include "frontend/optimizers.h"
#include "ir/graph.h"

/// Turning a model's loss into one training step: a single graph that computes the loss, its
/// gradients (symbolically, passes/autodiff), optionally clips them by global norm, and
/// updates every parameter and optimizer state. A forward/evaluation graph is built by
/// calling the same model-building code into another nn::Model: parameter names match, so
/// the Bindings from initialize_parameters(training graph) serve both graphs.
namespace rnnc::nn {

/// What a training step does besides differentiating the loss.
struct TrainingConfig {
  OptimizerConfig optimizer = OptimizerConfig::defaults(OptimizerKind::sgd);
  /// When set, gradients are clipped by global norm at this threshold (clip_by_global_norm)
  /// and the graph outputs the norm before clipping as "grad_norm".
  std::optional<double> clip_norm;
  /// The parameters to train; empty means every weight of the graph (nn::weights).
  std::vector<ir::Value*> params;
};

/// The values make_training_step appended, for inspection and tests.
struct TrainingStep {
  std::vector<ir::Value*> params;
  /// d loss / d param, before clipping.
  std::vector<ir::Value*> grads;
  /// The gradients the optimizer used (the clipped ones when clipping).
  std::vector<ir::Value*> applied_grads;
  /// Global gradient norm, or null without clipping.
  ir::Value* grad_norm = nullptr;
  /// The optimizer state parameters added.
  std::vector<ir::Value*> optimizer_state;
};

/// Makes `graph` one training step of `loss` (a float scalar of `graph`): appends the
/// gradients with respect to the trained parameters, clipping, and the optimizer's updates;
/// adds output "loss" (and "grad_norm" when clipping). Outputs already there (a per-example
/// "correct", say) stay. Throws rnnc::Error when the loss is not a float scalar, there is
/// nothing to train, or the names "loss"/"grad_norm" are taken.
TrainingStep make_training_step(ir::Graph& graph, ir::Value* loss, const TrainingConfig& config);

}  // namespace rnnc::nn
