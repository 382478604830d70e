#pragma once
// The char_lm example's models: one set of parameters (embedding, LSTM, linear head) shared by
// a training step, a held-out evaluation and a one-character sampling step.
#include <cstdint>
#include <string>

#include "frontend/nn.h"

namespace charlm {

/// The command line; the defaults are the lecture's set-up.
struct Options {
  int64_t steps = 3000;
  int64_t batch_size = 32;
  int64_t seq_len = 100;
  int64_t hidden = 256;
  int64_t embedding = 64;
  double lr = 0.002;
  double clip = 5;
  /// Train without teacher forcing: each step after the first reads the model's own
  /// prediction (argmax) of the previous character instead of the true one.
  bool free_running = false;
  int64_t eval_every = 500;  ///< 0: evaluate only at the end
  int64_t val_windows = 0;   ///< held-out windows evaluated, 0: all
  int64_t max_chars = 0;     ///< use only the first N characters of the text, 0: all
  std::string prime = "ROMEO:";
  double temperature = 0.8;
  int64_t sample_length = 200;
  int64_t seed = 1;
  std::string backend;  ///< empty: "cpu" when available, else the interpreter
  std::string data_dir = RNNC_DATA_DIR;
};

/// One Adam step (clipped at options.clip) of the mean cross entropy of predicting y [T, B]
/// from x [T, B] (i32 character ids, time-major): teacher forced, or free running.
rnnc::nn::Model training_model(const Options& options, int64_t characters);

/// Teacher-forced evaluation of batches of windows: inputs x, y [T, B]; output "row_loss" [B],
/// each window's summed cross entropy in nats.
rnnc::nn::Model evaluation_model(const Options& options, int64_t characters);

/// One step of generation: inputs x [1, 1], h0 and c0 [1, 1, H]; outputs "logits" [1, V],
/// "h_n" and "c_n" [1, 1, H].
rnnc::nn::Model sampling_model(const Options& options, int64_t characters);

}  // namespace charlm
