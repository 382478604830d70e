// The training curve as CSV and as a hand-written SVG chart (no plotting library).
#include "tools/rnnc/training_curve.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

namespace rnnc::driver {
namespace {

constexpr double kWidth = 720, kHeight = 420;
constexpr double kLeft = 80, kRight = 24, kTop = 44, kBottom = 56;
/// At most this many points are drawn per line (about one per horizontal pixel).
constexpr size_t kMaxDrawn = 600;

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

/// `text` with XML's special characters escaped.
std::string xml_escape(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

/// An axis: its drawn range [low, high] and round tick positions inside it.
struct Axis {
  double low = 0, high = 1;
  std::vector<double> ticks;
};

/// An axis covering [low, high] with about five ticks at multiples of 1, 2 or 5 times a
/// power of ten (at least `min_step` apart), its range widened to the outer ticks.
Axis nice_axis(double low, double high, double min_step) {
  if (!(high > low)) {
    double pad = std::max(std::abs(low) * 0.1, min_step > 0 ? min_step : 1e-3);
    low -= pad;
    high += pad;
  }
  double raw = (high - low) / 5;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 5.0, 10.0})
    if (factor * magnitude >= raw) {
      step = factor * magnitude;
      break;
    }
  step = std::max(step, min_step);
  Axis axis;
  axis.low = std::floor(low / step) * step;
  axis.high = std::ceil(high / step) * step;
  for (double tick = axis.low; tick <= axis.high + step * 1e-9; tick += step)
    axis.ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
  return axis;
}

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
           format("%.9g", point.loss) + "\n";
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

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format("%g", kWidth) +
                    "\" height=\"" + format("%g", kHeight) + "\" viewBox=\"0 0 " +
                    format("%g", kWidth) + " " + format("%g", kHeight) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + format("%g", kWidth / 2) +
         "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" + xml_escape(title) + "</text>\n";
  if (steps.empty()) {
    svg += "<text x=\"" + format("%g", kWidth / 2) + "\" y=\"" + format("%g", kHeight / 2) +
           "\" text-anchor=\"middle\">no finite loss recorded</text>\n</svg>\n";
    return svg;
  }

  double min_loss = std::numeric_limits<double>::infinity(), max_loss = -min_loss;
  for (const auto& [step, loss] : steps) {
    min_loss = std::min(min_loss, loss);
    max_loss = std::max(max_loss, loss);
  }
  Axis x_axis =
      nice_axis(steps.front().first <= 1 ? 0 : steps.front().first, steps.back().first, 1);
  Axis y_axis = nice_axis(min_loss, max_loss, 0);
  const double plot_width = kWidth - kLeft - kRight, plot_height = kHeight - kTop - kBottom;
  auto px = [&](double x) {
    return kLeft + (x - x_axis.low) / (x_axis.high - x_axis.low) * plot_width;
  };
  auto py = [&](double y) {
    return kTop + (y_axis.high - y) / (y_axis.high - y_axis.low) * plot_height;
  };

  // Grid lines and tick labels.
  for (double tick : y_axis.ticks) {
    std::string y = format("%.2f", py(tick));
    svg += "<line x1=\"" + format("%.2f", kLeft) + "\" y1=\"" + y + "\" x2=\"" +
           format("%.2f", kLeft + plot_width) + "\" y2=\"" + y + "\" stroke=\"#e4e4e4\"/>\n";
    svg += "<text x=\"" + format("%.2f", kLeft - 6) + "\" y=\"" + y +
           "\" text-anchor=\"end\" dominant-baseline=\"middle\">" + format("%.4g", tick) +
           "</text>\n";
  }
  for (double tick : x_axis.ticks) {
    std::string x = format("%.2f", px(tick));
    svg += "<line x1=\"" + x + "\" y1=\"" + format("%.2f", kTop) + "\" x2=\"" + x + "\" y2=\"" +
           format("%.2f", kTop + plot_height) + "\" stroke=\"#e4e4e4\"/>\n";
    svg += "<text x=\"" + x + "\" y=\"" + format("%.2f", kTop + plot_height + 18) +
           "\" text-anchor=\"middle\">" + format("%.6g", tick) + "</text>\n";
  }
  // Axes and their labels.
  svg += "<rect x=\"" + format("%.2f", kLeft) + "\" y=\"" + format("%.2f", kTop) + "\" width=\"" +
         format("%.2f", plot_width) + "\" height=\"" + format("%.2f", plot_height) +
         "\" fill=\"none\" stroke=\"#444\"/>\n";
  svg += "<text x=\"" + format("%.2f", kLeft + plot_width / 2) + "\" y=\"" +
         format("%.2f", kHeight - 14) + "\" text-anchor=\"middle\">training step</text>\n";
  svg += "<text x=\"18\" y=\"" + format("%.2f", kTop + plot_height / 2) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " +
         format("%.2f", kTop + plot_height / 2) + ")\">loss</text>\n";

  auto polyline = [&](const std::vector<std::pair<double, double>>& xy, const char* style) {
    std::string line = "<polyline fill=\"none\" " + std::string(style) + " points=\"";
    for (size_t i = 0; i < xy.size(); ++i)
      line +=
          (i ? " " : "") + format("%.2f", px(xy[i].first)) + "," + format("%.2f", py(xy[i].second));
    return line + "\"/>\n";
  };
  svg += polyline(thinned(steps), "stroke=\"#4e79a7\" stroke-width=\"1\" stroke-opacity=\"0.7\"");
  svg += polyline(thinned(epochs), "stroke=\"#e15759\" stroke-width=\"2\"");
  // Legend.
  double legend_x = kLeft + plot_width - 150, legend_y = kTop + 14;
  svg += "<line x1=\"" + format("%.2f", legend_x) + "\" y1=\"" + format("%.2f", legend_y) +
         "\" x2=\"" + format("%.2f", legend_x + 20) + "\" y2=\"" + format("%.2f", legend_y) +
         "\" stroke=\"#4e79a7\"/>\n";
  svg += "<text x=\"" + format("%.2f", legend_x + 26) + "\" y=\"" + format("%.2f", legend_y) +
         "\" dominant-baseline=\"middle\">loss per step</text>\n";
  svg += "<line x1=\"" + format("%.2f", legend_x) + "\" y1=\"" + format("%.2f", legend_y + 18) +
         "\" x2=\"" + format("%.2f", legend_x + 20) + "\" y2=\"" + format("%.2f", legend_y + 18) +
         "\" stroke=\"#e15759\" stroke-width=\"2\"/>\n";
  svg += "<text x=\"" + format("%.2f", legend_x + 26) + "\" y=\"" + format("%.2f", legend_y + 18) +
         "\" dominant-baseline=\"middle\">mean per epoch</text>\n";
  return svg + "</svg>\n";
}

}  // namespace rnnc::driver
