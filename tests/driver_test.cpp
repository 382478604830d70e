// The rnnc driver end to end: exit codes and messages on good and bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/npy.h"

namespace rnnc {
namespace {

struct Outcome {
  int status;
  std::string output;  ///< stdout and stderr together
};

Outcome run_driver(const std::string& arguments) {
  std::string command = std::string(RNNC_BINARY_DIR) + "/bin/rnnc " + arguments + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  Outcome outcome{-1, ""};
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) outcome.output.append(buffer.data(), n);
  int status = pclose(pipe);
  outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

std::string temp_file(const std::string& name, const std::string& contents) {
  std::string path = ::testing::TempDir() + "rnnc_driver_" + name;
  std::ofstream(path) << contents;
  return path;
}

const char* kModel =
    "graph @affine {\n"
    "  %x = input() : f32[2, 3]\n"
    "  %w = parameter() {init = \"ones\", seed = 0, role = \"weight\"} : f32[3, 1]\n"
    "  %y = matmul(%x, %w) {transpose_a = 0, transpose_b = 0} : f32[2, 1]\n"
    "  output y = %y\n"
    "}\n";

TEST(Driver, DumpPrintsTheModel) {
  Outcome outcome = run_driver("dump " + temp_file("ok.rnn", kModel));
  EXPECT_EQ(outcome.status, 0) << outcome.output;
  EXPECT_EQ(outcome.output, kModel);
}

TEST(Driver, RunWritesOutputs) {
  std::string x = ::testing::TempDir() + "rnnc_driver_x.npy";
  write_npy(x, Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6}));
  std::string out = ::testing::TempDir() + "rnnc_driver_out";
  Outcome outcome = run_driver("run " + temp_file("ok.rnn", kModel) + " --input x=" + x +
                               " --output-dir " + out);
  ASSERT_EQ(outcome.status, 0) << outcome.output;
  Tensor y = read_npy(out + "/y.npy");
  EXPECT_EQ(y.to_doubles(), (std::vector<double>{6, 15}));
}

TEST(Driver, UnknownOpNamesFileAndLine) {
  std::string model = kModel;
  model.replace(model.find("matmul("), 6, "matmull");
  std::string path = temp_file("bad_op.rnn", model);
  Outcome outcome = run_driver("dump " + path);
  EXPECT_EQ(outcome.status, 1);
  EXPECT_NE(outcome.output.find(path + ":4:"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("unknown op 'matmull'"), std::string::npos) << outcome.output;
}

TEST(Driver, ShapeMismatchNamesTheNode) {
  std::string model = kModel;
  model.replace(model.find("f32[3, 1]"), 9, "f32[4, 1]");
  std::string path = temp_file("bad_shape.rnn", model);
  Outcome outcome = run_driver("dump " + path);
  EXPECT_EQ(outcome.status, 1);
  EXPECT_NE(outcome.output.find("%y = matmul(%x: f32[2, 3], %w: f32[4, 1])"), std::string::npos)
      << outcome.output;
}

TEST(Driver, TruncatedNpyNamesTheFile) {
  std::string x = ::testing::TempDir() + "rnnc_driver_trunc.npy";
  write_npy(x, Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6}));
  std::filesystem::resize_file(x, std::filesystem::file_size(x) - 5);
  Outcome outcome = run_driver("run " + temp_file("ok.rnn", kModel) + " --input x=" + x +
                               " --output-dir " + ::testing::TempDir() + "rnnc_driver_o2");
  EXPECT_EQ(outcome.status, 1);
  EXPECT_NE(outcome.output.find(x), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("truncated"), std::string::npos) << outcome.output;
}

TEST(Driver, MistypedInputIsRejected) {
  std::string x = ::testing::TempDir() + "rnnc_driver_f64.npy";
  write_npy(x, Tensor::from_doubles(DType::f64, {2, 3}, {1, 2, 3, 4, 5, 6}));
  Outcome outcome = run_driver("run " + temp_file("ok.rnn", kModel) + " --input x=" + x +
                               " --output-dir " + ::testing::TempDir() + "rnnc_driver_o3");
  EXPECT_EQ(outcome.status, 1);
  EXPECT_NE(outcome.output.find("input 'x' is f64[2, 3] but the graph declares f32[2, 3]"),
            std::string::npos)
      << outcome.output;
}

TEST(Driver, MissingInputAndUnknownOption) {
  Outcome missing = run_driver("run " + temp_file("ok.rnn", kModel) + " --output-dir " +
                               ::testing::TempDir() + "rnnc_driver_o4");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("missing input 'x' (f32[2, 3])"), std::string::npos)
      << missing.output;
  Outcome unknown = run_driver("dump --frobnicate x.rnn");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.output.find("unknown option --frobnicate"), std::string::npos);
  Outcome absent = run_driver("dump /nonexistent/model.rnn");
  EXPECT_EQ(absent.status, 1);
  EXPECT_NE(absent.output.find("/nonexistent/model.rnn"), std::string::npos);
}

TEST(Driver, HelpForEveryCommand) {
  for (const char* command : {"--help", "dump --help", "run --help"}) {
    Outcome outcome = run_driver(command);
    EXPECT_EQ(outcome.status, 0) << command;
    EXPECT_NE(outcome.output.find("usage: rnnc"), std::string::npos) << command;
  }
  EXPECT_EQ(run_driver("").status, 2);
  EXPECT_EQ(run_driver("frobnicate").status, 2);
}

}  // namespace
}  // namespace rnnc
