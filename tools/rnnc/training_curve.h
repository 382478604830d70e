#pragma once
#include <cstdint>
#include <string>
#include <vector>

/// The loss curve `rnnc train` records: one point per training step, written as CSV (for
/// plotting elsewhere) and as a self-contained SVG line chart (to look at right away).
namespace rnnc::driver {

/// The loss of one training step.
struct CurvePoint {
  int64_t step = 0;   ///< 1-based, counted over all epochs
  int64_t epoch = 0;  ///< 1-based
  double loss = 0;
};

/// The curve as CSV: a "step,epoch,loss" header, then one row per point (loss printed with
/// enough digits to read back the same double).
std::string curve_csv(const std::vector<CurvePoint>& points);

/// The curve as an SVG line chart titled `title`: the per-step loss (averaged over buckets
/// of steps when there are more points than pixels), the mean loss of each epoch, labelled
/// axes with round ticks. Non-finite losses are left out of the lines; an empty curve makes
/// a chart that says so.
std::string curve_svg(const std::vector<CurvePoint>& points, const std::string& title);

}  // namespace rnnc::driver
