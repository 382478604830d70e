#pragma once
#include <stdexcept>
#include <string>

namespace rnnc {

/// An error caused by user input (a model file, a shape, a data file, a command line).
/// The message names the file, line or node at fault; tools print it and exit non-zero.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace rnnc
