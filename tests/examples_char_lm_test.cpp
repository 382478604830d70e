// Runs the lecture's character language model (built into <build>/bin/char_lm) with small
// budgets: teacher-forced training lowers the held-out bits per character far below the
// uniform guess, the free-running variant trains too (and does worse, as the lecture says),
// the sample continues its prime, and bad options or a prime outside the vocabulary fail with
// a message. The full set-up (3000 steps, val_bpc <= 2.3) is the README's command.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "tests/support/programs.h"

namespace {

using namespace rnnc::testprog;

/// A small but real run: 20000 characters, LSTM of 32, 150 Adam steps.
const std::string kSmall =
    " --steps 150 --batch-size 8 --seq-len 20 --hidden 32 --embedding 16 --max-chars 20000"
    " --eval-every 75 --val-windows 40 --sample-length 60 --lr 0.01";

/// log2 of the vocabulary size of the first 20000 characters: what a uniform guess scores.
double uniform_bpc(const std::string& output) {
  size_t at = output.find("vocabulary ");
  EXPECT_NE(at, std::string::npos) << output;
  return std::log2(std::stod(output.substr(at + 11)));
}

TEST(CharLmExample, TeacherForcingLearnsTheText) {
  ProgramRun r = run_program(binary("char_lm") + kSmall);
  ASSERT_EQ(r.status, 0) << r.output;
  auto fields = result_fields(r.output);
  ASSERT_TRUE(fields.count("val_bpc")) << r.output;
  EXPECT_EQ(fields["mode"], "teacher");
  EXPECT_EQ(fields["steps"], "150");
  double bpc = std::stod(fields["val_bpc"]);
  double uniform = uniform_bpc(r.output);
  EXPECT_GT(uniform, 5.5) << r.output;
  EXPECT_LT(bpc, 4.0) << r.output;  // from 5.7 at the start
  EXPECT_NE(r.output.find("sample (temperature 0.80):\nROMEO:"), std::string::npos) << r.output;
}

TEST(CharLmExample, FreeRunningTrainsButPredictsWorse) {
  ProgramRun teacher = run_program(binary("char_lm") + kSmall);
  ProgramRun free = run_program(binary("char_lm") + kSmall + " --mode free");
  ASSERT_EQ(teacher.status, 0) << teacher.output;
  ASSERT_EQ(free.status, 0) << free.output;
  double teacher_bpc = std::stod(result_fields(teacher.output)["val_bpc"]);
  double free_bpc = std::stod(result_fields(free.output)["val_bpc"]);
  EXPECT_EQ(result_fields(free.output)["mode"], "free");
  EXPECT_TRUE(std::isfinite(free_bpc)) << free.output;
  EXPECT_LT(free_bpc, uniform_bpc(free.output)) << free.output;  // it learns something
  EXPECT_GT(free_bpc, teacher_bpc) << free.output;               // but less than teacher forcing
}

TEST(CharLmExample, SamplingIsSeededAndTemperatureMatters) {
  const std::string base = binary("char_lm") +
                           " --steps 0 --hidden 8 --embedding 4 --max-chars 3000 --val-windows 2"
                           " --seq-len 10 --batch-size 2 --sample-length 80";
  ProgramRun a = run_program(base + " --temperature 0.8");
  ProgramRun b = run_program(base + " --temperature 0.8");
  ProgramRun cold = run_program(base + " --temperature 0.01");
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(a.output.substr(a.output.find("sample")), b.output.substr(b.output.find("sample")));
  EXPECT_NE(a.output.substr(a.output.find("sample")),
            cold.output.substr(cold.output.find("sample")));
}

TEST(CharLmExample, BadInputFailsWithAMessage) {
  ProgramRun prime =
      run_program(binary("char_lm") + " --steps 0 --max-chars 3000 --prime 'ROMEO€'");
  EXPECT_EQ(prime.status, 1);
  EXPECT_NE(prime.output.find("char_lm: "), std::string::npos) << prime.output;
  EXPECT_NE(prime.output.find("€"), std::string::npos) << prime.output;
  ProgramRun mode = run_program(binary("char_lm") + " --mode sometimes");
  EXPECT_EQ(mode.status, 1);
  EXPECT_NE(mode.output.find("--mode must be teacher or free"), std::string::npos) << mode.output;
  ProgramRun steps = run_program(binary("char_lm") + " --steps 2.5");
  EXPECT_EQ(steps.status, 1);
  EXPECT_NE(steps.output.find("--steps must be an integer"), std::string::npos) << steps.output;
  ProgramRun seq = run_program(binary("char_lm") + " --max-chars 50 --seq-len 100 --prime First");
  EXPECT_EQ(seq.status, 1);
  EXPECT_NE(seq.output.find("shorter than one window"), std::string::npos) << seq.output;
  ProgramRun unknown = run_program(binary("char_lm") + " --layers 2");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.output.find("unknown option '--layers'"), std::string::npos) << unknown.output;
}

}  // namespace
