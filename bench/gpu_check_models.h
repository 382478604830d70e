#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

/// The libraries `scripts/gpu-check prepare` compiles for the GPU: the lecture's models
/// (examples/models/NAME.forward.rnn with NAME.train.rnn) and the benchmark shapes of
/// ../shared/ANCHORS.md (LSTM and GRU, modes infer, fwdbwd and train as bench/rnnc_rnn.cpp
/// builds them), each with the inputs of one call and its parameters' starting values.
///
/// Float inputs and weights are not shipped to the GPU machine: they are generated values
/// (generated_values) that the checker makes again from their names (gc_generate in
/// gpu_check_common.c), so that the folder holds only what the checker cannot remake.
namespace rnnc::gpu_check {

/// One library to build, check and time.
struct CheckModel {
  std::string name;          ///< the library's name (a C identifier)
  std::string mode;          ///< "model" (a lecture model), "infer", "fwdbwd" or "train"
  std::string cell, config;  ///< benchmarks: "lstm"/"gru" and "tiny", "medium", ...
  int64_t E = 0, H = 0, B = 0, T = 0;
  std::unique_ptr<ir::Graph> forward;
  std::unique_ptr<ir::Graph> train;  ///< the training step, or null
  /// The inputs of one call of each entry: floats generated ("forward.in.NAME",
  /// "train.in.NAME", scale 1), integers valid as the graph uses them.
  Bindings forward_inputs, train_inputs;
  /// Per generated parameter (the floating-point weights), the scale of its generated values
  /// "init.NAME": its initializer's largest magnitude rounded up to a power of two.
  std::map<std::string, double> generated_scales;
  /// Checked models: every parameter's starting values by name, the generated ones for the
  /// weights and rnnc's initializers' for the rest (optimizer state). Empty otherwise.
  Bindings initial;
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

/// The generated values of the array `name` (f32 or f64 `type`), as gc_generate makes them:
/// a xorshift64 generator seeded with the FNV-1a hash of the name gives per element a
/// 24-bit integer v in [-2^23, 2^23), and the element is v * scale / 2^23. With `scale` a
/// power of two (or 0) every value is exact in f32, so both sides agree bit for bit.
Tensor generated_values(const std::string& name, const ir::TensorType& type, double scale);

}  // namespace rnnc::gpu_check
