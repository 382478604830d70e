#pragma once
#include <cstdint>
#include <string>

#include "ir/graph.h"
#include "runtime/tensor.h"

namespace rnnc {

/// A tensor of `type` filled as `init` says, from a generator seeded with `seed`:
///   "zeros", "ones", "constant:V", "uniform:LOW,HIGH", "normal:MEAN,STD",
///   "xavier_uniform", "xavier_normal" (Glorot; for a rank-2 [fan_in, fan_out] weight, the
///   fans of the last two dimensions; rank 1: fan_in = fan_out = size).
/// Throws rnnc::Error on an unknown or malformed spec.
Tensor initialize(const TensorType& type, const std::string& init, uint64_t seed);

/// Every Parameter of `graph` (weights and optimizer state) initialized by its `init` and
/// `seed` attributes, by name. `seed_offset` is added to every seed (one model, several
/// runs). Errors name the parameter.
Bindings initialize_parameters(const ir::Graph& graph, uint64_t seed_offset = 0);

}  // namespace rnnc
