// The plain driver of onnx_import_fuzzer where clang's libFuzzer runtime is unavailable:
// replays deterministic mutations of the seed files (no coverage guidance).
//   onnx_import_fuzzer [-runs=N] [-seed=S] SEED_FILE_OR_DIR...
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/mutations.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  long runs = 20000;
  unsigned long seed = 1;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "-runs=", 6) == 0) {
      runs = std::atol(argv[i] + 6);
    } else if (std::strncmp(argv[i], "-seed=", 6) == 0) {
      seed = std::strtoul(argv[i] + 6, nullptr, 10);
    } else if (argv[i][0] == '-') {
      continue;  // libFuzzer flags (-max_total_time=...) mean nothing here
    } else if (std::filesystem::is_directory(argv[i])) {
      for (const auto& entry : std::filesystem::directory_iterator(argv[i]))
        if (entry.is_regular_file()) seeds.push_back(entry.path().string());
    } else {
      seeds.push_back(argv[i]);
    }
  }
  std::vector<std::string> corpus;
  for (const std::string& path : seeds) {
    std::ifstream in(path, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (corpus.empty()) corpus.emplace_back();
  std::mt19937_64 random(seed);
  for (const std::string& unit : corpus)
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(unit.data()), unit.size());
  for (long run = 0; run < runs; ++run) {
    std::string unit = rnnc::fuzz::mutate(corpus[random() % corpus.size()], random);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(unit.data()), unit.size());
  }
  std::printf("replayed %ld mutations of %zu seeds: no crash\n", runs, corpus.size());
  return 0;
}
