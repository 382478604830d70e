#include "runtime/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "ir/error.h"

namespace rnnc::svg {
namespace {

constexpr double kWidth = 760, kHeight = 440;
constexpr double kLeft = 80, kTop = 44, kBottom = 56;
constexpr double kRightWithLegend = 190, kRightAlone = 24;

/// An axis: its drawn range [low, high] and the positions of its ticks.
struct Axis {
  double low = 0, high = 1;
  std::vector<double> ticks;
  bool log = false;
};

/// A linear axis covering [low, high] with about five ticks at multiples of 1, 2 or 5 times
/// a power of ten (at least `min_step` apart), its range widened to the outer ticks.
Axis linear_axis(double low, double high, double min_step) {
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

/// A log10 axis spanning whole decades around [low, high] (both > 0), with at most about
/// twelve decade ticks.
Axis log_axis(double low, double high) {
  Axis axis;
  axis.log = true;
  axis.low = std::floor(std::log10(low));
  axis.high = std::ceil(std::log10(high));
  if (axis.high <= axis.low) axis.high = axis.low + 1;
  const int decades = static_cast<int>(axis.high - axis.low);
  const int every = std::max(1, (decades + 11) / 12);
  for (int e = 0; e <= decades; e += every) axis.ticks.push_back(axis.low + e);
  return axis;
}

/// The text of a tick at `tick` (an exponent on a log axis).
std::string tick_label(const Axis& axis, double tick, const char* pattern) {
  return axis.log ? "1e" + std::to_string(static_cast<int>(tick)) : format(pattern, tick);
}

}  // namespace

std::string escape(const std::string& text) {
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

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

std::string line_chart(const LineChart& chart) {
  const double inf = std::numeric_limits<double>::infinity();
  double x_low = inf, x_high = -inf, y_low = inf, y_high = -inf;
  bool legend = false;
  for (const Series& series : chart.series) {
    legend = legend || !series.label.empty();
    for (const auto& [x, y] : series.points) {
      if (!std::isfinite(x)) continue;
      bool usable = chart.log_y ? y > 0 && std::isfinite(y) : std::isfinite(y);
      if (!usable && !chart.log_y) continue;
      x_low = std::min(x_low, x), x_high = std::max(x_high, x);
      if (!usable) continue;
      y_low = std::min(y_low, y), y_high = std::max(y_high, y);
    }
  }
  const double right = legend ? kRightWithLegend : kRightAlone;
  const double plot_w = kWidth - kLeft - right, plot_h = kHeight - kTop - kBottom;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format("%g", kWidth) +
                    "\" height=\"" + format("%g", kHeight) + "\" viewBox=\"0 0 " +
                    format("%g", kWidth) + " " + format("%g", kHeight) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + format("%g", kWidth / 2) +
         "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" + escape(chart.title) + "</text>\n";
  if (!(x_low <= x_high)) {
    return svg + "<text x=\"" + format("%g", kWidth / 2) + "\" y=\"" + format("%g", kHeight / 2) +
           "\" text-anchor=\"middle\">" + escape(chart.empty_message) + "</text>\n</svg>\n";
  }
  if (!(y_low <= y_high)) y_low = y_high = 1;  // a log chart without a positive value
  const Axis x_axis = linear_axis(x_low, x_high, chart.min_x_step);
  const Axis y_axis = chart.log_y ? log_axis(y_low, y_high) : linear_axis(y_low, y_high, 0);
  auto px = [&](double x) {
    return kLeft + (x - x_axis.low) / (x_axis.high - x_axis.low) * plot_w;
  };
  auto py = [&](double y) {
    double at = y;
    if (chart.log_y) at = y > 0 && std::isfinite(y) ? std::log10(y) : y_axis.low;
    at = std::clamp(at, y_axis.low, y_axis.high);
    return kTop + (y_axis.high - at) / (y_axis.high - y_axis.low) * plot_h;
  };
  auto tick_y = [&](double tick) {
    return kTop + (y_axis.high - tick) / (y_axis.high - y_axis.low) * plot_h;
  };

  for (double tick : y_axis.ticks) {
    std::string y = format("%.2f", tick_y(tick));
    svg += "<line x1=\"" + format("%.2f", kLeft) + "\" y1=\"" + y + "\" x2=\"" +
           format("%.2f", kLeft + plot_w) + "\" y2=\"" + y + "\" stroke=\"#e4e4e4\"/>\n";
    svg += "<text x=\"" + format("%.2f", kLeft - 6) + "\" y=\"" + y +
           "\" text-anchor=\"end\" dominant-baseline=\"middle\">" +
           tick_label(y_axis, tick, "%.4g") + "</text>\n";
  }
  for (double tick : x_axis.ticks) {
    std::string x = format("%.2f", px(tick));
    svg += "<line x1=\"" + x + "\" y1=\"" + format("%.2f", kTop) + "\" x2=\"" + x + "\" y2=\"" +
           format("%.2f", kTop + plot_h) + "\" stroke=\"#e4e4e4\"/>\n";
    svg += "<text x=\"" + x + "\" y=\"" + format("%.2f", kTop + plot_h + 18) +
           "\" text-anchor=\"middle\">" + tick_label(x_axis, tick, "%.6g") + "</text>\n";
  }
  svg += "<rect x=\"" + format("%.2f", kLeft) + "\" y=\"" + format("%.2f", kTop) + "\" width=\"" +
         format("%.2f", plot_w) + "\" height=\"" + format("%.2f", plot_h) +
         "\" fill=\"none\" stroke=\"#444\"/>\n";
  svg += "<text x=\"" + format("%.2f", kLeft + plot_w / 2) + "\" y=\"" +
         format("%.2f", kHeight - 14) + "\" text-anchor=\"middle\">" + escape(chart.x_label) +
         "</text>\n";
  const std::string middle = format("%.2f", kTop + plot_h / 2);
  svg += "<text x=\"18\" y=\"" + middle + "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " +
         middle + ")\">" + escape(chart.y_label) + "</text>\n";

  int entry = 0;
  for (const Series& series : chart.series) {
    std::string style =
        "stroke=\"" + escape(series.color) + "\" stroke-width=\"" + format("%g", series.width) +
        "\"" +
        (series.opacity < 1 ? " stroke-opacity=\"" + format("%g", series.opacity) + "\"" : "");
    svg += "<polyline fill=\"none\" " + style + " points=\"";
    bool first = true;
    for (const auto& [x, y] : series.points) {
      if (!std::isfinite(x) || (!chart.log_y && !std::isfinite(y))) continue;
      svg += (first ? "" : " ") + format("%.2f", px(x)) + "," + format("%.2f", py(y));
      first = false;
    }
    svg += "\"/>\n";
    if (series.label.empty()) continue;
    const std::string y = format("%.2f", kTop + 14 + 20 * entry++);
    const double x = kLeft + plot_w + 14;
    svg += "<line x1=\"" + format("%.2f", x) + "\" y1=\"" + y + "\" x2=\"" +
           format("%.2f", x + 24) + "\" y2=\"" + y + "\" " + style + "/>\n";
    svg += "<text x=\"" + format("%.2f", x + 30) + "\" y=\"" + y +
           "\" dominant-baseline=\"middle\">" + escape(series.label) + "</text>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace rnnc::svg
