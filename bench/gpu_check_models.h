#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

/// The libraries `scripts/gpu-check prepare` compiles for the GPU: the lecture's models
/// (examples/models/NAME.forward.rnn with NAME.train.rnn) and the benchmark shapes of
/// ../shared/ANCHORS.md (LSTM and GRU, modes infer, fwdbwd and train as bench/rnnc_rnn.cpp
/// builds them), each with the inputs of one call.
namespace rnnc::gpu_check {

/// One library to build, check and time.
struct CheckModel {
  std::string name;          ///< the library's name (a C identifier)
  std::string mode;          ///< "model" (a lecture model), "infer", "fwdbwd" or "train"
  std::string cell, config;  ///< benchmarks: "lstm"/"gru" and "tiny", "medium", ...
  int64_t E = 0, H = 0, B = 0, T = 0;
  std::unique_ptr<ir::Graph> forward;
  std::unique_ptr<ir::Graph> train;  ///< the training step, or null
  Bindings forward_inputs, train_inputs;
  bool check = false;  ///< small enough to store reference inputs and outputs
};

/// The lecture model examples/models/STEM.forward.rnn (+ STEM.train.rnn) under `models_dir`,
/// with random inputs (floats in [-1, 1); integers valid as the graph uses them: gather
/// indices below the table's rows, sequence lengths in [1, T], others 0 or 1).
CheckModel lecture_model(const std::string& models_dir, const std::string& stem);

/// A benchmark library: `cell` ("lstm", "gru"), configuration NAME:E:H:B:T, `mode` ("infer",
/// "fwdbwd", "train"), built as bench/rnnc_rnn.cpp builds it. The train mode's forward entry
/// is the model's logits; its training step is the whole step.
CheckModel benchmark_model(const std::string& cell, const std::string& config,
                           const std::string& mode);

}  // namespace rnnc::gpu_check
