#include "runtime/command_line.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "ir/error.h"

namespace rnnc {
namespace {

/// `value` printed briefly ("5", "0.001", "1e+06").
std::string brief(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace

int64_t parse_integer(const std::string& what, const std::string& text, int64_t minimum,
                      int64_t maximum) {
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < minimum || value > maximum)
    throw Error(what + " must be an integer in [" + std::to_string(minimum) + ", " +
                std::to_string(maximum) + "], got '" + text + "'");
  return value;
}

double parse_real(const std::string& what, const std::string& text, double minimum, double maximum,
                  bool open_minimum) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  bool above = open_minimum ? value > minimum : value >= minimum;
  if (text.empty() || *end != '\0' || !above || !(value <= maximum))
    throw Error(what + " must be a number in " + (open_minimum ? "(" : "[") + brief(minimum) +
                ", " + brief(maximum) + "], got '" + text + "'");
  return value;
}

OptionParser::OptionParser(std::string usage) : usage_(std::move(usage)) {}

void OptionParser::integer(const std::string& name, int64_t* target, int64_t minimum,
                           int64_t maximum) {
  options_[name] = [=](const std::string& value) {
    *target = parse_integer(name, value, minimum, maximum);
  };
}

void OptionParser::real(const std::string& name, double* target, double minimum, double maximum) {
  options_[name] = [=](const std::string& value) {
    *target = parse_real(name, value, minimum, maximum);
  };
}

void OptionParser::positive_real(const std::string& name, double* target, double maximum) {
  options_[name] = [=](const std::string& value) {
    *target = parse_real(name, value, 0, maximum, /*open_minimum=*/true);
  };
}

void OptionParser::text(const std::string& name, std::string* target) {
  options_[name] = [=](const std::string& value) { *target = value; };
}

void OptionParser::choice(const std::string& name, std::vector<std::string> choices,
                          std::function<void(const std::string&)> take) {
  options_[name] = [=](const std::string& value) {
    for (const std::string& choice : choices)
      if (value == choice) return take(value);
    std::string list;
    for (size_t i = 0; i < choices.size(); ++i)
      list += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
    throw Error(name + " must be " + list + ", got '" + value + "'");
  };
}

void OptionParser::custom(const std::string& name, std::function<void(const std::string&)> take) {
  options_[name] = [=](const std::string& value) {
    try {
      take(value);
    } catch (const Error& error) {
      throw Error(name + ": " + error.what());
    }
  };
}

bool OptionParser::parse(int argc, char** argv) const {
  for (int i = 1; i < argc; ++i) {
    const std::string option = argv[i];
    if (option == "--help" || option == "-h") {
      std::printf("%s\n", usage_.c_str());
      return false;
    }
    auto found = options_.find(option);
    if (found == options_.end()) throw Error("unknown option '" + option + "'\n" + usage_);
    if (i + 1 >= argc) throw Error(option + " needs a value\n" + usage_);
    found->second(argv[++i]);
  }
  return true;
}

}  // namespace rnnc
