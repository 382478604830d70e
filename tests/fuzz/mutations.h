#pragma once
#include <cstdint>
#include <random>
#include <string>

/// Deterministic byte mutations of ONNX seeds, for the fuzzer's plain replay driver and the
/// bounded run in the test suite (libFuzzer does its own, coverage-guided).
namespace rnnc::fuzz {

/// `seed` changed by 1 to 4 random edits drawn from `random`: bit flips, byte overwrites
/// with interesting values (0, 0x7f, 0xff, protobuf varint continuation bytes), insertions,
/// deletions, truncation, and duplication of a chunk.
inline std::string mutate(const std::string& seed, std::mt19937_64& random) {
  std::string bytes = seed;
  const int edits = 1 + static_cast<int>(random() % 4);
  for (int e = 0; e < edits; ++e) {
    if (bytes.empty()) bytes.push_back('\x08');
    const size_t at = random() % bytes.size();
    switch (random() % 6) {
      case 0:
        bytes[at] = static_cast<char>(bytes[at] ^ (1u << (random() % 8)));
        break;
      case 1: {
        static const unsigned char interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x10, 0x40};
        bytes[at] = static_cast<char>(interesting[random() % sizeof interesting]);
        break;
      }
      case 2:
        bytes.insert(at, 1, static_cast<char>(random()));
        break;
      case 3:
        bytes.erase(at, 1 + random() % 8);
        break;
      case 4:
        bytes.resize(at);
        break;
      case 5: {
        size_t length = 1 + random() % 16;
        bytes.insert(random() % bytes.size(), bytes.substr(at, length));
        break;
      }
    }
  }
  return bytes;
}

}  // namespace rnnc::fuzz
