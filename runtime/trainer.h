#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/dataset.h"
#include "runtime/executable.h"
#include "runtime/tensor.h"

namespace rnnc {

/// How a Trainer runs.
struct TrainerConfig {
  int64_t epochs = 10;
  /// Examples per training step: the batch dimension of the training graph's inputs.
  int64_t batch_size = 32;
  /// Examples per evaluation run (the evaluation graph's batch dimension); 0: batch_size.
  int64_t eval_batch_size = 0;
  /// Seeds the per-epoch shuffles (epoch e shuffles with a seed derived from seed and e).
  uint64_t seed = 0;
  bool shuffle = true;
  /// Early stopping: stop after this many epochs without a better dev accuracy; 0 never
  /// stops early. Needs a dev set.
  int64_t patience = 0;
  /// At the end of fit() with a dev set, put back the state of the epoch with the best dev
  /// accuracy (the earliest among equals).
  bool restore_best = true;
  /// Report each epoch (and the dropped partial batch) through `printer`.
  bool verbose = false;
  /// Receives each report line (without newline); null prints to stdout.
  std::function<void(const std::string&)> printer;
};

/// What one epoch measured.
struct EpochRecord {
  int64_t epoch = 0;  ///< 1-based
  /// Mean of the training graph's "loss" output over the epoch's batches.
  double train_loss = 0;
  /// Fraction of the epoch's trained examples that the training graph's per-example
  /// "correct" output marks correct; NaN when the training graph has no such output.
  double train_accuracy = 0;
  /// Accuracy and mean per-example loss on the dev set after the epoch; NaN without one
  /// (dev_loss also NaN when the evaluation graph has no "example_loss").
  double dev_accuracy = 0;
  double dev_loss = 0;
};

/// The course of one fit().
struct FitResult {
  std::vector<EpochRecord> epochs;
  /// 1-based epoch whose dev accuracy was best (0 without a dev set).
  int64_t best_epoch = 0;
  double best_dev_accuracy = 0;
  /// Patience ran out before the last configured epoch.
  bool stopped_early = false;
  /// A training loss was NaN or infinite; training stopped at that epoch.
  bool diverged = false;
  /// Examples left out of every epoch because they do not fill a last batch.
  int64_t dropped_per_epoch = 0;
};

/// Accuracy and loss of a model over a whole dataset.
struct Evaluation {
  double accuracy = 0;
  /// Mean per-example loss; NaN when the evaluation graph has no "example_loss" output.
  double loss = 0;
  int64_t examples = 0;
};

/// Minibatch training with per-epoch evaluation and early stopping, over two executables of
/// one model: the training step (inputs: dataset columns of batch_size rows; outputs "loss"
/// and optionally per-example "correct"; updates the parameters and optimizer state) and
/// the evaluation graph (inputs: dataset columns of eval_batch_size rows; outputs per-example
/// "correct" [B] and optionally "example_loss" [B]). Dataset column names must be the
/// graphs' input names; extra columns are ignored.
class Trainer {
 public:
  /// Keeps references to both executables, which must outlive the trainer.
  Trainer(Executable& train_step, Executable& evaluate, TrainerConfig config);

  /// Trains on `train` for config.epochs epochs, each a fresh (seeded) shuffle cut into full
  /// batches (the last partial batch is dropped, and said so when verbose), evaluating on
  /// `dev` after each epoch when given. `state` holds every parameter and optimizer state
  /// and receives their final values. Throws rnnc::Error when `train` has fewer examples
  /// than one batch, or when patience is set without a dev set.
  FitResult fit(Bindings& state, const Dataset& train, const Dataset* dev = nullptr);

  /// Evaluates on every example of `data` exactly once: batches in order, the last one
  /// zero-padded, only real rows counted. `state` is passed to the evaluation executable
  /// and left unchanged (the evaluation graph updates nothing).
  Evaluation evaluate(Bindings& state, const Dataset& data);

  const TrainerConfig& config() const { return config_; }

 private:
  /// Sends `line` to the printer (or stdout) when verbose.
  void report(const std::string& line) const;

  Executable& train_step_;
  Executable& evaluate_;
  TrainerConfig config_;
};

}  // namespace rnnc
