// The training curve as CSV and as an SVG line chart (runtime/svg_chart.h).
#include "tools/rnnc/training_curve.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "runtime/svg_chart.h"

namespace rnnc::driver {
namespace {

/// At most this many points are drawn per line (about one per horizontal pixel).
constexpr size_t kMaxDrawn = 600;

/// (step, loss) pairs averaged over consecutive buckets so that at most kMaxDrawn remain.
std::vector<std::pair<double, double>> thinned(const std::vector<std::pair<double, double>>& xy) {
  if (xy.size() <= kMaxDrawn) return xy;
  size_t bucket = (xy.size() + kMaxDrawn - 1) / kMaxDrawn;
  std::vector<std::pair<double, double>> result;
  for (size_t begin = 0; begin < xy.size(); begin += bucket) {
    size_t end = std::min(xy.size(), begin + bucket);
    double x = 0, y = 0;
    for (size_t i = begin; i < end; ++i) x += xy[i].first, y += xy[i].second;
    double count = static_cast<double>(end - begin);
    result.emplace_back(x / count, y / count);
  }
  return result;
}

}  // namespace

std::string curve_csv(const std::vector<CurvePoint>& points) {
  std::string csv = "step,epoch,loss\n";
  for (const CurvePoint& point : points)
    csv += std::to_string(point.step) + "," + std::to_string(point.epoch) + "," +
           svg::format("%.9g", point.loss) + "\n";
  return csv;
}

std::string curve_svg(const std::vector<CurvePoint>& points, const std::string& title) {
  std::vector<std::pair<double, double>> steps;
  std::map<int64_t, std::pair<double, double>> epoch_sums;  // epoch -> (sum of steps, of loss)
  std::map<int64_t, int64_t> epoch_counts;
  for (const CurvePoint& point : points) {
    if (!std::isfinite(point.loss)) continue;
    steps.emplace_back(static_cast<double>(point.step), point.loss);
    epoch_sums[point.epoch].first += static_cast<double>(point.step);
    epoch_sums[point.epoch].second += point.loss;
    ++epoch_counts[point.epoch];
  }
  std::vector<std::pair<double, double>> epochs;
  for (const auto& [epoch, sums] : epoch_sums) {
    double count = static_cast<double>(epoch_counts[epoch]);
    epochs.emplace_back(sums.first / count, sums.second / count);
  }
  svg::LineChart chart;
  chart.title = title;
  chart.x_label = "training step";
  chart.y_label = "loss";
  chart.min_x_step = 1;
  chart.empty_message = "no finite loss recorded";
  if (!steps.empty()) {
    chart.series.push_back({"loss per step", "#4e79a7", thinned(steps), 1, 0.7});
    chart.series.push_back({"mean per epoch", "#e15759", thinned(epochs), 2, 1});
  }
  return svg::line_chart(chart);
}

}  // namespace rnnc::driver
