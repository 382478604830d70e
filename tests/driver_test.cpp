// The rnnc driver end to end: exit codes and messages on good and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "runtime/npy.h"
#include "tests/support/programs.h"

namespace rnnc {
namespace {

using Outcome = testprog::ProgramRun;

Outcome run_driver(const std::string& arguments) {
  return testprog::run_program(testprog::binary("rnnc") + " " + arguments);
}

/// Writes `contents` to a file in the test directory. ctest runs tests in parallel processes
/// that may write the same file: it is written aside and renamed, so readers never see it
/// half written.
std::string temp_file(const std::string& name, const std::string& contents) {
  std::string path = ::testing::TempDir() + "rnnc_driver_" + name;
  std::string aside = path + "." + std::to_string(getpid()) + ".tmp";
  std::ofstream(aside) << contents;
  std::filesystem::rename(aside, path);
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
  Outcome outcome =
      run_driver("run " + temp_file("ok.rnn", kModel) + " --input x=" + x + " --output-dir " + out);
  ASSERT_EQ(outcome.status, 0) << outcome.output;
  Tensor y = read_npy(out + "/y.npy");
  EXPECT_EQ(y.to_doubles(), (std::vector<double>{6, 15}));
}

TEST(Driver, RunFlushesDenormalsUnlessAskedToKeepThem) {
  // Denormal inputs (DAZ) give 0 on the cpu backend by default; --keep-denormals gives the
  // interpreter's IEEE sums (3e-39, itself denormal).
#ifndef RNNC_HAVE_CPU
  GTEST_SKIP() << "no cpu backend in this build";
#endif
  std::string x = ::testing::TempDir() + "rnnc_driver_denormal_x.npy";
  write_npy(x, Tensor::from_floats({2, 3}, {1e-39f, 1e-39f, 1e-39f, 1e-39f, 1e-39f, 1e-39f}));
  for (bool keep : {false, true}) {
    std::string out = ::testing::TempDir() + "rnnc_driver_denormal_out" + (keep ? "_kept" : "");
    Outcome outcome =
        run_driver("run " + temp_file("ok.rnn", kModel) + " --backend cpu --input x=" + x +
                   (keep ? " --keep-denormals" : "") + " --output-dir " + out);
    ASSERT_EQ(outcome.status, 0) << outcome.output;
    for (double y : read_npy(out + "/y.npy").to_doubles()) {
      if (keep)
        EXPECT_NEAR(y, 3e-39, 1e-44);
      else
        EXPECT_EQ(y, 0.0);
    }
  }
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

const char* kRedundantModel =
    "graph @redundant {\n"
    "  %x = input() : f32[2, 3]\n"
    "  %one = constant() {value = [1.0]} : f32[2, 3]\n"
    "  %a = mul(%x, %one) : f32[2, 3]\n"
    "  %b = mul(%one, %x) : f32[2, 3]\n"
    "  %y = add(%a, %b) : f32[2, 3]\n"
    "  output y = %y\n"
    "}\n";

const char* kRedundantOptimized =
    "graph @redundant {\n"
    "  %x = input() : f32[2, 3]\n"
    "  %y = add(%x, %x) : f32[2, 3]\n"
    "  output y = %y\n"
    "}\n";

TEST(Driver, DumpOptimizedIrByLevelOrPasses) {
  std::string path = temp_file("redundant.rnn", kRedundantModel);
  for (const char* options :
       {"--emit=opt-ir", "-O1", "--emit=opt-ir -O1", "--passes=canonicalize"}) {
    Outcome outcome = run_driver("dump " + std::string(options) + " " + path);
    EXPECT_EQ(outcome.status, 0) << options << outcome.output;
    EXPECT_EQ(outcome.output, kRedundantOptimized) << options;
  }
  for (const char* options : {"", "--emit=ir", "-O0", "--emit=opt-ir -O0", "--passes="}) {
    Outcome outcome = run_driver("dump " + std::string(options) + " " + path);
    EXPECT_EQ(outcome.status, 0) << options << outcome.output;
    EXPECT_EQ(outcome.output, kRedundantModel) << options;
  }
  Outcome cse = run_driver("dump --passes=' cse , dce ' " + path);
  EXPECT_EQ(cse.status, 0) << cse.output;
  EXPECT_NE(cse.output.find("%a = mul(%x, %one)"), std::string::npos) << cse.output;
  EXPECT_NE(cse.output.find("%y = add(%a, %a)"), std::string::npos) << cse.output;
  EXPECT_EQ(cse.output.find("%b ="), std::string::npos) << cse.output;
}

TEST(Driver, PrintAfterAndTimePasses) {
  std::string path = temp_file("redundant.rnn", kRedundantModel);
  Outcome outcome = run_driver("dump --passes=cse,dce --print-after=cse --time-passes " + path);
  ASSERT_EQ(outcome.status, 0) << outcome.output;
  size_t printed = outcome.output.find("// IR after cse\ngraph @redundant {");
  EXPECT_NE(printed, std::string::npos) << outcome.output;
  // After cse the dead mul %b is still there; the final IR (after dce) has none.
  EXPECT_NE(outcome.output.find("%b = mul", printed), std::string::npos) << outcome.output;
  EXPECT_EQ(outcome.output.find("// IR after dce"), std::string::npos) << outcome.output;
  size_t timing = outcome.output.find("=== pass timing ===");
  ASSERT_NE(timing, std::string::npos) << outcome.output;
  for (const char* row : {"cse", "dce", "(verifier)", "total"})
    EXPECT_NE(outcome.output.find(std::string("\n  ") + row + " ", timing), std::string::npos)
        << row;
  Outcome unverified = run_driver("dump -O1 --no-verify-each " + path);
  EXPECT_EQ(unverified.status, 0) << unverified.output;
  EXPECT_EQ(unverified.output, kRedundantOptimized);
}

TEST(Driver, GraphvizToStdoutOrFile) {
  std::string path = temp_file("redundant.rnn", kRedundantModel);
  Outcome dot = run_driver("dump --dot " + path);
  ASSERT_EQ(dot.status, 0) << dot.output;
  EXPECT_EQ(dot.output.rfind("digraph \"redundant\" {\n", 0), 0u) << dot.output;
  EXPECT_NE(dot.output.find("%b = mul"), std::string::npos) << dot.output;
  EXPECT_EQ(dot.output.back(), '\n');
  EXPECT_EQ(dot.output.find("graph @redundant"), std::string::npos) << dot.output;

  std::string file = ::testing::TempDir() + "rnnc_driver_redundant.dot";
  std::filesystem::remove(file);
  Outcome both = run_driver("dump -O1 --dot=" + file + " " + path);
  ASSERT_EQ(both.status, 0) << both.output;
  EXPECT_EQ(both.output, kRedundantOptimized);
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("digraph \"redundant\" {\n", 0), 0u) << text;
  EXPECT_EQ(text.find("mul"), std::string::npos) << "the optimized graph is drawn: " << text;
  EXPECT_NE(text.find("%y = add"), std::string::npos) << text;
}

TEST(Driver, BadPipelineOptionsAreClearErrors) {
  std::string path = temp_file("redundant.rnn", kRedundantModel);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--passes=bogus",
       "--passes: unknown pass 'bogus' in pipeline (known passes: canonicalize, "},
      {"--passes=cse,,dce", "item 2 is empty"},
      {"--passes=dce,", "item 2 is empty"},
      {"--passes=cse -O1", "give either --passes or -O<level>, not both"},
      {"-O9", "unknown optimization level -O9 (known: -O0, -O1)"},
      {"-O", "unknown optimization level -O (known: -O0, -O1)"},
      {"--emit=ir -O1", "-O<level> runs passes, which --emit=ir does not"},
      {"--emit=ir --passes=dce", "--passes runs passes, which --emit=ir does not"},
      {"--emit=bogus",
       "--emit=bogus is not supported (supported: ir, opt-ir, program, llvm, cuda, ptx)"},
      {"--print-after=bogus", "--print-after: cannot print after unknown pass 'bogus'"},
      {"--passes=cse --print-after=dce",
       "cannot print after pass 'dce': the pipeline does not run it (pipeline: cse)"},
      {"-O0 --print-after=canonicalize", "the pipeline does not run it (pipeline: empty)"},
      {"--time-passes=1", "option --time-passes takes no value"},
      {"--dot=/nonexistent/dir/g.dot", "cannot write /nonexistent/dir/g.dot"},
      {"-x", "unknown option -x"},
  };
  for (const auto& [options, message] : cases) {
    Outcome outcome = run_driver("dump " + options + " " + path);
    EXPECT_EQ(outcome.status, 1) << options << ": " << outcome.output;
    EXPECT_NE(outcome.output.find("rnnc: error: "), std::string::npos) << options;
    EXPECT_NE(outcome.output.find(message), std::string::npos) << options << ": " << outcome.output;
  }
}

TEST(Driver, DumpProgram) {
  const std::string kProgram =
      "// program @affine: arena_bytes = 0, unshared_bytes = 0 (reuse 1.00x), residuals = 0 "
      "(0 bytes)\n"
      "buffers {\n"
      "  #0 %x : f32[2, 3] input, 24 bytes, external 0\n"
      "  #1 %w : f32[3, 1] parameter, 12 bytes, external 1\n"
      "  #2 %y : f32[2, 1] output, 8 bytes, external 2\n"
      "}\n"
      "steps {\n"
      "  matmul matmul %y (#0, #1) -> (#2)\n"
      "}\n";
  std::string path = temp_file("ok.rnn", kModel);
  for (const char* options :
       {"--emit=program", "--emit=program -O0", "--passes=cse,plan-memory", "--passes=plan-memory",
        "--emit=program --passes=' dce , plan-memory '"}) {
    Outcome outcome = run_driver("dump " + std::string(options) + " " + path);
    EXPECT_EQ(outcome.status, 0) << options << outcome.output;
    EXPECT_EQ(outcome.output, kProgram) << options;
  }
  // The redundant model after -O1: x + x, computed straight into the output buffer.
  Outcome optimized =
      run_driver("dump --emit=program " + temp_file("redundant.rnn", kRedundantModel));
  EXPECT_EQ(optimized.status, 0) << optimized.output;
  EXPECT_NE(optimized.output.find("  elementwise add %y (#0, #0) -> (#1)\n"), std::string::npos)
      << optimized.output;
  EXPECT_EQ(optimized.output.find("mul"), std::string::npos) << optimized.output;
}

TEST(Driver, PlanMemoryOnlyEndsAPipeline) {
  std::string path = temp_file("redundant.rnn", kRedundantModel);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--passes=plan-memory,dce",
       "--passes: 'plan-memory' in pipeline 'plan-memory,dce' must be its last item: it lowers "
       "the graph to a program"},
      {"--emit=program --passes=cse,plan-memory,plan-memory", "must be its last item"},
      {"--emit=opt-ir --passes=cse,plan-memory",
       "--passes ends with plan-memory, which makes a program: use --emit=program"},
      {"--passes=cse,,plan-memory", "item 2 is empty"},
      {"--emit=program --dot", "--dot draws a graph, not a program"},
  };
  for (const auto& [options, message] : cases) {
    Outcome outcome = run_driver("dump " + options + " " + path);
    EXPECT_EQ(outcome.status, 1) << options << ": " << outcome.output;
    EXPECT_NE(outcome.output.find("rnnc: error: "), std::string::npos) << options;
    EXPECT_NE(outcome.output.find(message), std::string::npos) << options << ": " << outcome.output;
  }
}

TEST(Driver, DumpEmitsLlvmCudaAndPtx) {
  std::string path = temp_file("redundant.rnn", kRedundantModel);
#ifdef RNNC_HAVE_CPU
  Outcome llvm = run_driver("dump --emit=llvm " + path);
  EXPECT_EQ(llvm.status, 0) << llvm.output;
  EXPECT_NE(llvm.output.find("define i32 @rnnc_program("), std::string::npos) << llvm.output;
#endif
#ifdef RNNC_HAVE_CUDA
  Outcome cuda = run_driver("dump --emit=cuda " + path);
  EXPECT_EQ(cuda.status, 0) << cuda.output;
  EXPECT_NE(cuda.output.find("extern \"C\" __global__ void k0_"), std::string::npos) << cuda.output;
  EXPECT_NE(cuda.output.find("launch plan: "), std::string::npos) << cuda.output;
  Outcome ptx = run_driver("dump --emit=ptx " + path);
  EXPECT_EQ(ptx.status, 0) << ptx.output;
  EXPECT_NE(ptx.output.find(".entry k0_"), std::string::npos) << ptx.output;
  EXPECT_NE(ptx.output.find("// ptxas info    : Used "), std::string::npos) << ptx.output;
  EXPECT_NE(ptx.output.find("spill stores"), std::string::npos) << ptx.output;
#endif
}

TEST(Driver, DumpHelpListsPassesAndLevels) {
  Outcome outcome = run_driver("dump --help");
  ASSERT_EQ(outcome.status, 0);
  for (const char* text : {"--emit=ir",           "--emit=opt-ir",     "--emit=program",
                           "--emit=llvm",         "--emit=cuda",       "--emit=ptx",
                           "\n  plan-memory ",    "-O<level>",         "-O0: (no passes)",
                           "-O1: canonicalize",   "--passes=",         "--print-after=PASS",
                           "--time-passes",       "--no-verify-each",  "--dot ",
                           "--dot=FILE",          "\n  canonicalize ", "\n  simplify ",
                           "\n  fold-constants ", "\n  cse ",          "\n  dce "})
    EXPECT_NE(outcome.output.find(text), std::string::npos) << text;
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
