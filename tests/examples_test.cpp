// Runs the lecture's example programs (built into <build>/bin) and checks their RESULT lines.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>

namespace {

/// The output (stdout and stderr) and exit status of running `command`.
struct ProgramRun {
  std::string output;
  int status = -1;
};

ProgramRun run_program(const std::string& command) {
  ProgramRun result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  size_t count;
  while ((count = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, count);
  int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string binary(const std::string& name) {
  return std::string(RNNC_BINARY_DIR) + "/bin/" + name;
}

/// The key=value pairs of the last line starting with "RESULT ".
std::map<std::string, double> result_values(const std::string& output) {
  std::map<std::string, double> values;
  std::istringstream lines(output);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.rfind("RESULT ", 0) == 0) last = line;
  std::istringstream fields(last.substr(last.empty() ? 0 : 7));
  std::string field;
  while (fields >> field) {
    size_t equals = field.find('=');
    if (equals != std::string::npos)
      values[field.substr(0, equals)] = std::stod(field.substr(equals + 1));
  }
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
