#pragma once
// A hand-written SVG line plot with a logarithmic y axis: enough for the example's curves,
// with no plotting dependency.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ir/error.h"

/// One line of the plot: y values at x = 1, 2, ..., values.size().
struct Curve {
  std::string label;
  std::string color;  ///< any SVG color
  std::vector<double> values;
};

namespace svg_detail {

/// `text` with the characters that are special in XML escaped.
inline std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

inline std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

}  // namespace svg_detail

/// Writes `curves` to `path` as an SVG: x linear from 1 to the longest curve's length, y on a
/// log10 scale spanning whole decades around every positive value (values <= 0 or not finite
/// are clamped to the bottom of the axis), decade grid lines, axis titles and a legend.
/// Throws rnnc::Error naming the file when it cannot be written.
inline void write_log_plot(const std::string& path, const std::string& title,
                           const std::string& x_label, const std::vector<Curve>& curves) {
  using svg_detail::escape;
  using svg_detail::number;
  const double width = 760, height = 460;
  const double left = 80, right = 250, top = 40, bottom = 60;
  const double plot_w = width - left - right, plot_h = height - top - bottom;

  double low = INFINITY, high = -INFINITY;
  size_t steps = 1;
  for (const Curve& curve : curves) {
    steps = std::max(steps, curve.values.size());
    for (double v : curve.values)
      if (v > 0 && std::isfinite(v)) {
        low = std::min(low, std::log10(v));
        high = std::max(high, std::log10(v));
      }
  }
  if (!std::isfinite(low)) low = high = 0;
  double y_min = std::floor(low), y_max = std::ceil(high);
  if (y_max <= y_min) y_max = y_min + 1;
  auto x_of = [&](double t) {
    return left + (steps > 1 ? (t - 1) / double(steps - 1) : 0.5) * plot_w;
  };
  auto y_of = [&](double v) {
    double exponent = v > 0 && std::isfinite(v) ? std::log10(v) : y_min;
    return top + (y_max - std::clamp(exponent, y_min, y_max)) / (y_max - y_min) * plot_h;
  };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + number(width) +
                    "\" height=\"" + number(height) +
                    "\" font-family=\"sans-serif\" "
                    "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + number(left + plot_w / 2) +
         "\" y=\"22\" text-anchor=\"middle\" "
         "font-size=\"15\">" +
         escape(title) + "</text>\n";
  // Decade grid lines and labels (at most about 12 labels).
  int decades = static_cast<int>(y_max - y_min);
  int every = std::max(1, (decades + 11) / 12);
  for (int e = static_cast<int>(y_min); e <= static_cast<int>(y_max); ++e) {
    if ((e - static_cast<int>(y_min)) % every != 0) continue;
    double y = y_of(std::pow(10.0, e));
    svg += "<line x1=\"" + number(left) + "\" y1=\"" + number(y) + "\" x2=\"" +
           number(left + plot_w) + "\" y2=\"" + number(y) + "\" stroke=\"#ddd\"/>\n";
    svg += "<text x=\"" + number(left - 6) + "\" y=\"" + number(y + 4) +
           "\" text-anchor=\"end\">1e" + std::to_string(e) + "</text>\n";
  }
  // x ticks at 1 and every tenth of the range.
  size_t tick = std::max<size_t>(1, steps / 10);
  for (size_t t = 0; t <= steps; t += tick) {
    double x = x_of(std::max<size_t>(t, 1));
    svg += "<line x1=\"" + number(x) + "\" y1=\"" + number(top + plot_h) + "\" x2=\"" + number(x) +
           "\" y2=\"" + number(top + plot_h + 5) + "\" stroke=\"black\"/>\n";
    svg += "<text x=\"" + number(x) + "\" y=\"" + number(top + plot_h + 18) +
           "\" text-anchor=\"middle\">" + std::to_string(std::max<size_t>(t, 1)) + "</text>\n";
  }
  // Axes and their titles.
  svg += "<path d=\"M" + number(left) + "," + number(top) + " V" + number(top + plot_h) + " H" +
         number(left + plot_w) + "\" fill=\"none\" stroke=\"black\"/>\n";
  svg += "<text x=\"" + number(left + plot_w / 2) + "\" y=\"" + number(height - 18) +
         "\" text-anchor=\"middle\">" + escape(x_label) + "</text>\n";
  svg += "<text transform=\"translate(18," + number(top + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">norm (log scale)</text>\n";
  // The curves and the legend.
  for (size_t i = 0; i < curves.size(); ++i) {
    const Curve& curve = curves[i];
    svg += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + escape(curve.color) +
           "\" points=\"";
    for (size_t t = 0; t < curve.values.size(); ++t)
      svg += (t ? " " : "") + number(x_of(double(t + 1))) + "," + number(y_of(curve.values[t]));
    svg += "\"/>\n";
    double y = top + 20 + 22 * double(i);
    svg += "<line x1=\"" + number(left + plot_w + 15) + "\" y1=\"" + number(y) + "\" x2=\"" +
           number(left + plot_w + 45) + "\" y2=\"" + number(y) + "\" stroke-width=\"2\" stroke=\"" +
           escape(curve.color) + "\"/>\n";
    svg += "<text x=\"" + number(left + plot_w + 52) + "\" y=\"" + number(y + 4) + "\">" +
           escape(curve.label) + "</text>\n";
  }
  svg += "</svg>\n";

  std::ofstream out(path, std::ios::binary);
  out << svg;
  out.close();
  if (!out) throw rnnc::Error(path + ": cannot write the plot");
}
