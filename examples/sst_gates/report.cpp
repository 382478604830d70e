#include "examples/sst_gates/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "ir/error.h"
#include "runtime/svg_chart.h"

namespace sst {
namespace {

using rnnc::svg::escape;
using rnnc::svg::format;

}  // namespace

double mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double standard_deviation(const std::vector<double>& values) {
  if (values.size() < 2) return 0;
  const double m = mean(values);
  double squares = 0;
  for (double v : values) squares += (v - m) * (v - m);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

double lecture_accuracy(const std::string& variant) {
  static const std::map<std::string, double> table = {
      {"none", 0.806},   {"output", 0.819},       {"input", 0.844},         {"input+output", 0.846},
      {"forget", 0.821}, {"input+forget", 0.841}, {"forget+output", 0.826}, {"all", 0.853},
  };
  auto found = table.find(variant);
  if (found == table.end()) throw rnnc::Error("no lecture accuracy for variant '" + variant + "'");
  return found->second;
}

std::string markdown_table(const std::vector<VariantResult>& results, const std::string& setup) {
  std::string out = setup + "\n\n";
  out +=
      "| gates | lecture test acc. | rnnc test acc. (mean ± std) | seeds | rnnc best dev acc. "
      "(mean) | seconds |\n";
  out += "|---|---:|---:|---:|---:|---:|\n";
  for (const VariantResult& r : results) {
    out += "| " + r.variant + " | " + format("%.3f", r.lecture_accuracy) + " | " +
           format("%.3f", mean(r.test_accuracy)) + " ± " +
           format("%.3f", standard_deviation(r.test_accuracy)) + " | " +
           std::to_string(r.test_accuracy.size()) + " | " +
           format("%.3f", mean(r.best_dev_accuracy)) + " | " + format("%.1f", r.seconds) + " |\n";
  }
  return out;
}

std::string result_line(const VariantResult& result) {
  return "RESULT variant=" + result.variant +
         " test_accuracy_mean=" + format("%.4f", mean(result.test_accuracy)) +
         " test_accuracy_std=" + format("%.4f", standard_deviation(result.test_accuracy)) +
         " seeds=" + std::to_string(result.test_accuracy.size()) +
         " seconds=" + format("%.1f", result.seconds);
}

std::string bar_chart_svg(const std::vector<VariantResult>& results, const std::string& title) {
  const double width = 820, height = 420, left = 70, right = 20, top = 50, bottom = 70;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  const double y_min = 0.5, y_max = 0.9;
  auto y_of = [&](double accuracy) {
    return top + (y_max - std::clamp(accuracy, y_min, y_max)) / (y_max - y_min) * plot_h;
  };
  const double group = plot_w / static_cast<double>(std::max<size_t>(results.size(), 1));
  const double bar = group * 0.32;
  const char* const lecture_color = "#9e9e9e";
  const char* const rnnc_color = "#1f77b4";

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format("%.0f", width) +
                    "\" height=\"" + format("%.0f", height) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + format("%.1f", width / 2) +
         "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + escape(title) + "</text>\n";
  for (int tick = 0; tick <= 8; ++tick) {
    const double accuracy = y_min + 0.05 * tick, y = y_of(accuracy);
    svg += "<line x1=\"" + format("%.1f", left) + "\" y1=\"" + format("%.1f", y) + "\" x2=\"" +
           format("%.1f", left + plot_w) + "\" y2=\"" + format("%.1f", y) +
           "\" stroke=\"#dddddd\"/>\n";
    svg += "<text x=\"" + format("%.1f", left - 6) + "\" y=\"" + format("%.1f", y + 4) +
           "\" text-anchor=\"end\">" + format("%.2f", accuracy) + "</text>\n";
  }
  svg += "<text transform=\"translate(18," + format("%.1f", top + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">test accuracy</text>\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const VariantResult& r = results[i];
    const double center = left + group * (static_cast<double>(i) + 0.5);
    const double ours = mean(r.test_accuracy), spread = standard_deviation(r.test_accuracy);
    const double bottom_y = y_of(y_min);
    auto add_bar = [&](double x, double value, double whisker, const char* color,
                       const std::string& tip) {
      const double y = y_of(value);
      svg += "<rect x=\"" + format("%.1f", x) + "\" y=\"" + format("%.1f", y) + "\" width=\"" +
             format("%.1f", bar) + "\" height=\"" + format("%.1f", bottom_y - y) + "\" fill=\"" +
             color + "\"><title>" + escape(tip) + "</title></rect>\n";
      svg += "<text x=\"" + format("%.1f", x + bar / 2) + "\" y=\"" +
             format("%.1f", y_of(value + whisker) - 4) +
             "\" text-anchor=\"middle\" font-size=\"10\">" + format("%.1f", 100 * value) +
             "</text>\n";
    };
    add_bar(center - bar - 2, r.lecture_accuracy, 0, lecture_color, "lecture " + r.variant);
    add_bar(center + 2, ours, spread, rnnc_color, "rnnc " + r.variant);
    if (spread > 0) {
      const double x = center + 2 + bar / 2;
      svg += "<line x1=\"" + format("%.1f", x) + "\" y1=\"" + format("%.1f", y_of(ours - spread)) +
             "\" x2=\"" + format("%.1f", x) + "\" y2=\"" + format("%.1f", y_of(ours + spread)) +
             "\" stroke=\"black\"/>\n";
    }
    svg += "<text x=\"" + format("%.1f", center) + "\" y=\"" + format("%.1f", bottom_y + 18) +
           "\" text-anchor=\"middle\">" + escape(r.variant) + "</text>\n";
  }
  svg += "<line x1=\"" + format("%.1f", left) + "\" y1=\"" + format("%.1f", top + plot_h) +
         "\" x2=\"" + format("%.1f", left + plot_w) + "\" y2=\"" + format("%.1f", top + plot_h) +
         "\" stroke=\"black\"/>\n";
  const double legend_y = height - 22;
  svg += "<rect x=\"" + format("%.1f", left) + "\" y=\"" + format("%.1f", legend_y - 10) +
         "\" width=\"12\" height=\"12\" fill=\"" + lecture_color + "\"/>\n";
  svg += "<text x=\"" + format("%.1f", left + 18) + "\" y=\"" + format("%.1f", legend_y) +
         "\">lecture</text>\n";
  svg += "<rect x=\"" + format("%.1f", left + 90) + "\" y=\"" + format("%.1f", legend_y - 10) +
         "\" width=\"12\" height=\"12\" fill=\"" + rnnc_color + "\"/>\n";
  svg += "<text x=\"" + format("%.1f", left + 108) + "\" y=\"" + format("%.1f", legend_y) +
         "\">rnnc, mean over seeds (whisker: ± one standard deviation)</text>\n";
  svg += "</svg>\n";
  return svg;
}

}  // namespace sst
