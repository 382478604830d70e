#pragma once
#include <cstdint>

#include "ir/graph.h"

/// Losses and metrics of rnnc::nn, built from IR primitives. Every loss follows PyTorch's
/// definition and its `reduction` argument; the default is the scalar mean that training
/// differentiates. Shape and dtype mistakes throw rnnc::Error naming the loss and the types.
namespace rnnc::nn {

/// How a loss combines its terms, as PyTorch's `reduction`: the mean or the sum of all terms
/// (a scalar), or none (the terms themselves: one per element for elementwise losses, one per
/// label for the classification losses).
enum class Reduction { mean, sum, none };

/// Squared error (prediction - target)^2, as torch.nn.MSELoss; both of one float type.
ir::Value* mse(ir::Value* prediction, ir::Value* target, Reduction reduction = Reduction::mean);

/// Binary cross entropy on probabilities, as torch.nn.BCELoss:
/// -(t log p + (1 - t) log(1 - p)), each log clamped below at -100 as PyTorch does, so that
/// p = 0 or 1 gives a finite loss.
ir::Value* bce(ir::Value* probability, ir::Value* target, Reduction reduction = Reduction::mean);

/// Binary cross entropy on logits z, as torch.nn.BCEWithLogitsLoss, in the stable form
/// max(z, 0) - z t + log(1 + exp(-|z|)). Built from two smooth branches chosen by the sign of
/// z, so no intermediate overflows and the gradient is sigmoid(z) - t everywhere (z = 0
/// included).
ir::Value* bce_with_logits(ir::Value* logits, ir::Value* target,
                           Reduction reduction = Reduction::mean);

/// Cross entropy of float `logits` [..., C] against i32 class `labels` [...] (the logits'
/// shape without the class axis, which is last), as torch.nn.CrossEntropyLoss:
/// -log_softmax(logits)[label]. Labels must lie in [0, C); the graph does not check them
/// (an out-of-range label selects no class and contributes 0).
ir::Value* cross_entropy(ir::Value* logits, ir::Value* labels,
                         Reduction reduction = Reduction::mean);

/// Negative log likelihood of log-probabilities [..., C] against i32 labels [...], as
/// torch.nn.NLLLoss: -log_probs[label].
ir::Value* nll(ir::Value* log_probs, ir::Value* labels, Reduction reduction = Reduction::mean);

/// One-hot encoding of i32 `labels` [...] as `dtype` [..., num_classes] (iota == label):
/// a row of zeros for a label outside [0, num_classes).
ir::Value* one_hot(ir::Value* labels, int64_t num_classes, ir::DType dtype);

/// The index of the largest element along `axis` (negative counts from the end), as i32 with
/// that axis removed. Ties give the first (smallest) index, as torch.argmax on CPU does.
ir::Value* argmax(ir::Value* x, int64_t axis = -1);

/// Per-example correctness of a binary classifier: 1 where (probability > 0.5) equals
/// (target > 0.5), else 0, in the probability's dtype. probability and target have one shape
/// [B, ...]; the result is [B], the mean over any trailing dimensions (for the usual [B, 1]
/// output: exactly 0 or 1 per example).
ir::Value* binary_correct(ir::Value* probability, ir::Value* target);

/// Per-example correctness of a multi-class classifier: 1 where argmax(scores, last axis)
/// equals the i32 label, else 0, in the scores' dtype and the labels' shape. With tied
/// maximal scores the first tied class is the prediction (see argmax).
ir::Value* multiclass_correct(ir::Value* scores, ir::Value* labels);

/// The mean of `x` over every axis but the first: [B, ...] -> [B]. Turns an unreduced loss
/// (Reduction::none) into the per-example loss an evaluation graph outputs.
ir::Value* per_example_mean(ir::Value* x);

}  // namespace rnnc::nn
