// Runs the lecture's small sequence examples (built into <build>/bin) and checks their RESULT
// lines: hihell learns "ihello" both ways; vanishing_gradients measures vanishing gradients
// in the vanilla RNN, not in the LSTM and GRU, the exploding case and its clipping, and
// plots the three curves.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/programs.h"

namespace {

using namespace rnnc::testprog;

/// How many times `needle` occurs in `text`.
size_t count(const std::string& text, const std::string& needle) {
  size_t found = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++found;
  return found;
}

TEST(SequenceExamples, HihellLearnsIhelloWithOneHotAndEmbeddedCharacters) {
  ProgramRun r = run_program(binary("hihell"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto fields = result_fields(r.output);
  ASSERT_TRUE(fields.count("predicted") && fields.count("onehot_epoch") &&
              fields.count("embedding_epoch"))
      << r.output;
  EXPECT_EQ(fields["predicted"], "ihello") << r.output;
  int onehot = std::stoi(fields["onehot_epoch"]);
  int embedding = std::stoi(fields["embedding_epoch"]);
  // Both variants got there (an epoch of -1 means never), within the lecture's 100 epochs.
  EXPECT_GE(onehot, 1) << r.output;
  EXPECT_LE(onehot, 100);
  EXPECT_GE(embedding, 1) << r.output;
  EXPECT_LE(embedding, 100);
  // Each variant's success line is printed with the epoch the RESULT line reports.
  EXPECT_NE(r.output.find("one-hot: predicted \"ihello\" first at epoch " + fields["onehot_epoch"]),
            std::string::npos)
      << r.output;
  EXPECT_NE(
      r.output.find("embedding: predicted \"ihello\" first at epoch " + fields["embedding_epoch"]),
      std::string::npos)
      << r.output;
}

TEST(SequenceExamples, HihellRejectsABadEpochCount) {
  ProgramRun r = run_program(binary("hihell") + " zero");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("max_epochs"), std::string::npos) << r.output;
}

TEST(SequenceExamples, VanishingGradientsMeasuresTheRnnAgainstLstmAndGru) {
  namespace fs = std::filesystem;
  fs::path svg = fs::temp_directory_path() /
                 ("rnnc_vanishing_" + std::to_string(static_cast<long>(::getpid())) + ".svg");
  fs::remove(svg);
  ProgramRun r = run_program(binary("vanishing_gradients") + " " + svg.string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto fields = result_fields(r.output);
  for (const char* key : {"rnn_ratio", "lstm_ratio", "gru_ratio", "exploding_ratio",
                          "exploding_grad_norm", "clipped_grad_norm", "fd_error"})
    ASSERT_TRUE(fields.count(key)) << key << "\n" << r.output;
  double rnn = std::stod(fields["rnn_ratio"]);
  double lstm = std::stod(fields["lstm_ratio"]);
  double gru = std::stod(fields["gru_ratio"]);
  // Vanishing: after 99 steps back the RNN's gradient is many orders of magnitude smaller
  // than at the end, and far smaller relative to that than the gated cells'.
  EXPECT_GT(rnn, 0) << r.output;
  EXPECT_LT(rnn, 1e-10) << r.output;
  EXPECT_LT(rnn * 1e6, lstm) << r.output;
  EXPECT_LT(rnn * 1e6, gru) << r.output;
  // Exploding: large recurrent weights make the early gradient far larger than the late one;
  // clipping by global norm brings the parameter gradient back to exactly the threshold 5.
  EXPECT_GT(std::stod(fields["exploding_ratio"]), 1e3) << r.output;
  EXPECT_GT(std::stod(fields["exploding_grad_norm"]), 5) << r.output;
  EXPECT_NEAR(std::stod(fields["clipped_grad_norm"]), 5, 1e-6) << r.output;
  // The symbolic backward through the Scan agrees with central finite differences.
  EXPECT_LT(std::stod(fields["fd_error"]), 1e-5) << r.output;

  std::ifstream in(svg);
  ASSERT_TRUE(in.good()) << svg;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("<svg", 0), 0u);
  EXPECT_NE(text.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(text, "<polyline"), 3u);
  // Every curve has one point per time step.
  size_t at = text.find("<polyline");
  while (at != std::string::npos) {
    size_t points = text.find("points=\"", at);
    size_t end = text.find('"', points + 8);
    EXPECT_EQ(count(text.substr(points + 8, end - points - 8), ","), 100u);
    at = text.find("<polyline", end);
  }
  fs::remove(svg);
}

}  // namespace
