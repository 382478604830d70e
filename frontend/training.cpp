#include "frontend/training.h"

#include "frontend/nn.h"
#include "ir/error.h"
#include "passes/autodiff.h"

namespace rnnc::nn {

TrainingStep make_training_step(ir::Graph& graph, ir::Value* loss, const TrainingConfig& config) {
  if (loss->producer()->owner() != &graph)
    throw Error("make_training_step: loss %" + loss->name() + " belongs to another graph");
  if (!ir::is_float(loss->dtype()) || loss->type().rank() != 0)
    throw Error("make_training_step: loss %" + loss->name() + " is " + loss->type().to_string() +
                ", expected a float scalar");
  TrainingStep step;
  step.params = config.params.empty() ? weights(graph) : config.params;
  if (step.params.empty()) throw Error("make_training_step: the graph has no weights to train");
  for (ir::Value* p : step.params)
    if (p->producer()->owner() != &graph || p->producer()->kind() != ir::OpKind::Parameter)
      throw Error("make_training_step: %" + p->name() + " is not a parameter of this graph");

  graph.add_output("loss", loss);
  step.grads = passes::append_gradients(graph, loss, step.params);
  step.applied_grads = step.grads;
  if (config.clip_norm) {
    ClippedGradients clipped = clip_by_global_norm(graph, step.grads, *config.clip_norm);
    step.applied_grads = clipped.grads;
    step.grad_norm = clipped.norm;
    graph.add_output("grad_norm", clipped.norm);
  }
  step.optimizer_state = append_optimizer(graph, step.params, step.applied_grads, config.optimizer);
  return step;
}

}  // namespace rnnc::nn
