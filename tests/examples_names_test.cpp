// Runs the lecture's names-by-country example (built into <build>/bin/names) with small
// budgets and checks its RESULT line: a tiny training run finishes with an accuracy in
// [0, 1] over exactly the requested examples; an evaluation-only run over the whole test set
// reports the majority baseline that this test computes itself from the data files (0.47,
// as the lecture says); bad inputs fail with a message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "runtime/text_file.h"
#include "tests/support/programs.h"

namespace {

using namespace rnnc::testprog;

const std::string kNamesDir = std::string(RNNC_SOURCE_DIR) + "/data/names/";

/// The country (second field) of every `"Name","Country"` line of the gzipped file `name`.
std::vector<std::string> countries_of(const std::string& name) {
  std::string text = rnnc::read_text_file(kNamesDir + name);
  std::vector<std::string> countries;
  for (std::string_view line : rnnc::split_lines(text)) {
    size_t comma = line.rfind("\",\"");
    EXPECT_NE(comma, std::string_view::npos) << line;
    EXPECT_TRUE(line.ends_with('"')) << line;
    countries.emplace_back(line.substr(comma + 3, line.size() - comma - 4));
  }
  return countries;
}

/// The fraction of the test names whose country is the most frequent training country.
double majority_baseline() {
  std::map<std::string, int> counts;
  for (const std::string& country : countries_of("names_train.csv.gz")) ++counts[country];
  std::string majority;
  for (const auto& [country, count] : counts)
    if (majority.empty() || count > counts[majority]) majority = country;
  std::vector<std::string> test = countries_of("names_test.csv.gz");
  int hits = 0;
  for (const std::string& country : test) hits += country == majority;
  return static_cast<double>(hits) / static_cast<double>(test.size());
}

TEST(NamesExample, TrainsOnATinyBudgetAndEvaluatesEveryRequestedName) {
  ProgramRun r = run_program(binary("names") +
                             " --epochs 2 --max-train-examples 512 --max-test-examples 200"
                             " --batch-size 64 --hidden 8 --layers 1");
  ASSERT_EQ(r.status, 0) << r.output;
  auto fields = result_fields(r.output);
  for (const char* key :
       {"test_accuracy", "majority_baseline", "epochs", "train_examples", "test_examples"})
    ASSERT_TRUE(fields.count(key)) << key << "\n" << r.output;
  double accuracy = std::stod(fields["test_accuracy"]);
  EXPECT_GE(accuracy, 0.0) << r.output;
  EXPECT_LE(accuracy, 1.0) << r.output;
  EXPECT_EQ(fields["epochs"], "2") << r.output;
  EXPECT_EQ(fields["train_examples"], "512") << r.output;
  // 200 is not a multiple of the batch: the last evaluation batch is padded, every name
  // counted once.
  EXPECT_EQ(fields["test_examples"], "200") << r.output;
  EXPECT_NE(r.output.find("over 200 names"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("epoch 2"), std::string::npos) << r.output;
  // The subsets are random, not the first rows (which are all Czech): the baseline of 200
  // names drawn from a set that is 47% Russian is far from 0.
  double baseline = std::stod(fields["majority_baseline"]);
  EXPECT_GT(baseline, 0.3) << r.output;
  EXPECT_LT(baseline, 0.65) << r.output;
}

TEST(NamesExample, ReportsTheMajorityBaselineOfTheWholeTestSet) {
  double expected = majority_baseline();
  EXPECT_NEAR(expected, 0.47, 0.005);  // the lecture's figure
  ProgramRun r =
      run_program(binary("names") + " --epochs 0 --hidden 2 --layers 1 --batch-size 1024");
  ASSERT_EQ(r.status, 0) << r.output;
  auto fields = result_fields(r.output);
  ASSERT_TRUE(fields.count("majority_baseline") && fields.count("test_accuracy")) << r.output;
  EXPECT_NEAR(std::stod(fields["majority_baseline"]), expected, 1e-4) << r.output;
  EXPECT_EQ(fields["test_examples"], "6700") << r.output;
  EXPECT_EQ(fields["train_examples"], "13374") << r.output;
  EXPECT_EQ(fields["epochs"], "0") << r.output;
  double accuracy = std::stod(fields["test_accuracy"]);
  EXPECT_GE(accuracy, 0.0);
  EXPECT_LE(accuracy, 1.0);
}

TEST(NamesExample, AMissingDataDirectoryIsAnErrorNamingThePath) {
  ProgramRun r = run_program(binary("names") + " --data /nonexistent/rnnc_names_data");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/rnnc_names_data/names/names_train.csv.gz"),
            std::string::npos)
      << r.output;
}

TEST(NamesExample, ATestCharacterOrCountryOutsideTheTrainingDataIsAnError) {
  namespace fs = std::filesystem;
  fs::path dir =
      fs::temp_directory_path() / ("rnnc_names_" + std::to_string(static_cast<long>(::getpid())));
  fs::create_directories(dir / "names");
  auto write = [&](const std::string& file, const std::string& rows) {
    std::string command = "printf '" + rows + "' | gzip > " + (dir / "names" / file).string();
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  };
  const std::string options = " --batch-size 2 --epochs 1 --hidden 2 --layers 1 --data ";
  write("names_train.csv.gz", "\"Adam\",\"English\"\\r\\n\"Ivan\",\"Russian\"\\r\\n");
  write("names_test.csv.gz", "\"Zoe\",\"English\"\\r\\n");
  ProgramRun r = run_program(binary("names") + options + dir.string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("names_test.csv.gz:1: character 'Z'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"Zoe\""), std::string::npos) << r.output;
  write("names_test.csv.gz", "\"Ada\",\"French\"\\r\\n");
  r = run_program(binary("names") + options + dir.string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("names_test.csv.gz:1: country 'French'"), std::string::npos) << r.output;
  write("names_test.csv.gz", "\"Ada\",\"English\"\\r\\n");
  r = run_program(binary("names") + options + dir.string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(result_fields(r.output)["test_examples"], "1") << r.output;
  fs::remove_all(dir);
}

TEST(NamesExample, BadOptionsAreErrors) {
  for (const char* arguments :
       {"--epochs -1", "--hidden 0", "--batch-size ten", "--epochs", "--colour blue"}) {
    ProgramRun r = run_program(binary("names") + " " + arguments);
    EXPECT_NE(r.status, 0) << arguments << "\n" << r.output;
    EXPECT_NE(r.output.find("names: "), std::string::npos) << arguments << "\n" << r.output;
  }
}

}  // namespace
