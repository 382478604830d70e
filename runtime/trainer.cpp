#include "runtime/trainer.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include "ir/error.h"

namespace rnnc {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// The seed of epoch `epoch`'s shuffle: a splitmix64 step of the base seed and the epoch.
uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(epoch + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The output `name` of `outputs`, checked to be a vector of at least `rows` elements.
const Tensor* per_example(const Bindings& outputs, const std::string& name, int64_t rows,
                          bool required) {
  auto it = outputs.find(name);
  if (it == outputs.end()) {
    if (required) throw Error("trainer: the evaluation graph has no output '" + name + "'");
    return nullptr;
  }
  const Tensor& tensor = it->second;
  if (tensor.shape().size() != 1 || tensor.shape()[0] < rows)
    throw Error("trainer: output '" + name + "' is " + tensor.type().to_string() +
                ", expected one value per example of the batch");
  return &tensor;
}

double sum_first(const Tensor& tensor, int64_t rows) {
  double total = 0;
  for (int64_t i = 0; i < rows; ++i) total += tensor.get(i);
  return total;
}

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

}  // namespace

Trainer::Trainer(Executable& train_step, Executable& evaluate, TrainerConfig config)
    : train_step_(train_step), evaluate_(evaluate), config_(std::move(config)) {
  if (config_.batch_size <= 0) throw Error("trainer: batch size must be positive");
  if (config_.eval_batch_size == 0) config_.eval_batch_size = config_.batch_size;
  if (config_.eval_batch_size < 0) throw Error("trainer: eval batch size must be positive");
  if (config_.epochs < 0 || config_.patience < 0)
    throw Error("trainer: epochs and patience must not be negative");
}

void Trainer::report(const std::string& line) const {
  if (!config_.verbose) return;
  if (config_.printer)
    config_.printer(line);
  else
    std::cout << line << std::endl;
}

Evaluation Trainer::evaluate(Bindings& state, const Dataset& data) {
  Evaluation result;
  double correct = 0, loss = 0;
  bool has_loss = true;
  for (const auto& rows : make_batches(data.size(), config_.eval_batch_size, false, 0, false)) {
    auto real = static_cast<int64_t>(rows.size());
    Bindings outputs = evaluate_.run(data.batch(rows, config_.eval_batch_size), state);
    correct += sum_first(*per_example(outputs, "correct", real, true), real);
    const Tensor* example_loss = per_example(outputs, "example_loss", real, false);
    if (example_loss)
      loss += sum_first(*example_loss, real);
    else
      has_loss = false;
    result.examples += real;
  }
  result.accuracy = result.examples ? correct / static_cast<double>(result.examples) : kNaN;
  result.loss = has_loss && result.examples ? loss / static_cast<double>(result.examples) : kNaN;
  return result;
}

FitResult Trainer::fit(Bindings& state, const Dataset& train, const Dataset* dev) {
  if (train.size() < config_.batch_size)
    throw Error("trainer: " + std::to_string(train.size()) +
                " training examples do not fill one batch of " +
                std::to_string(config_.batch_size));
  if (config_.patience > 0 && !dev) throw Error("trainer: early stopping needs a dev set");
  FitResult result;
  result.dropped_per_epoch = train.size() % config_.batch_size;
  if (result.dropped_per_epoch)
    report("trainer: dropping the last partial batch of each epoch (" +
           std::to_string(result.dropped_per_epoch) + " of " + std::to_string(train.size()) +
           " examples, a different subset each shuffled epoch)");
  Bindings best_state;
  int64_t epochs_without_gain = 0;
  for (int64_t epoch = 1; epoch <= config_.epochs; ++epoch) {
    EpochRecord record;
    record.epoch = epoch;
    double loss_sum = 0, correct = 0;
    int64_t batches = 0, examples = 0;
    bool has_correct = true;
    for (const auto& rows : make_batches(train.size(), config_.batch_size, config_.shuffle,
                                         epoch_seed(config_.seed, epoch), true)) {
      Bindings outputs = train_step_.run(train.batch(rows, config_.batch_size), state);
      auto loss = outputs.find("loss");
      if (loss == outputs.end() || loss->second.num_elements() != 1)
        throw Error("trainer: the training graph has no scalar output 'loss'");
      loss_sum += loss->second.get(0);
      const Tensor* batch_correct = per_example(outputs, "correct", config_.batch_size, false);
      if (batch_correct)
        correct += sum_first(*batch_correct, config_.batch_size);
      else
        has_correct = false;
      ++batches;
      examples += config_.batch_size;
    }
    record.train_loss = loss_sum / static_cast<double>(batches);
    record.train_accuracy = has_correct ? correct / static_cast<double>(examples) : kNaN;
    record.dev_accuracy = record.dev_loss = kNaN;
    if (dev) {
      Evaluation evaluation = evaluate(state, *dev);
      record.dev_accuracy = evaluation.accuracy;
      record.dev_loss = evaluation.loss;
    }
    result.epochs.push_back(record);
    std::string line =
        "epoch " + std::to_string(epoch) + ": train loss " + format("%.6f", record.train_loss);
    if (has_correct) line += ", train accuracy " + format("%.4f", record.train_accuracy);
    if (dev) line += ", dev accuracy " + format("%.4f", record.dev_accuracy);
    report(line);
    if (!std::isfinite(record.train_loss)) {
      result.diverged = true;
      report("trainer: the training loss is not finite; stopping");
      break;
    }
    if (!dev) continue;
    if (result.best_epoch == 0 || record.dev_accuracy > result.best_dev_accuracy) {
      result.best_epoch = epoch;
      result.best_dev_accuracy = record.dev_accuracy;
      if (config_.restore_best) best_state = state;
      epochs_without_gain = 0;
    } else if (config_.patience > 0 && ++epochs_without_gain >= config_.patience) {
      result.stopped_early = epoch < config_.epochs;
      report("trainer: no better dev accuracy for " + std::to_string(config_.patience) +
             " epochs; stopping");
      break;
    }
  }
  if (dev && config_.restore_best && result.best_epoch > 0) {
    state = std::move(best_state);
    report("trainer: restored the parameters of epoch " + std::to_string(result.best_epoch));
  }
  return result;
}

}  // namespace rnnc
