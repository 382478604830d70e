// A bounded, deterministic run of the importer's fuzz target (tests/fuzz/) in the test
// suite: thousands of mutations of the seed models, each of which must import into a graph
// that verifies or be rejected with rnnc::Error (the entry point aborts on anything else).
// The coverage-guided libFuzzer run of the same entry point is tests/fuzz/CMakeLists.txt's.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/mutations.h"

#ifdef RNNC_HAVE_ONNX
#include "tests/fuzz/onnx_import_fuzzer.cpp"  // NOLINT: the fuzz target's one entry point
#endif

namespace rnnc {
namespace {

#ifdef RNNC_HAVE_ONNX

const std::string kSeedDir = std::string(RNNC_SOURCE_DIR) + "/tests/fuzz/seeds";

std::vector<std::string> seeds() {
  std::vector<std::string> corpus;
  for (const auto& entry : std::filesystem::directory_iterator(kSeedDir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return corpus;
}

/// Feeds `unit` to the fuzz target; true when it imported (and verified).
bool feed(const std::string& unit) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(unit.data()), unit.size());
  try {
    import_onnx_bytes(unit.data(), unit.size());
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(OnnxFuzz, SeedsImport) {
  std::vector<std::string> corpus = seeds();
  ASSERT_GE(corpus.size(), 5u);
  for (const std::string& unit : corpus) EXPECT_TRUE(feed(unit));
}

TEST(OnnxFuzz, MutatedSeedsImportOrFailCleanly) {
  std::vector<std::string> corpus = seeds();
  std::mt19937_64 random(20240611);
  int imported = 0, rejected = 0;
  for (int run = 0; run < 20000; ++run) {
    std::string unit = fuzz::mutate(corpus[random() % corpus.size()], random);
    (feed(unit) ? imported : rejected) += 1;
  }
  // Both outcomes occur: the mutations reach past the protobuf parser into the importer.
  EXPECT_GT(imported, 0);
  EXPECT_GT(rejected, 0);
}

#else

TEST(OnnxFuzz, SkippedWithoutOnnx) { GTEST_SKIP() << "built without libonnx-dev"; }

#endif

}  // namespace
}  // namespace rnnc
