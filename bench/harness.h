#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

/// What every C++ benchmark harness of bench/ shares with the others and with
/// bench/pytorch_rnn.py: the configuration syntax, the command line, the timing scheme
/// (warm-up, then repetitions for at least a minimum time, median) and the JSON result
/// lines bench/run reads (implemented in bench/harness.cpp).
namespace rnnc::bench {

/// One benchmark shape: input width E, hidden width H, batch B, sequence length T.
struct Config {
  std::string name;
  int64_t input = 0;
  int64_t hidden = 0;
  int64_t batch = 0;
  int64_t steps = 0;
};

/// Parses "NAME:E:H:B:T" (bench/run passes every configuration this way, so that the table
/// of sizes lives in one place). Throws std::runtime_error naming the text when malformed.
Config parse_config(const std::string& text);

/// How long a figure is timed: `warmup` untimed calls (and at least a tenth of
/// `min_seconds`), then timed calls until at least `min_reps` were made and `min_seconds`
/// have passed.
struct TimingPolicy {
  double min_seconds = 2.0;
  int64_t warmup = 2;
  int64_t min_reps = 3;
};

/// The options every harness reads. Harness-specific flags are left in `rest`.
struct Options {
  /// Configurations to run (default: tiny 25:50:10:20).
  std::vector<Config> configs;
  /// "lstm", "gru" (default: both).
  std::vector<std::string> cells;
  /// Modes to run; each harness has its own default and list of known modes.
  std::vector<std::string> modes;
  /// --min-time, --warmup and --min-reps.
  TimingPolicy timing;
  /// Free-form label of the thread setting, copied into every result line.
  std::string threads = "default";
  /// Arguments not understood here, in order, for the harness to parse.
  std::vector<std::string> rest;
};

/// `text` as seconds in [0, 600]; throws std::runtime_error naming `flag` otherwise.
double parse_seconds(const std::string& flag, const std::string& text);
/// `text` as an integer in [minimum, 1000000]; throws std::runtime_error naming `flag`.
int64_t parse_count(const std::string& flag, const std::string& text, int64_t minimum);

/// Parses --config NAME:E:H:B:T, --cell C, --mode M (each repeatable or comma-separated),
/// --min-time S, --warmup N, --min-reps N and --threads LABEL. Throws std::runtime_error naming a
/// bad value.
Options parse_options(int argc, char** argv);

/// The timing of one figure.
struct Timing {
  /// Median wall time of one call, in milliseconds.
  double median_ms = 0;
  /// The fastest call, in milliseconds.
  double min_ms = 0;
  /// Timed repetitions.
  int64_t reps = 0;
};

/// Times individual calls of `call` as `policy` says.
Timing time_calls(const std::function<void()>& call, const TimingPolicy& policy);

/// Prints one JSON result line on stdout, as bench/run reads it:
/// {"impl": ..., "cell": ..., "config": ..., "E": ..., "H": ..., "B": ..., "T": ...,
///  "mode": ..., "threads": ..., "ms": median, "min_ms": ..., "reps": ...}.
void print_result(const std::string& impl, const std::string& cell, const Config& config,
                  const std::string& mode, const std::string& threads, const Timing& timing);

/// Prints a JSON line {"impl": impl, "check": what, "ok": ok, "max_error": error}:
/// the result of checking a harness against a reference.
void print_check(const std::string& impl, const std::string& what, bool ok, double max_error);

}  // namespace rnnc::bench
