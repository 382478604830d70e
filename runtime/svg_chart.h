#pragma once
#include <string>
#include <utility>
#include <vector>

/// Hand-written SVG charts (no plotting dependency): the line charts of `rnnc train`'s loss
/// curve and of the examples, and the helpers any SVG writer of the project needs.
namespace rnnc::svg {

/// `text` with XML's special characters (& < > ") escaped.
std::string escape(const std::string& text);

/// `value` printed with printf's `pattern` ("%.2f").
std::string format(const char* pattern, double value);

/// One line of a chart.
struct Series {
  std::string label;  ///< the legend's text (no legend entry when empty)
  std::string color;  ///< any SVG color
  std::vector<std::pair<double, double>> points;  ///< (x, y), drawn in order
  double width = 2;                               ///< stroke width
  double opacity = 1;                             ///< stroke opacity
};

/// A line chart with labelled axes, grid lines and a legend to the right of the plot.
struct LineChart {
  std::string title, x_label, y_label;
  /// y on a log10 scale spanning whole decades (values <= 0 or not finite are clamped to the
  /// bottom); otherwise linear with round ticks (1, 2 or 5 times a power of ten).
  bool log_y = false;
  /// Linear x ticks are at least this far apart (1 for steps).
  double min_x_step = 0;
  std::vector<Series> series;
  /// Shown instead of the plot when no series has a finite point.
  std::string empty_message = "no data";
};

/// `chart` as a self-contained SVG document. Points with a non-finite coordinate are left
/// out of linear charts.
std::string line_chart(const LineChart& chart);

}  // namespace rnnc::svg
