#include "frontend/losses.h"

#include <numeric>
#include <string>

#include "frontend/nn.h"
#include "ir/builder.h"
#include "ir/error.h"

namespace rnnc::nn {

using ir::Value;
namespace build = ir::build;

namespace {

std::string describe(Value* value) {
  return "%" + value->name() + ": " + value->type().to_string();
}

void require_float(Value* value, const std::string& what) {
  if (!ir::is_float(value->dtype()))
    throw Error(what + ": " + describe(value) + " must be f32 or f64");
}

void require_same_type(Value* a, Value* b, const std::string& what) {
  require_float(a, what);
  if (a->type() != b->type())
    throw Error(what + ": " + describe(a) + " and " + describe(b) +
                " must have one type (broadcast or reshape explicitly)");
}

/// Checks that `labels` are i32 of `scores`' shape without its last (class) axis.
void require_labels(Value* scores, Value* labels, const std::string& what) {
  require_float(scores, what);
  if (scores->type().rank() < 1) throw Error(what + ": " + describe(scores) + " has no class axis");
  ir::Shape expected(scores->shape().begin(), scores->shape().end() - 1);
  if (labels->dtype() != ir::DType::i32 || labels->shape() != expected)
    throw Error(what + ": labels " + describe(labels) + " must be " +
                ir::TensorType{ir::DType::i32, expected}.to_string() + " for scores " +
                describe(scores));
}

std::vector<int64_t> axes_from(int64_t first, int64_t rank) {
  std::vector<int64_t> axes(rank > first ? rank - first : 0);
  std::iota(axes.begin(), axes.end(), first);
  return axes;
}

Value* reduce(Value* terms, Reduction reduction) {
  if (reduction == Reduction::none || terms->type().rank() == 0) return terms;
  std::vector<int64_t> all = axes_from(0, terms->type().rank());
  return reduction == Reduction::mean ? build::reduce_mean(terms, all)
                                      : build::reduce_sum(terms, all);
}

}  // namespace

Value* mse(Value* prediction, Value* target, Reduction reduction) {
  require_same_type(prediction, target, "mse");
  Value* difference = build::sub(prediction, target);
  return reduce(build::mul(difference, difference), reduction);
}

Value* bce(Value* probability, Value* target, Reduction reduction) {
  require_same_type(probability, target, "bce");
  Value* one = build::full_like(probability, 1.0);
  Value* floor = build::full_like(probability, -100.0);
  Value* log_p = build::max(build::log(probability), floor);
  Value* log_not_p = build::max(build::log(build::sub(one, probability)), floor);
  Value* likelihood =
      build::add(build::mul(target, log_p), build::mul(build::sub(one, target), log_not_p));
  return reduce(build::neg(likelihood), reduction);
}

Value* bce_with_logits(Value* logits, Value* target, Reduction reduction) {
  require_same_type(logits, target, "bce_with_logits");
  Value* zero = build::full_like(logits, 0.0);
  Value* one = build::full_like(logits, 1.0);
  Value* negative = build::less(logits, zero);
  // max(z, 0) and -|z|, each selected from smooth branches so gradients are exact at z = 0.
  Value* positive_part = build::select(negative, zero, logits);
  Value* minus_abs = build::select(negative, logits, build::neg(logits));
  Value* softplus = build::log(build::add(one, build::exp(minus_abs)));
  Value* terms = build::add(build::sub(positive_part, build::mul(logits, target)), softplus);
  return reduce(terms, reduction);
}

Value* nll(Value* log_probs, Value* labels, Reduction reduction) {
  require_labels(log_probs, labels, "nll");
  int64_t classes = log_probs->shape().back();
  int64_t class_axis = log_probs->type().rank() - 1;
  Value* mask = one_hot(labels, classes, log_probs->dtype());
  Value* picked = build::reduce_sum(build::mul(mask, log_probs), {class_axis});
  return reduce(build::neg(picked), reduction);
}

Value* cross_entropy(Value* logits, Value* labels, Reduction reduction) {
  require_labels(logits, labels, "cross_entropy");
  return nll(log_softmax(logits, -1), labels, reduction);
}

Value* one_hot(Value* labels, int64_t num_classes, ir::DType dtype) {
  if (labels->dtype() != ir::DType::i32)
    throw Error("one_hot: labels " + describe(labels) + " must be i32");
  if (num_classes <= 0) throw Error("one_hot: num_classes must be positive");
  ir::Shape shape = labels->shape();
  int64_t class_axis = static_cast<int64_t>(shape.size());
  shape.push_back(num_classes);
  ir::Graph& graph = build::graph_of(labels);
  Value* classes = graph
                       .add_node(ir::OpKind::Iota, {}, {{"axis", class_axis}},
                                 {ir::TensorType{ir::DType::i32, shape}}, {"classes"})
                       ->result();
  Value* expanded = expand_reduced(labels, shape, class_axis);
  return build::cast(build::equal(classes, expanded), dtype);
}

Value* argmax(Value* x, int64_t axis) {
  axis = normalize_axis(axis, x->type().rank(), "argmax of %" + x->name());
  const ir::Shape& shape = x->shape();
  Value* is_max = build::equal(x, expand_reduced(build::reduce_max(x, {axis}), shape, axis));
  ir::Graph& graph = build::graph_of(x);
  Value* index = graph
                     .add_node(ir::OpKind::Iota, {}, {{"axis", axis}},
                               {ir::TensorType{ir::DType::i32, shape}}, {"index"})
                     ->result();
  Value* past_end = build::full(graph, {ir::DType::i32, shape}, static_cast<double>(shape[axis]));
  // The smallest index where x is maximal: -max(-candidates).
  Value* candidates = build::select(is_max, index, past_end);
  return build::neg(build::reduce_max(build::neg(candidates), {axis}));
}

Value* binary_correct(Value* probability, Value* target) {
  require_same_type(probability, target, "binary_correct");
  if (probability->type().rank() < 1)
    throw Error("binary_correct: " + describe(probability) + " has no example axis");
  Value* half = build::full_like(probability, 0.5);
  Value* predicted = build::greater(probability, half);
  Value* actual = build::greater(target, half);
  return per_example_mean(build::equal(predicted, actual));
}

Value* multiclass_correct(Value* scores, Value* labels) {
  require_labels(scores, labels, "multiclass_correct");
  return build::cast(build::equal(argmax(scores, -1), labels), scores->dtype());
}

Value* per_example_mean(Value* x) {
  require_float(x, "per_example_mean");
  int64_t rank = x->type().rank();
  if (rank == 0) throw Error("per_example_mean: " + describe(x) + " has no example axis");
  if (rank == 1) return x;
  return build::reduce_mean(x, axes_from(1, rank));
}

}  // namespace rnnc::nn
