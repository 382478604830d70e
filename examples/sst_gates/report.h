#pragma once
// The sst_gates example's results: one row per gate variant, printed as a table and as
// machine-readable RESULT lines, written as Markdown and as a hand-written SVG bar chart.
#include <cstdint>
#include <string>
#include <vector>

namespace sst {

/// What the runs of one gate variant measured.
struct VariantResult {
  std::string variant;                    ///< LstmGates name: "none", "input", ..., "all"
  double lecture_accuracy = 0;            ///< the lecture's test accuracy, a fraction
  std::vector<double> test_accuracy;      ///< one per seed
  std::vector<double> best_dev_accuracy;  ///< one per seed: the best epoch's dev accuracy
  std::vector<int64_t> best_epoch;        ///< one per seed, 1-based
  double seconds = 0;  ///< wall time of every run of the variant, compiling included
};

/// Mean of `values` (0 when empty).
double mean(const std::vector<double>& values);
/// Sample standard deviation of `values` (n - 1 in the denominator; 0 for fewer than two).
double standard_deviation(const std::vector<double>& values);

/// The lecture's test accuracy of `variant` (a fraction); throws rnnc::Error for a name that
/// is not one of the eight variants.
double lecture_accuracy(const std::string& variant);

/// The results as a Markdown table (variant, lecture, rnnc mean +- std, best dev, seconds),
/// preceded by `setup` (a line saying how the runs were made).
std::string markdown_table(const std::vector<VariantResult>& results, const std::string& setup);

/// `RESULT variant=... test_accuracy_mean=... test_accuracy_std=... seeds=N seconds=...`.
std::string result_line(const VariantResult& result);

/// An SVG bar chart: per variant, the lecture's accuracy and rnnc's mean test accuracy (with
/// a +- one standard deviation whisker) side by side, on an accuracy axis from 0.5 to 0.9.
std::string bar_chart_svg(const std::vector<VariantResult>& results, const std::string& title);

}  // namespace sst
