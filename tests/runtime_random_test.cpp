// Tests of rnnc::Rng and the parameter initializers. The exact values below come from an
// independent Python implementation of splitmix64 + xoshiro256** (written from the authors'
// reference C code), so they pin the streams on every platform.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/initializers.h"
#include "runtime/random.h"
#include "tests/support/errors.h"

namespace rnnc {
namespace {

struct Moments {
  double mean = 0;
  double variance = 0;
};

Moments moments_of(const std::vector<double>& values) {
  Moments m;
  for (double v : values) m.mean += v;
  m.mean /= static_cast<double>(values.size());
  for (double v : values) m.variance += (v - m.mean) * (v - m.mean);
  m.variance /= static_cast<double>(values.size());
  return m;
}

using testerr::error_of;

// ---------------------------------------------------------------------------------------
// Rng

TEST(Rng, FixedSeedsGiveFixedBits) {
  Rng zero(0);
  EXPECT_EQ(zero.next(), 0x99ec5f36cb75f2b4ull);
  EXPECT_EQ(zero.next(), 0xbf6e1f784956452aull);
  EXPECT_EQ(zero.next(), 0x1a5f849d4933e6e0ull);
  Rng answer(42);
  EXPECT_EQ(answer.next(), 0x15780b2e0c2ec716ull);
  EXPECT_EQ(answer.next(), 0x6104d9866d113a7eull);
  EXPECT_EQ(answer.next(), 0xae17533239e499a1ull);
  Rng all_ones(~0ull);
  EXPECT_EQ(all_ones.next(), 0x8f5520d52a7ead08ull);
}

TEST(Rng, FixedSeedsGiveFixedVariates) {
  Rng uniform(7);
  EXPECT_EQ(uniform.uniform(), 0.7005764821796896);
  EXPECT_EQ(uniform.uniform(), 0.2787512294737843);
  EXPECT_EQ(uniform.uniform(), 0.8396274618764198);

  Rng below(7);
  const std::vector<uint64_t> expected = {4, 4, 8, 4, 4, 1, 6, 6, 8, 9};
  for (uint64_t value : expected) EXPECT_EQ(below.below(10), value);

  // log and cos may differ in the last bit between math libraries.
  Rng normal(123);
  EXPECT_NEAR(normal.normal(), 0.6497871727569374, 1e-14);
}

TEST(Rng, UniformIsTheTop53BitsOfNext) {
  Rng bits(99), variates(99);
  for (int i = 0; i < 1000; ++i) {
    const double expected = std::ldexp(static_cast<double>(bits.next() >> 11), -53);
    EXPECT_EQ(variates.uniform(), expected);
  }
}

TEST(Rng, UniformMomentsAndRange) {
  Rng rng(2024);
  std::vector<double> values(100000);
  for (double& v : values) v = rng.uniform();
  EXPECT_GE(*std::min_element(values.begin(), values.end()), 0.0);
  EXPECT_LT(*std::max_element(values.begin(), values.end()), 1.0);
  const Moments m = moments_of(values);
  // Five standard errors: sd(mean) = 0.00091, sd(variance) = 0.00024 for n = 100000.
  EXPECT_NEAR(m.mean, 0.5, 0.0046);
  EXPECT_NEAR(m.variance, 1.0 / 12.0, 0.0012);
  // Each tenth of [0, 1) holds 10% of the draws (sd 0.095%).
  std::vector<int> deciles(10);
  for (double v : values) ++deciles[static_cast<int>(v * 10)];
  for (int count : deciles) EXPECT_NEAR(count, 10000, 475);
}

TEST(Rng, UniformWithBoundsStaysInside) {
  Rng rng(5);
  for (int i = 0; i < 10000; ++i) {
    const double v = rng.uniform(-3.0, -2.5);
    EXPECT_GE(v, -3.0);
    EXPECT_LT(v, -2.5);
  }
  EXPECT_EQ(rng.uniform(4.0, 4.0), 4.0);
  // An interval of two adjacent doubles: rounding up to HIGH must not happen.
  const double low = 1.0, high = std::nextafter(1.0, 2.0);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(rng.uniform(low, high), low);
}

TEST(Rng, NormalMoments) {
  Rng rng(31337);
  std::vector<double> values(100000);
  for (double& v : values) v = rng.normal();
  const Moments m = moments_of(values);
  // Five standard errors: sd(mean) = 0.0032, sd(variance) = 0.0045.
  EXPECT_NEAR(m.mean, 0.0, 0.016);
  EXPECT_NEAR(m.variance, 1.0, 0.023);
  double within_one = 0, fourth_moment = 0;
  for (double v : values) {
    within_one += std::abs(v) < 1.0;
    fourth_moment += std::pow(v - m.mean, 4);
  }
  // P(|x| < 1) = 0.682689 (sd 0.0015); E[x^4] = 3 (sd of the estimate about 0.03).
  EXPECT_NEAR(within_one / values.size(), 0.682689, 0.0074);
  EXPECT_NEAR(fourth_moment / values.size(), 3.0, 0.15);
}

TEST(Rng, BelowIsUniformAndInRange) {
  Rng rng(11);
  std::vector<int> counts(7);
  for (int i = 0; i < 70000; ++i) {
    const uint64_t v = rng.below(7);
    ASSERT_LT(v, 7u);
    ++counts[v];
  }
  double chi_square = 0;
  for (int count : counts) chi_square += (count - 10000.0) * (count - 10000.0) / 10000.0;
  EXPECT_LT(chi_square, 22.46);  // the 0.999 quantile for 6 degrees of freedom
  EXPECT_EQ(rng.below(1), 0u);
  // A range above 2^63: half of all draws are rejected, values still in range.
  const uint64_t huge = (1ull << 63) + 12345;
  for (int i = 0; i < 100; ++i) EXPECT_LT(rng.below(huge), huge);
}

TEST(Rng, ShuffleIsASeedDependentPermutation) {
  std::vector<int> original(50);
  std::iota(original.begin(), original.end(), 0);
  std::vector<int> a = original, b = original, c = original;
  Rng(1).shuffle(a);
  Rng(1).shuffle(b);
  Rng(2).shuffle(c);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, original);
  std::sort(a.begin(), a.end());
  std::sort(c.begin(), c.end());
  EXPECT_EQ(a, original);
  EXPECT_EQ(c, original);

  std::vector<int> empty, one = {9};
  Rng(3).shuffle(empty);
  Rng(3).shuffle(one);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(one, std::vector<int>{9});
}

TEST(Rng, ShuffleGivesEveryOrderEquallyOften) {
  Rng rng(77);
  std::map<std::vector<int>, int> counts;
  for (int i = 0; i < 60000; ++i) {
    std::vector<int> items = {0, 1, 2};
    rng.shuffle(items);
    ++counts[items];
  }
  ASSERT_EQ(counts.size(), 6u);
  for (const auto& [order, count] : counts) EXPECT_NEAR(count, 10000, 460);  // 5 sd
}

// ---------------------------------------------------------------------------------------
// initialize

TEST(Initialize, Constants) {
  const Tensor zeros = initialize({DType::f32, {2, 3}}, "zeros", 0);
  const Tensor ones = initialize({DType::f64, {4}}, "ones", 0);
  const Tensor constant = initialize({DType::f32, {2, 2}}, "constant:-2.5", 0);
  const Tensor scalar = initialize({DType::f64, {}}, "constant:1e-3", 0);
  const Tensor integers = initialize({DType::i32, {3}}, "constant:-7", 0);
  EXPECT_EQ(zeros.type().to_string(), "f32[2, 3]");
  EXPECT_EQ(zeros.to_doubles(), std::vector<double>(6, 0.0));
  EXPECT_EQ(ones.to_doubles(), std::vector<double>(4, 1.0));
  EXPECT_EQ(constant.to_doubles(), std::vector<double>(4, -2.5));
  EXPECT_EQ(scalar.to_doubles(), std::vector<double>{1e-3});
  EXPECT_EQ(integers.to_doubles(), std::vector<double>(3, -7.0));
}

TEST(Initialize, UniformDrawsFromTheRng) {
  const Tensor tensor = initialize({DType::f64, {3}}, "uniform:0,1", 7);
  EXPECT_EQ(tensor.to_doubles(),
            (std::vector<double>{0.7005764821796896, 0.2787512294737843, 0.8396274618764198}));
  const Tensor shifted = initialize({DType::f64, {3}}, "uniform:-1,3", 7);
  EXPECT_DOUBLE_EQ(shifted.get(0), -1 + 4 * 0.7005764821796896);
  // f32 holds the f64 draws rounded.
  const Tensor narrow = initialize({DType::f32, {3}}, "uniform:0,1", 7);
  EXPECT_EQ(narrow.data<float>()[2], static_cast<float>(0.8396274618764198));
}

TEST(Initialize, UniformAndNormalStatistics) {
  const Tensor uniform = initialize({DType::f64, {200, 500}}, "uniform:-2,3", 1);
  const std::vector<double> u = uniform.to_doubles();
  EXPECT_GE(*std::min_element(u.begin(), u.end()), -2.0);
  EXPECT_LT(*std::max_element(u.begin(), u.end()), 3.0);
  const Moments um = moments_of(u);
  EXPECT_NEAR(um.mean, 0.5, 5 * std::sqrt(25.0 / 12 / 1e5));
  EXPECT_NEAR(um.variance, 25.0 / 12, 0.03);

  const Tensor normal = initialize({DType::f32, {100000}}, "normal:1,2", 2);
  const Moments nm = moments_of(normal.to_doubles());
  EXPECT_NEAR(nm.mean, 1.0, 5 * 2 / std::sqrt(1e5));
  EXPECT_NEAR(nm.variance, 4.0, 5 * 4 * std::sqrt(2 / 1e5));
}

TEST(Initialize, XavierUniformUsesTheLastTwoDimensions) {
  struct Case {
    Shape shape;
    double fan_sum;
  };
  const std::vector<Case> cases = {
      {{300, 100}, 400}, {{7, 30, 10}, 40}, {{50}, 100}, {{}, 2}, {{1000, 1}, 1001}};
  for (const Case& c : cases) {
    const double limit = std::sqrt(6.0 / c.fan_sum);
    const std::vector<double> values =
        initialize({DType::f64, c.shape}, "xavier_uniform", 3).to_doubles();
    double largest = 0;
    for (double v : values) {
      ASSERT_LT(std::abs(v), limit) << ir::shape_to_string(c.shape);
      largest = std::max(largest, std::abs(v));
    }
    if (values.size() >= 1000) {
      EXPECT_GT(largest, 0.99 * limit) << ir::shape_to_string(c.shape);
    }
  }
  const Moments m =
      moments_of(initialize({DType::f64, {300, 100}}, "xavier_uniform", 4).to_doubles());
  EXPECT_NEAR(m.mean, 0.0, 0.002);
  EXPECT_NEAR(m.variance, 6.0 / 400 / 3, 0.00013);  // limit^2 / 3 = 2 / (fan_in + fan_out)
}

TEST(Initialize, XavierNormalStandardDeviation) {
  const Moments m =
      moments_of(initialize({DType::f64, {300, 100}}, "xavier_normal", 5).to_doubles());
  EXPECT_NEAR(m.mean, 0.0, 5 * std::sqrt(2.0 / 400 / 30000));
  EXPECT_NEAR(m.variance, 2.0 / 400, 5 * (2.0 / 400) * std::sqrt(2.0 / 30000));
  const Moments vector =
      moments_of(initialize({DType::f64, {20000}}, "xavier_normal", 5).to_doubles());
  EXPECT_NEAR(vector.variance, 2.0 / 40000, 5 * (2.0 / 40000) * std::sqrt(2.0 / 20000));
  // Empty weights have no fans to speak of and nothing to fill.
  EXPECT_EQ(initialize({DType::f32, {0, 5}}, "xavier_normal", 5).num_elements(), 0);
}

TEST(Initialize, SameSeedSameValuesOtherSeedOtherValues) {
  for (const char* spec : {"uniform:-1,1", "normal:0,1", "xavier_uniform", "xavier_normal"}) {
    const TensorType type{DType::f32, {8, 4}};
    EXPECT_EQ(initialize(type, spec, 10).to_doubles(), initialize(type, spec, 10).to_doubles())
        << spec;
    EXPECT_NE(initialize(type, spec, 10).to_doubles(), initialize(type, spec, 11).to_doubles())
        << spec;
  }
}

TEST(Initialize, MalformedSpecsAreErrors) {
  const TensorType type{DType::f32, {2, 2}};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"uniform:1", "malformed initializer 'uniform:1': expected uniform:LOW,HIGH, found 1 number"},
      {"normal:a,b", "malformed initializer 'normal:a,b': 'a' is not a finite number"},
      {"constant:", "malformed initializer 'constant:': '' is not a finite number"},
      {"constant", "malformed initializer 'constant': '' is not a finite number"},
      {"uniform:1,2,3", "expected uniform:LOW,HIGH, found 3 numbers"},
      {"uniform:1,", "'' is not a finite number"},
      {"uniform:3,1", "LOW is greater than HIGH"},
      {"normal:0,-1", "STD is negative"},
      {"constant:nan", "'nan' is not a finite number"},
      {"constant:1x", "'1x' is not a finite number"},
      {"zeros:1", "'zeros' takes no arguments"},
      {"xavier_uniform:2", "'xavier_uniform' takes no arguments"},
      {"xavier", "unknown initializer 'xavier'"},
      {"", "unknown initializer ''"},
      {"Zeros", "unknown initializer 'Zeros'"},
  };
  for (const auto& [spec, message] : cases) {
    const std::string error = error_of([&] { initialize(type, spec, 0); });
    EXPECT_NE(error.find(message), std::string::npos) << spec << " gave: " << error;
  }
}

TEST(Initialize, IntegerTensorsTakeOnlyIntegralConstants) {
  EXPECT_EQ(initialize({DType::i32, {2}}, "ones", 0).to_doubles(), (std::vector<double>{1, 1}));
  EXPECT_NE(error_of([] {
              initialize({DType::i32, {2}}, "constant:0.5", 0);
            }).find("needs an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              initialize({DType::i32, {2}}, "constant:3e9", 0);
            }).find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              initialize({DType::i32, {2}}, "uniform:0,5", 0);
            }).find("needs a float tensor, not i32[2]"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------
// initialize_parameters

TEST(InitializeParameters, EveryParameterByItsInitAndSeed) {
  ir::Graph graph;
  graph.add_input("x", {DType::f32, {4, 3}});
  graph.add_parameter("w1", {DType::f32, {3, 5}}, "xavier_uniform", 17);
  graph.add_parameter("b1", {DType::f32, {5}}, "constant:0.25");
  graph.add_parameter("w1_accumulator", {DType::f32, {3, 5}}, "constant:0.1", 0, "state");
  graph.add_parameter("embedding", {DType::f64, {10, 2}}, "normal:0,0.5", -3);

  const Bindings bindings = initialize_parameters(graph);
  ASSERT_EQ(bindings.size(), 4u);
  EXPECT_EQ(bindings.count("x"), 0u);
  EXPECT_EQ(bindings.at("w1").to_doubles(),
            initialize({DType::f32, {3, 5}}, "xavier_uniform", 17).to_doubles());
  EXPECT_EQ(bindings.at("b1").to_doubles(), std::vector<double>(5, 0.25f));
  EXPECT_EQ(bindings.at("w1_accumulator").to_doubles(), std::vector<double>(15, 0.1f));
  EXPECT_EQ(bindings.at("embedding").type().to_string(), "f64[10, 2]");
  // A negative seed is taken modulo 2^64.
  EXPECT_EQ(
      bindings.at("embedding").to_doubles(),
      initialize({DType::f64, {10, 2}}, "normal:0,0.5", static_cast<uint64_t>(-3)).to_doubles());

  // The offset is added to every seed: another run of the same model.
  const Bindings shifted = initialize_parameters(graph, 5);
  EXPECT_EQ(shifted.at("w1").to_doubles(),
            initialize({DType::f32, {3, 5}}, "xavier_uniform", 22).to_doubles());
  EXPECT_NE(shifted.at("w1").to_doubles(), bindings.at("w1").to_doubles());
  EXPECT_EQ(shifted.at("embedding").to_doubles(),
            initialize({DType::f64, {10, 2}}, "normal:0,0.5", 2).to_doubles());
  EXPECT_EQ(shifted.at("b1").to_doubles(), bindings.at("b1").to_doubles());
}

TEST(InitializeParameters, ErrorsNameTheParameter) {
  ir::Graph graph;
  graph.add_parameter("b1", {DType::f32, {5}}, "zeros");
  graph.add_parameter("w1", {DType::f32, {3, 5}}, "xavier");
  EXPECT_EQ(error_of([&] {
              initialize_parameters(graph);
            }).rfind("parameter 'w1': unknown initializer 'xavier'", 0),
            0u);

  ir::Graph malformed;
  malformed.add_parameter("w2", {DType::f32, {3}}, "uniform:1");
  EXPECT_EQ(error_of([&] { initialize_parameters(malformed); }),
            "parameter 'w2': malformed initializer 'uniform:1': expected uniform:LOW,HIGH, "
            "found 1 number");
}

}  // namespace
}  // namespace rnnc
