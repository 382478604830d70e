#pragma once
#include <map>
#include <string>
#include <vector>

namespace rnnc::driver {

/// A command line split into positional words and `--name=value` / `--name value` options
/// (repeatable options keep every value in order).
struct Arguments {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> options;

  bool has(const std::string& name) const { return options.count(name) != 0; }
  /// The last value of option `name`, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = "") const;
  /// Every value of option `name`, in order.
  std::vector<std::string> all(const std::string& name) const;
};

/// Parses `argv[first..argc)`. Options listed in `flags` take no value. Throws
/// rnnc::Error on an option outside `known` (naming it) or a missing value.
Arguments parse_arguments(int argc, char** argv, int first, const std::vector<std::string>& known,
                          const std::vector<std::string>& flags);

}  // namespace rnnc::driver
