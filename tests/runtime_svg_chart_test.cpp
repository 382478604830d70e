#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/svg_chart.h"

namespace {

namespace svg = rnnc::svg;

/// How often `needle` occurs in `text`.
size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

/// The y coordinates of the first polyline's points.
std::vector<double> polyline_ys(const std::string& text) {
  size_t points = text.find("points=\"", text.find("<polyline")) + 8;
  std::string list = text.substr(points, text.find('"', points) - points);
  std::vector<double> ys;
  for (size_t comma = list.find(','); comma != std::string::npos; comma = list.find(',', comma + 1))
    ys.push_back(std::stod(list.substr(comma + 1)));
  return ys;
}

TEST(SvgChart, EscapesAndBalancesTags) {
  svg::LineChart chart;
  chart.title = "a < b & \"c\"";
  chart.series.push_back({"x>y", "red", {{1, 1}, {2, 4}, {3, 9}}});
  std::string text = svg::line_chart(chart);
  EXPECT_NE(text.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(text.find("x&gt;y"), std::string::npos);
  EXPECT_EQ(count(text, "<"), count(text, ">"));
  EXPECT_EQ(text.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(text.substr(text.size() - 7), "</svg>\n");
}

TEST(SvgChart, LinearYIsMonotoneAndSkipsNonFinitePoints) {
  svg::LineChart chart;
  chart.series.push_back({"", "blue", {{1, 1}, {2, NAN}, {3, 3}, {4, 2}}});
  std::vector<double> ys = polyline_ys(svg::line_chart(chart));
  ASSERT_EQ(ys.size(), 3u);
  EXPECT_GT(ys[0], ys[2]);  // larger values are drawn higher (smaller y)
  EXPECT_GT(ys[0], ys[1]);
  EXPECT_LT(ys[1], ys[2]);
}

TEST(SvgChart, LogYSpansDecadesAndClampsNonPositiveValues) {
  svg::LineChart chart;
  chart.log_y = true;
  chart.series.push_back({"norm", "green", {{1, 1e-3}, {2, 0}, {3, 1e2}}});
  std::string text = svg::line_chart(chart);
  EXPECT_NE(text.find(">1e-3<"), std::string::npos);
  EXPECT_NE(text.find(">1e2<"), std::string::npos);
  std::vector<double> ys = polyline_ys(text);
  ASSERT_EQ(ys.size(), 3u);
  EXPECT_DOUBLE_EQ(ys[0], ys[1]);  // 0 sits at the bottom, with the smallest decade
  EXPECT_LT(ys[2], ys[0]);
}

TEST(SvgChart, AnEmptyChartSaysSo) {
  svg::LineChart chart;
  chart.empty_message = "nothing recorded";
  chart.series.push_back({"a", "red", {{1, NAN}}});
  std::string text = svg::line_chart(chart);
  EXPECT_NE(text.find("nothing recorded"), std::string::npos);
  EXPECT_EQ(text.find("<polyline"), std::string::npos);
}

}  // namespace
