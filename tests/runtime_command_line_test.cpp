#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ir/error.h"
#include "runtime/command_line.h"

namespace {

/// Parses `words` (after a program name) with `parser`; the parser's result.
bool parse(const rnnc::OptionParser& parser, std::vector<std::string> words) {
  words.insert(words.begin(), "program");
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  return parser.parse(static_cast<int>(argv.size()), argv.data());
}

/// The message of the rnnc::Error that parsing `words` throws ("" when it throws none).
std::string error_of(const rnnc::OptionParser& parser, std::vector<std::string> words) {
  try {
    parse(parser, std::move(words));
  } catch (const rnnc::Error& error) {
    return error.what();
  }
  return "";
}

struct Settings {
  int64_t steps = 1;
  double lr = 0.5, clip = 5;
  std::string data = "data";
  bool free = false;
  std::vector<std::string> seen;
};

rnnc::OptionParser parser_for(Settings& s) {
  rnnc::OptionParser parser("usage: program [--steps N] ...");
  parser.integer("--steps", &s.steps, 0, 100);
  parser.real("--lr", &s.lr, 0, 10);
  parser.positive_real("--clip", &s.clip, 1e6);
  parser.text("--data", &s.data);
  parser.choice("--mode", {"teacher", "free"},
                [&](const std::string& mode) { s.free = mode == "free"; });
  parser.custom("--word", [&](const std::string& word) {
    if (word.empty()) throw rnnc::Error("may not be empty");
    s.seen.push_back(word);
  });
  return parser;
}

TEST(OptionParser, SetsEveryKindOfOptionAndKeepsDefaults) {
  Settings s;
  rnnc::OptionParser parser = parser_for(s);
  EXPECT_TRUE(parse(parser, {"--steps", "7", "--lr", "0", "--mode", "free", "--word", "a", "--word",
                             "b", "--steps", "9"}));
  EXPECT_EQ(s.steps, 9);  // the last value wins
  EXPECT_EQ(s.lr, 0);
  EXPECT_EQ(s.clip, 5);
  EXPECT_EQ(s.data, "data");
  EXPECT_TRUE(s.free);
  EXPECT_EQ(s.seen, (std::vector<std::string>{"a", "b"}));
}

TEST(OptionParser, HelpStopsParsing) {
  Settings s;
  rnnc::OptionParser parser = parser_for(s);
  testing::internal::CaptureStdout();
  EXPECT_FALSE(parse(parser, {"--steps", "3", "--help", "--steps", "4"}));
  EXPECT_NE(testing::internal::GetCapturedStdout().find("usage: program"), std::string::npos);
  EXPECT_EQ(s.steps, 3);
}

TEST(OptionParser, BadValuesNameTheOption) {
  Settings s;
  rnnc::OptionParser parser = parser_for(s);
  EXPECT_NE(error_of(parser, {"--steps", "2.5"}).find("--steps must be an integer in [0, 100]"),
            std::string::npos);
  EXPECT_NE(error_of(parser, {"--steps", "101"}).find("got '101'"), std::string::npos);
  EXPECT_NE(error_of(parser, {"--steps", "99999999999999999999"}).find("--steps"),
            std::string::npos);
  EXPECT_NE(error_of(parser, {"--lr", "nan"}).find("--lr must be a number in [0, 10]"),
            std::string::npos);
  EXPECT_NE(error_of(parser, {"--clip", "0"}).find("--clip must be a number in (0, 1e+06]"),
            std::string::npos);
  EXPECT_NE(error_of(parser, {"--mode", "sometimes"}).find("--mode must be teacher or free"),
            std::string::npos);
  EXPECT_NE(error_of(parser, {"--word", ""}).find("--word: may not be empty"), std::string::npos);
  EXPECT_NE(error_of(parser, {"--steps"}).find("--steps needs a value"), std::string::npos);
  std::string unknown = error_of(parser, {"--layers", "2"});
  EXPECT_NE(unknown.find("unknown option '--layers'"), std::string::npos);
  EXPECT_NE(unknown.find("usage: program"), std::string::npos);
  EXPECT_EQ(error_of(parser, {"--steps", "0", "--clip", "1e6"}), "");
}

}  // namespace
