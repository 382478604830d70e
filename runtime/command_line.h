#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

/// Command lines of the example programs: `--name VALUE` options, each bound to a variable
/// and checked (range, choice) as it is parsed, with errors that name the option.
namespace rnnc {

/// A set of `--name VALUE` options. Declare each option with the variable it sets, then
/// parse(). Options may come in any order and repeat (the last value wins).
class OptionParser {
 public:
  /// `usage` is printed by --help and appended to the message of an unknown option.
  explicit OptionParser(std::string usage);

  /// An integer in [minimum, maximum].
  void integer(const std::string& name, int64_t* target, int64_t minimum, int64_t maximum);
  /// A number in [minimum, maximum] (NaN is refused).
  void real(const std::string& name, double* target, double minimum, double maximum);
  /// A number in (0, maximum].
  void positive_real(const std::string& name, double* target, double maximum);
  /// Any text.
  void text(const std::string& name, std::string* target);
  /// One of `choices`; `take` receives it.
  void choice(const std::string& name, std::vector<std::string> choices,
              std::function<void(const std::string&)> take);
  /// A value parsed by `take`, which throws rnnc::Error for a bad one (the message is
  /// prefixed with the option's name).
  void custom(const std::string& name, std::function<void(const std::string&)> take);

  /// Parses `argv[1..argc)`. Returns false when `--help` or `-h` was given (the usage is then
  /// printed to stdout and nothing else is parsed). Throws rnnc::Error for an unknown
  /// option, a missing value or a bad value, naming the option.
  bool parse(int argc, char** argv) const;

  /// The usage text.
  const std::string& usage() const { return usage_; }

 private:
  std::string usage_;
  std::map<std::string, std::function<void(const std::string&)>> options_;
};

/// `text` as an integer in [minimum, maximum]; throws rnnc::Error "WHAT must be an integer in
/// [minimum, maximum], got 'text'" otherwise.
int64_t parse_integer(const std::string& what, const std::string& text, int64_t minimum,
                      int64_t maximum);

/// `text` as a number in [minimum, maximum] (in (minimum, maximum] when `open_minimum`);
/// throws rnnc::Error naming `what` otherwise.
double parse_real(const std::string& what, const std::string& text, double minimum, double maximum,
                  bool open_minimum = false);

}  // namespace rnnc
