// libFuzzer target over the ONNX importer: any bytes either import into a graph that passes
// the IR verifier or are rejected with rnnc::Error. Anything else (another exception, a
// crash, a sanitizer report, a verifier failure after a successful import) is a bug.
//
// Built by tests/fuzz/CMakeLists.txt with clang's -fsanitize=fuzzer,address when available,
// otherwise linked with replay_main.cpp, a plain driver that replays deterministic mutations
// of the seeds. tests/onnx_fuzz_test.cpp runs the same entry point in the test suite.
#include <cstddef>
#include <cstdint>

#include "frontend/onnx/onnx_import.h"
#include "ir/error.h"
#include "ir/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rnnc::OnnxModel model;
  try {
    model = rnnc::import_onnx_bytes(data, size, "fuzz.onnx");
  } catch (const rnnc::Error&) {
    return 0;  // a clear rejection is the expected outcome for most inputs
  }
  rnnc::ir::verify(*model.graph);  // throws (and so aborts the fuzzer) on an importer bug
  return 0;
}
