#include "tools/rnnc/arguments.h"

#include <algorithm>

#include "ir/error.h"

namespace rnnc::driver {
namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::string Arguments::get(const std::string& name, const std::string& fallback) const {
  auto range = options.equal_range(name);
  if (range.first == range.second) return fallback;
  return std::prev(range.second)->second;
}

std::vector<std::string> Arguments::all(const std::string& name) const {
  std::vector<std::string> values;
  auto range = options.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) values.push_back(it->second);
  return values;
}

Arguments parse_arguments(int argc, char** argv, int first, const std::vector<std::string>& known,
                          const std::vector<std::string>& flags,
                          const std::vector<std::string>& optional_value) {
  Arguments arguments;
  for (int i = first; i < argc; ++i) {
    std::string word = argv[i];
    if (word.size() > 1 && word[0] == '-' && word[1] != '-') {
      if (word.rfind("-O", 0) == 0 && contains(known, "O")) {
        arguments.options.emplace("O", word.substr(2));
        continue;
      }
      throw Error("unknown option " + word);
    }
    if (word.rfind("--", 0) != 0 || word == "--") {
      arguments.positional.push_back(word);
      continue;
    }
    std::string name = word.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t equals = name.find('='); equals != std::string::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
      has_value = true;
    }
    bool is_flag = contains(flags, name);
    bool is_optional = contains(optional_value, name);
    if (!is_flag && !is_optional && !contains(known, name)) throw Error("unknown option --" + name);
    if (is_flag) {
      if (has_value) throw Error("option --" + name + " takes no value");
    } else if (!has_value && !is_optional) {
      if (i + 1 >= argc) throw Error("option --" + name + " needs a value");
      value = argv[++i];
    }
    arguments.options.emplace(name, value);
  }
  return arguments;
}

}  // namespace rnnc::driver
