#include "bench/harness.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace rnnc::bench {
namespace {

/// `text` split at `separator` (empty pieces dropped).
std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> pieces;
  std::string piece;
  for (char c : text) {
    if (c == separator) {
      if (!piece.empty()) pieces.push_back(piece);
      piece.clear();
    } else {
      piece += c;
    }
  }
  if (!piece.empty()) pieces.push_back(piece);
  return pieces;
}

int64_t parse_size(const std::string& text, const std::string& what) {
  char* end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 1 || value > 1000000)
    throw std::runtime_error("bad size '" + text + "' in configuration '" + what +
                             "' (expected NAME:E:H:B:T with positive integers)");
  return value;
}

}  // namespace

double parse_seconds(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(seconds >= 0) || seconds > 600)
    throw std::runtime_error(flag + " must be a number of seconds in [0, 600], got '" + text + "'");
  return seconds;
}

int64_t parse_count(const std::string& flag, const std::string& text, int64_t minimum) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < minimum || value > 1000000)
    throw std::runtime_error(flag + " must be an integer in [" + std::to_string(minimum) +
                             ", 1000000], got '" + text + "'");
  return value;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Config parse_config(const std::string& text) {
  std::vector<std::string> parts = split(text, ':');
  if (parts.size() != 5)
    throw std::runtime_error("bad configuration '" + text + "' (expected NAME:E:H:B:T)");
  return {parts[0], parse_size(parts[1], text), parse_size(parts[2], text),
          parse_size(parts[3], text), parse_size(parts[4], text)};
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const bool known = flag == "--config" || flag == "--cell" || flag == "--mode" ||
                       flag == "--min-time" || flag == "--warmup" || flag == "--min-reps" ||
                       flag == "--threads";
    if (!known) {
      options.rest.push_back(flag);
      continue;
    }
    if (i + 1 >= argc) throw std::runtime_error(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--config") {
      for (const std::string& piece : split(value, ','))
        options.configs.push_back(parse_config(piece));
    } else if (flag == "--cell") {
      for (const std::string& piece : split(value, ',')) {
        if (piece != "lstm" && piece != "gru")
          throw std::runtime_error("unknown cell '" + piece + "' (lstm, gru)");
        options.cells.push_back(piece);
      }
    } else if (flag == "--mode") {
      for (const std::string& piece : split(value, ',')) options.modes.push_back(piece);
    } else if (flag == "--min-time") {
      options.timing.min_seconds = parse_seconds(flag, value);
    } else if (flag == "--warmup") {
      options.timing.warmup = parse_count(flag, value, 0);
    } else if (flag == "--min-reps") {
      options.timing.min_reps = parse_count(flag, value, 1);
    } else {
      options.threads = value;
    }
  }
  if (options.configs.empty()) options.configs.push_back({"tiny", 25, 50, 10, 20});
  if (options.cells.empty()) options.cells = {"lstm", "gru"};
  return options;
}

Timing time_calls(const std::function<void()>& call, const TimingPolicy& policy) {
  const auto warm_start = std::chrono::steady_clock::now();
  for (int64_t calls = 0;
       calls < policy.warmup || seconds_since(warm_start) < 0.1 * policy.min_seconds; ++calls)
    call();
  std::vector<double> times;
  double total = 0;
  while (static_cast<int64_t>(times.size()) < policy.min_reps || total < policy.min_seconds) {
    const auto start = std::chrono::steady_clock::now();
    call();
    const double seconds = seconds_since(start);
    times.push_back(seconds);
    total += seconds;
  }
  std::sort(times.begin(), times.end());
  const size_t n = times.size();
  const double median = n % 2 == 1 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  return {median * 1e3, times.front() * 1e3, static_cast<int64_t>(n)};
}

void print_result(const std::string& impl, const std::string& cell, const Config& config,
                  const std::string& mode, const std::string& threads, const Timing& timing) {
  std::printf(
      "{\"impl\": \"%s\", \"cell\": \"%s\", \"config\": \"%s\", \"E\": %lld, \"H\": %lld, "
      "\"B\": %lld, \"T\": %lld, \"mode\": \"%s\", \"threads\": \"%s\", \"ms\": %.6g, "
      "\"min_ms\": %.6g, \"reps\": %lld}\n",
      impl.c_str(), cell.c_str(), config.name.c_str(), static_cast<long long>(config.input),
      static_cast<long long>(config.hidden), static_cast<long long>(config.batch),
      static_cast<long long>(config.steps), mode.c_str(), threads.c_str(), timing.median_ms,
      timing.min_ms, static_cast<long long>(timing.reps));
  std::fflush(stdout);
}

void print_check(const std::string& impl, const std::string& what, bool ok, double max_error) {
  std::printf("{\"impl\": \"%s\", \"check\": \"%s\", \"ok\": %s, \"max_error\": %.3g}\n",
              impl.c_str(), what.c_str(), ok ? "true" : "false", max_error);
  std::fflush(stdout);
}

}  // namespace rnnc::bench
