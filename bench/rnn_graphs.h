#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "ir/graph.h"
#include "runtime/tensor.h"

/// The benchmark's graphs (bench/README.md), built once for rnnc_rnn (the CPU benchmark) and
/// for the GPU check's libraries (gpu_check_models.h).
namespace rnnc::bench {

/// A benchmark shape: input size E, hidden size H, batch B, sequence length T.
struct RnnShape {
  int64_t input = 0, hidden = 0, batch = 0, steps = 0;
};

/// How the train mode's model is made.
struct RnnGraphOptions {
  bool embedding = true;       ///< token ids through an embedding, else dense x [T, B, E]
  int64_t vocabulary = 16000;  ///< the embedding's rows
  int64_t classes = 2;         ///< the head's outputs
  /// The whole training step; false: the model's forward only, with output "logits".
  bool training_step = true;
};

/// The graph of `cell` ("lstm", "gru": PyTorch's cells) in `mode`:
///   infer   x [T, B, E] -> the layer's outputs y [T, B, H] and final states h_n (and c_n);
///   fwdbwd  the layer forward, then the gradients of x, every weight and every bias for an
///           upstream gradient dy [T, B, H] on all outputs (loss = sum(y * dy));
///   train   tokens [T, B] through an embedding (or dense x), the layer, a linear head on h_T,
///           cross entropy against labels [B], backward, clipping by global norm at 5,
///           AdaGrad (nn::make_training_step).
/// Throws std::runtime_error for an unknown mode.
std::unique_ptr<ir::Graph> rnn_graph(const std::string& cell, const RnnShape& shape,
                                     const std::string& mode, const RnnGraphOptions& options = {});

/// Random inputs for every Input of `graph` not already in `inputs`: floats uniform in
/// [-1, 1); integers valid as the graph uses them (gather indices below the table's rows,
/// sequence lengths in [1, T], others 0 or 1). Seeded: the same graph and seed give the same
/// values.
void generate_inputs(const ir::Graph& graph, uint64_t seed, Bindings& inputs);

}  // namespace rnnc::bench
