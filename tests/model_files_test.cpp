// The committed text-IR model files (examples/models/*.rnn): each equals what rnnc-models
// writes now, parses, verifies, and prints back to the same text.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace {

namespace fs = std::filesystem;

const fs::path kCommitted = fs::path(RNNC_SOURCE_DIR) / "examples" / "models";
const char kRegenerate[] =
    "regenerate the committed files with: <build>/bin/rnnc-models examples/models "
    "(from the repository root), and review the diff";

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// The .rnn files in `dir`, by file name.
std::set<std::string> model_files(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".rnn") names.insert(entry.path().filename().string());
  return names;
}

/// The models the lecture needs, forward and training step each.
const std::set<std::string>& expected_files() {
  static const std::set<std::string> names = [] {
    std::set<std::string> all;
    for (const char* model : {"hihell_rnn", "diabetes", "sst_lstm", "names_gru", "char_lstm"})
      for (const char* kind : {".forward.rnn", ".train.rnn"}) all.insert(model + std::string(kind));
    return all;
  }();
  return names;
}

TEST(ModelFiles, CommittedFilesEqualTheGeneratorsOutput) {
  fs::path out =
      fs::temp_directory_path() / ("rnnc_models_" + std::to_string(static_cast<long>(::getpid())));
  fs::remove_all(out);
  struct RemoveAtExit {
    fs::path path;
    ~RemoveAtExit() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } cleanup{out};
  std::string command = std::string(RNNC_BINARY_DIR) + "/bin/rnnc-models " + out.string() + " 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << command;
  char buffer[4096];
  size_t count;
  while ((count = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, count);
  int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << output;

  std::set<std::string> generated = model_files(out);
  EXPECT_EQ(generated, expected_files());
  EXPECT_EQ(model_files(kCommitted), generated) << kRegenerate;
  for (const std::string& name : generated) {
    std::string fresh = read(out / name);
    std::string committed = read(kCommitted / name);
    if (fresh == committed) continue;
    // Name the first differing line, so the failure says what changed.
    size_t at = 0;
    while (at < fresh.size() && at < committed.size() && fresh[at] == committed[at]) ++at;
    size_t line = 1 + std::count(fresh.begin(), fresh.begin() + at, '\n');
    ADD_FAILURE() << "examples/models/" << name << " differs from the generator's output from line "
                  << line << "; " << kRegenerate;
  }
}

TEST(ModelFiles, CommittedFilesParseVerifyAndRoundTrip) {
  std::set<std::string> names = model_files(kCommitted);
  ASSERT_EQ(names, expected_files());
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    std::string text = read(kCommitted / name);
    // Modest files: declared parameters, never stored weights.
    EXPECT_LT(text.size(), 300u * 1024u);
    std::unique_ptr<rnnc::ir::Graph> graph;
    try {
      graph = rnnc::ir::parse_graph(text, name);
      rnnc::ir::verify(*graph);
    } catch (const rnnc::Error& error) {
      ADD_FAILURE() << error.what();
      continue;
    }
    EXPECT_EQ(rnnc::ir::print_graph(*graph), text);
    // A training step updates every weight; a forward graph updates nothing.
    bool training = name.find(".train.") != std::string::npos;
    EXPECT_EQ(graph->updates().empty(), !training);
    if (training) {
      EXPECT_NE(graph->output("loss"), nullptr);
    }
    EXPECT_FALSE(graph->nodes_of(rnnc::ir::OpKind::Parameter).empty());
  }
}

TEST(ModelFiles, RecurrentModelsLoopInsteadOfUnrolling) {
  // One Scan per layer and direction in the forward graph, whatever T is.
  struct Expected {
    const char* name;
    size_t scans;
  };
  for (Expected expected : {Expected{"hihell_rnn.forward.rnn", 1},
                            {"sst_lstm.forward.rnn", 1},
                            {"names_gru.forward.rnn", 4},
                            {"char_lstm.forward.rnn", 1},
                            {"diabetes.forward.rnn", 0}}) {
    SCOPED_TRACE(expected.name);
    auto graph = rnnc::ir::parse_graph_file((kCommitted / expected.name).string());
    EXPECT_EQ(graph->nodes_of(rnnc::ir::OpKind::Scan).size(), expected.scans);
  }
}

}  // namespace
