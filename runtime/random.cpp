// The project's random streams: xoshiro256** (Blackman and Vigna) seeded by splitmix64.
// Every variate is computed here from the 64-bit stream, so a seed gives the same numbers
// on every platform and standard library. (normal() calls std::log, std::sqrt and std::cos,
// whose last bit may differ between math libraries; uniform(), below() and next() are exact.)
#include "runtime/random.h"

#include <cassert>
#include <cmath>
#include <numbers>

namespace rnnc {
namespace {

uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/// One step of splitmix64: advances `state` and returns the next output. Used only to
/// expand a 64-bit seed into xoshiro's 256-bit state (as its authors recommend), so that
/// nearby seeds give unrelated streams and no seed gives the all-zero state.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

Rng::Rng(uint64_t seed) {
  uint64_t mix = seed;
  for (uint64_t& word : state_) word = splitmix64(mix);
}

uint64_t Rng::next() {
  const uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotate_left(state_[3], 45);
  return result;
}

// The top 53 bits (xoshiro's low bits are its weakest) scaled by 2^-53: every multiple of
// 2^-53 in [0, 1) is equally likely, and 1 is never returned.
double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::uniform(double low, double high) {
  assert(low <= high);
  double value = low + (high - low) * uniform();
  // low + (high - low) * u can round up to high; keep the interval half-open.
  if (value >= high && high > low) value = std::nextafter(high, low);
  return value;
}

// Box-Muller without caching the second variate: each call consumes exactly two uniforms
// and returns r * cos(theta). The Rng has no room for a cache (its state is the four
// xoshiro words), and a cache would make the stream depend on how calls interleave with
// uniform(). u1 is taken from (0, 1] so the logarithm is finite.
double Rng::normal() {
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  return radius * std::cos(2.0 * std::numbers::pi * u2);
}

// Rejection sampling without modulo bias: draws below 2^64 mod n are rejected, so the
// accepted range is a whole number of copies of [0, n). Fewer than half of the draws are
// rejected in the worst case (n just above 2^63), almost none for small n.
uint64_t Rng::below(uint64_t n) {
  assert(n > 0);
  const uint64_t threshold = (0 - n) % n;  // == 2^64 mod n
  for (;;) {
    const uint64_t draw = next();
    if (draw >= threshold) return draw % n;
  }
}

}  // namespace rnnc
