#pragma once
#include <map>
#include <string>
#include <vector>

namespace rnnc::driver {

/// A command line split into positional words, `--name=value` / `--name value` options
/// (repeatable options keep every value in order) and `-O<level>` (stored as option "O").
struct Arguments {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> options;

  bool has(const std::string& name) const { return options.count(name) != 0; }
  /// The last value of option `name`, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = "") const;
  /// Every value of option `name`, in order.
  std::vector<std::string> all(const std::string& name) const;
};

/// Parses `argv[first..argc)`. Options listed in `flags` take no value; those in
/// `optional_value` take one only as `--name=value` (alone, their value is empty); the
/// others in `known` need one. `-O<level>` is accepted when "O" is in `known`. Throws
/// rnnc::Error on any other option (naming it), a missing value, or a value given to a flag.
Arguments parse_arguments(int argc, char** argv, int first, const std::vector<std::string>& known,
                          const std::vector<std::string>& flags,
                          const std::vector<std::string>& optional_value = {});

}  // namespace rnnc::driver
