// The machine's large-SGEMM rate: OpenBLAS cblas_sgemm on an N x N x N product (C = A B),
// timed as the other harnesses are (warm-up, repetitions for at least --min-time seconds,
// median), for each thread count asked for (openblas_set_num_threads). The roofline the
// recurrent layers' matrix work is compared with.
//
// Usage: sgemm_rate [--size N] [--threads 1,2] [--min-time S]   (N, threads <= 1000000)
// Prints one JSON line per thread count:
//   {"impl": "openblas", "sgemm": N, "threads": "2", "ms": ..., "gflops": ...}
// Run it without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (bench/run unsets them) so that OpenBLAS
// picks its AVX-512 kernels, and without OPENBLAS_NUM_THREADS capping the pool.
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/harness.h"

namespace {

int run(int argc, char** argv) {
  int64_t size = 2048;
  std::vector<int64_t> threads = {1, 2};
  rnnc::bench::TimingPolicy policy;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("unknown option or missing value: " + flag);
    const std::string value = argv[++i];
    if (flag == "--size") {
      size = rnnc::bench::parse_count(flag, value, 1);
    } else if (flag == "--threads") {
      threads.clear();
      size_t start = 0;
      while (start <= value.size()) {
        const size_t comma = std::min(value.find(',', start), value.size());
        threads.push_back(rnnc::bench::parse_count(flag, value.substr(start, comma - start), 1));
        start = comma + 1;
      }
    } else if (flag == "--min-time") {
      policy.min_seconds = rnnc::bench::parse_seconds(flag, value);
    } else {
      throw std::runtime_error("unknown option '" + flag + "'");
    }
  }
  const size_t n = static_cast<size_t>(size);
  std::vector<float> a(n * n), b(n * n), c(n * n);
  std::mt19937_64 random(1);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (size_t i = 0; i < n * n; ++i) a[i] = uniform(random), b[i] = uniform(random);
  const int dim = static_cast<int>(size);
  for (int64_t count : threads) {
    openblas_set_num_threads(static_cast<int>(count));
    const rnnc::bench::Timing timing = rnnc::bench::time_calls(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, 1.0f, a.data(), dim,
                      b.data(), dim, 0.0f, c.data(), dim);
        },
        policy);
    const double gflops = 2.0 * static_cast<double>(size) * static_cast<double>(size) *
                          static_cast<double>(size) / (timing.median_ms * 1e-3) / 1e9;
    std::printf(
        "{\"impl\": \"openblas\", \"sgemm\": %lld, \"threads\": \"%lld\", \"ms\": %.6g, "
        "\"min_ms\": %.6g, \"reps\": %lld, \"gflops\": %.4g}\n",
        static_cast<long long>(size), static_cast<long long>(count), timing.median_ms,
        timing.min_ms, static_cast<long long>(timing.reps), gflops);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "sgemm_rate: %s\n", error.what());
  }
  return 1;
}
