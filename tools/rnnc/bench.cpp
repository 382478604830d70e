// `rnnc bench`: how long a model takes to compile and to run, on given or generated inputs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

#include "codegen/backend.h"
#include "ir/error.h"
#include "runtime/random.h"
#include "tools/rnnc/commands.h"

namespace rnnc::driver {
namespace {

const char* kBenchHelp =
    "usage: rnnc bench MODEL [--input NAME=FILE.npy ...] [--param NAME=FILE.npy ...]\n"
    "                  [--backend NAME] [-O<level>] [--min-time SECONDS] [--warmup N]\n"
    "                  [--seed N] [--keep-denormals] [--repack-weights]\n"
    "\n"
    "Compiles MODEL (text IR or ONNX) for a backend, reporting the compile time, then runs it\n"
    "over and over (into the same output tensors, as a serving loop would) and reports the\n"
    "median and minimum time per run and the runs per second.\n"
    "Inputs not given with --input are generated: floats uniform in [-1, 1) (seeded by\n"
    "--seed); integers the full sequence length where a scan reads them as sequence\n"
    "lengths, else 0 (a valid index and label). An ONNX model's symbolic dimensions need\n"
    "their inputs given. Parameters are initialized as for 'rnnc run'; a training step's\n"
    "updates are applied on every run.\n"
    "\n"
    "  --backend NAME       'interp' or 'cpu' (the default where this build has it)\n"
    "  -O<level>            the optimization level compiled with (default -O1)\n"
    "  --min-time SECONDS   keep running until this much time is measured (default 1)\n"
    "  --warmup N           untimed runs first (default 3)\n" RNNC_KEEP_DENORMALS_HELP
    "  --repack-weights     cpu: pack the weights for the products on every run (default: a\n"
    "                       model that never writes its weights packs them once and keeps\n"
    "                       them, as a library from 'rnnc compile' does)\n"
    "\n"
    "The last line sums it up for scripts: RESULT backend=... compile_ms=... runs=...\n"
    "median_ms=... min_ms=... runs_per_s=...\n";

/// At least this many runs are timed, however long each takes.
constexpr int64_t kMinRuns = 5;

double positive_seconds(const Arguments& arguments, const char* option, double fallback) {
  if (!arguments.has(option)) return fallback;
  std::string text = arguments.get(option);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value > 0) || value > 3600)
    throw Error(std::string("--") + option + " expects a number of seconds in (0, 3600], got '" +
                text + "'");
  return value;
}

/// The full sequence length of every input that a scan reads as its sequence lengths (the
/// shortest scan's, when several read it).
std::map<const ir::Value*, int64_t> sequence_length_inputs(const ir::Graph& graph) {
  std::map<const ir::Value*, int64_t> lengths;
  for (const ir::Node* scan : graph.nodes_of(ir::OpKind::Scan)) {
    const ir::Attributes& attrs = scan->attrs();
    if (!attrs.has("has_lengths") || attrs.get_int("has_lengths") == 0) continue;
    if (attrs.get_int("num_sequences") < 1) continue;
    const ir::Value* operand = scan->operands().back();
    if (operand->producer()->kind() != ir::OpKind::Input) continue;
    int64_t steps = scan->operand(static_cast<size_t>(attrs.get_int("num_carry")))->shape()[0];
    auto [entry, added] = lengths.emplace(operand, steps);
    if (!added) entry->second = std::min(entry->second, steps);
  }
  return lengths;
}

/// Values for every input of `graph` not in `inputs`: floats uniform in [-1, 1); integers the
/// full sequence length where a scan reads them as lengths, else 0 (a valid index).
void generate_inputs(const ir::Graph& graph, uint64_t seed, Bindings& inputs) {
  Rng rng(seed);
  std::map<const ir::Value*, int64_t> lengths = sequence_length_inputs(graph);
  for (const ir::Node* node : graph.nodes_of(ir::OpKind::Input)) {
    const ir::Value& input = *node->result();
    if (inputs.count(input.name())) continue;
    Tensor tensor(input.type());
    auto length = lengths.find(&input);
    for (int64_t i = 0; i < tensor.num_elements(); ++i)
      if (ir::is_float(input.dtype()))
        tensor.set(i, rng.uniform(-1, 1));
      else if (length != lengths.end())
        tensor.set(i, static_cast<double>(length->second));
    inputs[input.name()] = std::move(tensor);
  }
}

}  // namespace

int bench_command(int argc, char** argv) {
  if (wants_help(argc, argv)) return std::fputs(kBenchHelp, stdout), 0;
  Arguments arguments = parse_arguments(
      argc, argv, 2, {"input", "param", "seed", "backend", "min-time", "warmup", "O"},
      {"keep-denormals", "repack-weights"});
  std::string path = model_path(arguments, kBenchHelp);
  std::string backend = chosen_backend(arguments);
  double min_time = positive_seconds(arguments, "min-time", 1.0);
  int64_t warmup = static_cast<int64_t>(unsigned_option(arguments, "warmup", 3));
  uint64_t seed = unsigned_option(arguments, "seed", 0);

  ModelFile model = load_model_for_inputs(path, arguments);
  Bindings inputs = read_inputs(*model.graph, arguments);
  generate_inputs(*model.graph, seed, inputs);
  Bindings state = initial_state(*model.graph, model.parameters, arguments);

  using Clock = std::chrono::steady_clock;
  auto milliseconds = [](Clock::duration duration) {
    return std::chrono::duration<double, std::milli>(duration).count();
  };
  codegen::CompileOptions options = compile_options(arguments);
  options.cache_parameter_packs = !arguments.has("repack-weights");
  Clock::time_point compile_start = Clock::now();
  auto executable = codegen::compile(*model.graph, backend, options);
  double compile_ms = milliseconds(Clock::now() - compile_start);
  std::printf("model: %s (backend %s, -O%s)\ncompile: %.2f ms\n", path.c_str(), backend.c_str(),
              arguments.get("O", "1").c_str(), compile_ms);
  std::fflush(stdout);

  // Every run writes into the same output tensors, as a serving or training loop would
  // (fresh ones would time the page faults of their first touch too).
  Bindings outputs;
  for (int64_t i = 0; i < warmup; ++i) executable->run_into(inputs, state, outputs);
  std::vector<double> times;
  double total_ms = 0;
  while (total_ms < min_time * 1000 || static_cast<int64_t>(times.size()) < kMinRuns) {
    Clock::time_point start = Clock::now();
    executable->run_into(inputs, state, outputs);
    times.push_back(milliseconds(Clock::now() - start));
    total_ms += times.back();
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  size_t middle = sorted.size() / 2;
  double median = sorted.size() % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  double runs_per_s = static_cast<double>(times.size()) / (total_ms / 1000);
  std::printf("runs: %zu in %.3f s after %lld warmup runs\n", times.size(), total_ms / 1000,
              static_cast<long long>(warmup));
  std::printf("per run: median %.4f ms, min %.4f ms\nthroughput: %.1f runs/s\n", median,
              sorted.front(), runs_per_s);
  std::printf(
      "RESULT backend=%s compile_ms=%.3f runs=%zu median_ms=%.6f min_ms=%.6f "
      "runs_per_s=%.3f\n",
      backend.c_str(), compile_ms, times.size(), median, sorted.front(), runs_per_s);
  return 0;
}

}  // namespace rnnc::driver
