// OptimizerConfig: defaults, parsing and printing of the optimizer text form.
#include <charconv>
#include <cstdlib>
#include <functional>
#include <string>

#include "frontend/optimizers.h"
#include "ir/error.h"

namespace rnnc::nn {

namespace {

constexpr OptimizerKind kAllKinds[] = {OptimizerKind::sgd, OptimizerKind::adagrad,
                                       OptimizerKind::rmsprop, OptimizerKind::adam};

/// One settable option: its name, the optimizers it applies to, and its field.
struct Option {
  const char* name;
  std::vector<OptimizerKind> kinds;
  double OptimizerConfig::*number = nullptr;
  bool OptimizerConfig::*flag = nullptr;
};

const std::vector<Option>& options() {
  using K = OptimizerKind;
  using C = OptimizerConfig;
  static const std::vector<Option> all = {
      {"lr", {K::sgd, K::adagrad, K::rmsprop, K::adam}, &C::lr},
      {"weight_decay", {K::sgd, K::adagrad, K::rmsprop, K::adam}, &C::weight_decay},
      {"momentum", {K::sgd, K::rmsprop}, &C::momentum},
      {"dampening", {K::sgd}, &C::dampening},
      {"nesterov", {K::sgd}, nullptr, &C::nesterov},
      {"eps", {K::adagrad, K::rmsprop, K::adam}, &C::eps},
      {"alpha", {K::rmsprop}, &C::alpha},
      {"centered", {K::rmsprop}, nullptr, &C::centered},
      {"beta1", {K::adam}, &C::beta1},
      {"beta2", {K::adam}, &C::beta2},
      {"amsgrad", {K::adam}, nullptr, &C::amsgrad},
      {"initial_accumulator_value", {K::adagrad}, &C::initial_accumulator_value},
      {"lr_decay", {K::adagrad}, &C::lr_decay},
  };
  return all;
}

bool applies(const Option& option, OptimizerKind kind) {
  for (OptimizerKind k : option.kinds)
    if (k == kind) return true;
  return false;
}

std::string format(double value) {
  char text[32];
  auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

double parse_number(std::string_view text, std::string_view key, std::string_view whole) {
  double value = 0;
  auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size())
    throw Error("optimizer '" + std::string(whole) + "': value '" + std::string(text) + "' of " +
                std::string(key) + " is not a number");
  return value;
}

bool parse_flag(std::string_view text, std::string_view key, std::string_view whole) {
  if (text == "1" || text == "true") return true;
  if (text == "0" || text == "false") return false;
  throw Error("optimizer '" + std::string(whole) + "': value '" + std::string(text) + "' of " +
              std::string(key) + " must be 0, 1, true or false");
}

void set_option(OptimizerConfig& config, std::string_view key, std::string_view value,
                std::string_view whole) {
  std::string name(optimizer_name(config.kind));
  if (key == "betas" && config.kind == OptimizerKind::adam) {
    size_t slash = value.find('/');
    if (slash == std::string_view::npos)
      throw Error("optimizer '" + std::string(whole) + "': betas must be written BETA1/BETA2");
    config.beta1 = parse_number(value.substr(0, slash), "beta1", whole);
    config.beta2 = parse_number(value.substr(slash + 1), "beta2", whole);
    return;
  }
  for (const Option& option : options()) {
    if (key != option.name) continue;
    if (!applies(option, config.kind)) break;
    if (option.number)
      config.*option.number = parse_number(value, key, whole);
    else
      config.*option.flag = parse_flag(value, key, whole);
    return;
  }
  throw Error("optimizer '" + std::string(whole) + "': " + name + " has no option '" +
              std::string(key) + "'");
}

}  // namespace

std::string_view optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::sgd:
      return "sgd";
    case OptimizerKind::adagrad:
      return "adagrad";
    case OptimizerKind::rmsprop:
      return "rmsprop";
    case OptimizerKind::adam:
      return "adam";
  }
  return "?";
}

OptimizerConfig OptimizerConfig::defaults(OptimizerKind kind) {
  OptimizerConfig config;
  config.kind = kind;
  switch (kind) {
    case OptimizerKind::sgd:
      config.lr = 1e-3;
      break;
    case OptimizerKind::adagrad:
      config.lr = 1e-2;
      config.eps = 1e-10;
      break;
    case OptimizerKind::rmsprop:
      config.lr = 1e-2;
      config.eps = 1e-8;
      break;
    case OptimizerKind::adam:
      config.lr = 1e-3;
      config.eps = 1e-8;
      break;
  }
  return config;
}

OptimizerConfig OptimizerConfig::parse(std::string_view text) {
  size_t colon = text.find(':');
  std::string_view name = text.substr(0, colon);
  OptimizerConfig config;
  bool known = false;
  for (OptimizerKind kind : kAllKinds)
    if (optimizer_name(kind) == name) {
      config = defaults(kind);
      known = true;
    }
  if (!known)
    throw Error("unknown optimizer '" + std::string(name) +
                "' (expected sgd, adagrad, rmsprop or adam)");
  if (colon == std::string_view::npos) return config;
  std::string_view rest = text.substr(colon + 1);
  while (true) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    size_t equals = item.find('=');
    if (equals == std::string_view::npos)
      throw Error("optimizer '" + std::string(text) + "': expected key=value, got '" +
                  std::string(item) + "'");
    set_option(config, item.substr(0, equals), item.substr(equals + 1), text);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return config;
}

std::string OptimizerConfig::to_string() const {
  OptimizerConfig reference = defaults(kind);
  std::string text(optimizer_name(kind));
  text += ":lr=" + format(lr);
  for (const Option& option : options()) {
    if (!applies(option, kind) || std::string_view(option.name) == "lr") continue;
    if (option.number && this->*option.number != reference.*option.number)
      text += "," + std::string(option.name) + "=" + format(this->*option.number);
    if (option.flag && this->*option.flag != reference.*option.flag)
      text += "," + std::string(option.name) + "=" + (this->*option.flag ? "1" : "0");
  }
  return text;
}

}  // namespace rnnc::nn
