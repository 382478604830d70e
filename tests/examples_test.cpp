// Runs the lecture's example programs (built into <build>/bin) and checks their RESULT lines.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/programs.h"

namespace {

using namespace rnnc::testprog;

/// The RESULT fields as numbers.
std::map<std::string, double> result_values(const std::string& output) {
  std::map<std::string, double> values;
  for (const auto& [key, text] : result_fields(output)) values[key] = std::stod(text);
  return values;
}

TEST(Examples, LinearRegressionLearnsTwoPointsPerHour) {
  ProgramRun r = run_program(binary("linear_regression"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto values = result_values(r.output);
  ASSERT_TRUE(values.count("prediction_4h") && values.count("w")) << r.output;
  EXPECT_NEAR(values["prediction_4h"], 8.0, 0.1);
  EXPECT_NEAR(values["w"], 2.0, 0.025);
}

TEST(Examples, DiabetesClassifierBeatsTheMajorityClass) {
  ProgramRun r = run_program(binary("diabetes"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto values = result_values(r.output);
  ASSERT_TRUE(values.count("test_accuracy") && values.count("train_accuracy") &&
              values.count("epochs"))
      << r.output;
  EXPECT_GE(values["test_accuracy"], 0.70) << r.output;
  EXPECT_LE(values["test_accuracy"], 1.0);
  EXPECT_GE(values["train_accuracy"], 0.70) << r.output;
  EXPECT_GT(values["epochs"], 0);
}

TEST(Examples, DiabetesReportsBadArguments) {
  ProgramRun missing = run_program(binary("diabetes") + " /nonexistent/diabetes.csv");
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("/nonexistent/diabetes.csv"), std::string::npos) << missing.output;
  ProgramRun bad_epochs =
      run_program(binary("diabetes") + " " + RNNC_SOURCE_DIR + "/data/diabetes/diabetes.csv x");
  EXPECT_NE(bad_epochs.status, 0);
  EXPECT_NE(bad_epochs.output.find("epochs"), std::string::npos) << bad_epochs.output;
}

}  // namespace
