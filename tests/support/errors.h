#pragma once
// The message of the rnnc::Error an action throws, for tests that assert error messages.
#include <string>

#include "ir/error.h"

namespace rnnc::testerr {

/// The message of the rnnc::Error `action` throws ("" when it throws none).
template <class Action>
std::string error_of(Action&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace rnnc::testerr
