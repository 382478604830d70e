#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace rnnc {

/// A seeded random generator whose streams are the same on every platform and compiler
/// (xoshiro256** seeded by splitmix64; uniform and normal variates computed here, not by the
/// standard library's implementation-defined distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  /// 64 random bits.
  uint64_t next();
  /// Uniform in [0, 1).
  double uniform();
  /// Uniform in [low, high).
  double uniform(double low, double high);
  /// Standard normal (Box-Muller).
  double normal();
  /// Uniform integer in [0, n).
  uint64_t below(uint64_t n);
  /// Fisher-Yates shuffle.
  template <class T>
  void shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  uint64_t state_[4];
};

}  // namespace rnnc
