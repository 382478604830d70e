#pragma once
// Deterministic random values for tests, and a loss made of them.
#include <cstdint>
#include <random>
#include <vector>

#include "ir/builder.h"
#include "ir/graph.h"

namespace rnnc::testrand {

/// `count` values uniform in [-1, 1] from a generator seeded with `seed`.
inline std::vector<double> random_values(int64_t count, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> values(count);
  for (double& v : values) v = uniform(engine);
  return values;
}

/// The sum of `value` times constant random weights (`seed`) of its shape, added to `graph`:
/// a scalar loss whose gradient reaches every element of `value`.
inline ir::Value* weighted_sum(ir::Graph& graph, ir::Value* value, uint64_t seed) {
  ir::Value* weights =
      graph.add_constant(value->type(), random_values(value->type().num_elements(), seed));
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < value->type().rank(); ++d) axes.push_back(d);
  return ir::build::reduce_sum(ir::build::mul(value, weights), axes);
}

}  // namespace rnnc::testrand
