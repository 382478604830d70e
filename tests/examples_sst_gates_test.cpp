// Runs the lecture's LSTM gate experiment (built into <build>/bin/sst_gates) on a tiny budget:
// a few sentences, one epoch, a subset of the gate variants. Checks the RESULT line of each
// variant (an accuracy that is a whole number of test sentences, one seed, no spread), the
// Markdown table (the lecture's numbers beside rnnc's) and the SVG chart (a bar per variant
// and source), and that bad input (an unknown variant, a missing data folder, a malformed
// data line) fails with a message naming it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/programs.h"

namespace {

using namespace rnnc::testprog;
namespace fs = std::filesystem;

/// A fresh temporary folder for one test.
fs::path temporary_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 ("rnnc_sst_" + name + "_" + std::to_string(static_cast<long>(::getpid())));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The key=value fields of the RESULT line of `variant` (empty when there is none).
std::map<std::string, std::string> result_of(const std::string& output,
                                             const std::string& variant) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind("RESULT variant=" + variant + " ", 0) == 0) return result_fields(line);
  return {};
}

/// How often `needle` occurs in `text`.
size_t count_of(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

TEST(SstGatesExample, ATinyRunReportsEveryRequestedVariantAndWritesTableAndChart) {
  fs::path out = temporary_dir("tiny");
  const int test_sentences = 30;
  ProgramRun r = run_program(binary("sst_gates") +
                             " --variants none,input+forget --seeds 1 --epochs 1 --hidden 4"
                             " --max-train-examples 40 --max-eval-examples " +
                             std::to_string(test_sentences) + " --output-dir " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(count_of(r.output, "\nRESULT "), 2u) << r.output;
  for (const std::string variant : {"none", "input+forget"}) {
    auto fields = result_of(r.output, variant);
    ASSERT_FALSE(fields.empty()) << variant << "\n" << r.output;
    for (const char* key : {"test_accuracy_mean", "test_accuracy_std", "seeds", "seconds"})
      ASSERT_TRUE(fields.count(key)) << key << "\n" << r.output;
    EXPECT_EQ(fields["seeds"], "1");
    EXPECT_EQ(std::stod(fields["test_accuracy_std"]), 0.0) << "one seed has no spread";
    // Every test sentence is counted exactly once (30 is not a multiple of the evaluation
    // batch): the accuracy is a whole number of sentences out of 30.
    const double correct = std::stod(fields["test_accuracy_mean"]) * test_sentences;
    EXPECT_NEAR(correct, std::round(correct), 0.01) << r.output;
    EXPECT_GE(correct, 0);
    EXPECT_LE(correct, test_sentences);
    EXPECT_GE(std::stod(fields["seconds"]), 0.0);
  }
  EXPECT_TRUE(result_of(r.output, "all").empty()) << "only the requested variants run";

  const std::string table = read_file(out / "sst_gates.md");
  EXPECT_NE(table.find("| none | 0.806 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| input+forget | 0.841 |"), std::string::npos) << table;
  EXPECT_NE(table.find("40 train / 30 dev / 30 test sentences"), std::string::npos) << table;
  EXPECT_EQ(table.find("| all |"), std::string::npos) << table;

  const std::string chart = read_file(out / "sst_gates.svg");
  EXPECT_EQ(chart.rfind("<svg", 0), 0u) << chart;
  EXPECT_NE(chart.find("</svg>"), std::string::npos);
  EXPECT_EQ(count_of(chart, "<title>lecture "), 2u) << chart;
  EXPECT_EQ(count_of(chart, "<title>rnnc "), 2u) << chart;
  EXPECT_NE(chart.find(">input+forget</text>"), std::string::npos) << chart;
  // The lecture's bar for "none" is labelled with its accuracy in percent.
  EXPECT_NE(chart.find(">80.6</text>"), std::string::npos) << chart;
  fs::remove_all(out);
}

TEST(SstGatesExample, AnUnknownVariantIsAnErrorNamingIt) {
  ProgramRun r = run_program(binary("sst_gates") + " --variants input,input+sideways");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("input+sideways"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("RESULT"), std::string::npos) << r.output;
}

TEST(SstGatesExample, AMissingDataDirectoryIsAnErrorNamingThePath) {
  ProgramRun r = run_program(binary("sst_gates") + " --data /nonexistent/rnnc_sst_data");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/rnnc_sst_data/sst"), std::string::npos) << r.output;
}

TEST(SstGatesExample, AMalformedLabelIsAnErrorNamingFileAndLine) {
  fs::path dir = temporary_dir("bad");
  fs::create_directories(dir / "sst");
  fs::create_directories(dir / "glove");
  fs::copy_file(fs::path(RNNC_SOURCE_DIR) / "data/glove/glove.twitter.27B.25d.top12k.txt.gz",
                dir / "glove/glove.twitter.27B.25d.top12k.txt.gz");
  auto write = [&](const std::string& file, const std::string& lines) {
    std::string command = "printf '" + lines + "' | gzip > " + (dir / "sst" / file).string();
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  };
  write("stsa.binary.train.gz", "1 a fine film\\n0 a dull film\\n");
  write("stsa.binary.dev.gz", "1 fine\\n");
  write("stsa.binary.test.gz", "0 dull\\n2 neither\\n");
  ProgramRun r =
      run_program(binary("sst_gates") + " --batch-size 2 --epochs 1 --data " + dir.string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("stsa.binary.test.gz:2: expected the label 0 or 1"), std::string::npos)
      << r.output;
  fs::remove_all(dir);
}

}  // namespace
