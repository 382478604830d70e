#pragma once
#include <sstream>
#include <string>

namespace rnnc::testir {

/// How many calls of kernels whose name contains `kind` ("_elementwise_", "_reduce_") the
/// entry function of rendered LLVM IR `ir` makes.
inline int kernel_calls(const std::string& ir, const std::string& kind) {
  int calls = 0;
  std::istringstream lines(ir);
  for (std::string line; std::getline(lines, line);)
    calls +=
        line.find("call i32 @kernel") != std::string::npos && line.find(kind) != std::string::npos;
  return calls;
}

}  // namespace rnnc::testir
