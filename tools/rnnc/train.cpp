// `rnnc train`: a training-step graph run over a dataset of .npy columns, epoch after epoch,
// with a progress display, the loss curve as CSV and SVG, and the final parameters as .npy.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "codegen/backend.h"
#include "ir/error.h"
#include "runtime/dataset.h"
#include "runtime/npy.h"
#include "tools/rnnc/commands.h"
#include "tools/rnnc/training_curve.h"

namespace rnnc::driver {
namespace {

const char* kTrainHelp =
    "usage: rnnc train MODEL.train.rnn --data NAME=FILE.npy ... [--epochs N]\n"
    "                  [--batch-size B] [--no-shuffle] [--seed S] [--backend NAME]\n"
    "                  [--param NAME=FILE.npy ...] [--save-params DIR]\n"
    "                  [--curve FILE.csv] [--curve-svg FILE.svg] [--quiet] [--keep-denormals]\n"
    "\n"
    "Trains a model with its training-step graph: a graph with updates (the optimizer's) and\n"
    "a scalar output 'loss', as examples/models/*.train.rnn. Each --data names a graph input\n"
    "and holds N examples along its first dimension: an input declared [B, ...] takes an\n"
    "array [N, ...] of the same dtype (int64 arrays are narrowed to i32), and every array\n"
    "holds the same N. Each epoch shuffles the examples (unless --no-shuffle) and runs one\n"
    "step per batch of B, the graph's batch size; the examples that do not fill a last batch\n"
    "sit out that epoch.\n"
    "\n"
    "  --epochs N           passes over the data (default 10)\n"
    "  --batch-size B       checked against the graph's batch size (shapes are static: the\n"
    "                       batch size is the one the graph was generated with)\n"
    "  --no-shuffle         keep the examples in order\n"
    "  --seed S             seeds the shuffles and is added to every initializer's seed\n"
    "  --backend NAME       'interp' or 'cpu' (the default where this build has "
    "it)\n" RNNC_KEEP_DENORMALS_HELP
    "  --param NAME=FILE    start parameter NAME (or optimizer state) from FILE.npy\n"
    "  --save-params DIR    write every final parameter and optimizer state to\n"
    "                       DIR/<name>.npy (reload them with --param)\n"
    "  --curve FILE.csv     write the loss of every step as CSV: step,epoch,loss\n"
    "  --curve-svg FILE     draw the loss curve as an SVG line chart\n"
    "  --quiet              no progress display\n"
    "\n"
    "Progress goes to stderr: a bar redrawn in place (epoch, step, mean loss of the epoch so\n"
    "far, steps/s) on a terminal, a line per epoch otherwise. A summary goes to stdout. A\n"
    "loss that becomes NaN or infinite stops training with an error (exit status 1) after\n"
    "writing the curve; no parameters are saved then.\n";

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

/// The seed of epoch `epoch`'s shuffle: distinct per epoch, the same for the same --seed.
uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  return seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) * 0xBF58476D1CE4E5B9ull;
}

/// Checks that `graph` is a training step: it updates parameters and outputs a float scalar
/// "loss".
void check_training_graph(const ir::Graph& graph, const std::string& path) {
  const ir::Value* loss = graph.output("loss");
  if (graph.updates().empty() || !loss)
    throw Error(path + " is not a training-step graph (it needs " +
                std::string(graph.updates().empty() ? "updates" : "an output 'loss'") +
                "): rnnc train takes a model such as examples/models/*.train.rnn");
  if (!loss->shape().empty() || !ir::is_float(loss->dtype()))
    throw Error(path + ": output 'loss' is " + loss->type().to_string() + ", not a float scalar");
}

/// The --data arrays as a dataset whose columns are the graph inputs, each checked against
/// its input; returns the batch size (the inputs' common leading dimension).
int64_t read_dataset(const ir::Graph& graph, const Arguments& arguments, Dataset& dataset) {
  std::vector<const ir::Value*> inputs;
  for (const ir::Node* node : graph.nodes_of(ir::OpKind::Input)) inputs.push_back(node->result());
  int64_t batch = -1;
  for (const ir::Value* input : inputs) {
    if (input->shape().empty())
      throw Error("input '" + input->name() + "' is the scalar " + input->type().to_string() +
                  ": rnnc train cuts examples along the first dimension of every input");
    if (batch >= 0 && input->shape()[0] != batch)
      throw Error("the graph's inputs disagree on the batch size: input '" + input->name() +
                  "' is " + input->type().to_string() + ", others have " + std::to_string(batch) +
                  " rows");
    batch = input->shape()[0];
  }
  if (inputs.empty()) throw Error("the model has no inputs to feed --data to");

  std::string first_column;
  for (const std::string& text : arguments.all("data")) {
    auto [name, path] = split_binding(text, "data");
    const ir::Value* input = graph.find(name);
    if (!input || input->producer()->kind() != ir::OpKind::Input) {
      std::string known;
      for (const ir::Value* value : inputs) known += (known.empty() ? "" : ", ") + value->name();
      throw Error("--data " + name + ": the model has no input named '" + name +
                  "' (its inputs: " + known + ")");
    }
    if (dataset.has_column(name)) throw Error("--data " + name + " is given twice");
    Tensor column = read_npy(path);
    Shape example(input->shape().begin() + 1, input->shape().end());
    Shape given = column.shape();
    bool fits = !given.empty() && column.dtype() == input->dtype() &&
                Shape(given.begin() + 1, given.end()) == example;
    if (!fits) {
      std::string expected_text = std::string(ir::dtype_name(input->dtype())) + "[N";
      for (int64_t dim : example) expected_text += ", " + std::to_string(dim);
      expected_text += "]";
      throw Error("--data " + text + ": the array is " + column.type().to_string() +
                  " but input '" + name + "' (" + input->type().to_string() + ") takes " +
                  expected_text + ", N examples");
    }
    if (!first_column.empty() && given[0] != dataset.size())
      throw Error("--data arrays hold different numbers of examples: '" + first_column + "' has " +
                  std::to_string(dataset.size()) + ", '" + name + "' has " +
                  std::to_string(given[0]));
    if (first_column.empty()) first_column = name;
    dataset.add_column(name, std::move(column));
  }
  for (const ir::Value* input : inputs)
    if (!dataset.has_column(input->name()))
      throw Error("missing --data " + input->name() + "=FILE.npy for input '" + input->name() +
                  "' (" + input->type().to_string() + ")\n\n" + kTrainHelp);
  if (dataset.size() < batch)
    throw Error("the data holds " + std::to_string(dataset.size()) +
                " examples, fewer than one batch of " + std::to_string(batch));
  return batch;
}

/// Opens `path` for writing now, so that a path that cannot be written fails before training.
std::ofstream open_output(const std::string& path, const char* option) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(std::string("--") + option + ": cannot write " + path);
  return out;
}

void write_and_close(std::ofstream& out, const std::string& text, const std::string& path) {
  out << text;
  out.close();
  if (!out) throw Error("cannot write " + path);
}

/// The progress display on stderr: a bar redrawn in place on a terminal, a line per epoch
/// otherwise, nothing when quiet.
class Progress {
 public:
  Progress(bool quiet, int64_t epochs, int64_t steps_per_epoch)
      : quiet_(quiet),
        terminal_(isatty(fileno(stderr)) != 0),
        epochs_(epochs),
        steps_(steps_per_epoch) {}

  /// After step `step` (1-based within `epoch`) of an epoch that began at `start`, whose
  /// losses so far sum to `loss_sum`.
  void step(int64_t epoch, int64_t step, double loss_sum, Clock::time_point start) {
    if (quiet_ || !terminal_) return;
    Clock::time_point now = Clock::now();
    if (step != steps_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    constexpr int64_t kBarWidth = 24;
    int64_t filled = step * kBarWidth / steps_;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kBarWidth - filled), '.');
    double elapsed = seconds_since(start);
    std::string rate = elapsed > 0 ? format("%.1f", static_cast<double>(step) / elapsed) : "-";
    std::fprintf(stderr, "\repoch %lld/%lld [%s] %lld/%lld loss %.6f %s steps/s   ",
                 static_cast<long long>(epoch), static_cast<long long>(epochs_), bar.c_str(),
                 static_cast<long long>(step), static_cast<long long>(steps_),
                 loss_sum / static_cast<double>(step), rate.c_str());
    std::fflush(stderr);
  }

  /// At the end of an epoch (its mean loss, its duration).
  void epoch_done(int64_t epoch, double mean_loss, double seconds) {
    if (quiet_) return;
    if (terminal_) {
      std::fputc('\n', stderr);
      return;
    }
    std::fprintf(stderr, "epoch %lld/%lld: %lld steps, mean loss %.6f, %.1f steps/s\n",
                 static_cast<long long>(epoch), static_cast<long long>(epochs_),
                 static_cast<long long>(steps_), mean_loss,
                 seconds > 0 ? static_cast<double>(steps_) / seconds : 0.0);
  }

  /// Ends a bar left mid-line (training stopped inside an epoch).
  void interrupt() {
    if (!quiet_ && terminal_) std::fputc('\n', stderr);
  }

 private:
  bool quiet_, terminal_;
  int64_t epochs_, steps_;
  Clock::time_point last_draw_{};
};

}  // namespace

int train_command(int argc, char** argv) {
  if (wants_help(argc, argv)) return std::fputs(kTrainHelp, stdout), 0;
  Arguments arguments = parse_arguments(argc, argv, 2,
                                        {"data", "epochs", "batch-size", "seed", "backend", "param",
                                         "save-params", "curve", "curve-svg"},
                                        {"no-shuffle", "quiet", "keep-denormals"});
  std::string path = model_path(arguments, kTrainHelp);
  std::string backend = chosen_backend(arguments);
  int64_t epochs = static_cast<int64_t>(unsigned_option(arguments, "epochs", 10));
  if (epochs < 1) throw Error("--epochs must be at least 1");
  uint64_t seed = unsigned_option(arguments, "seed", 0);
  if (!arguments.has("data")) throw Error(std::string("no --data given\n\n") + kTrainHelp);

  ModelFile model = load_model_file(path);
  check_training_graph(*model.graph, path);
  Dataset dataset;
  int64_t batch = read_dataset(*model.graph, arguments, dataset);
  if (arguments.has("batch-size") &&
      static_cast<int64_t>(unsigned_option(arguments, "batch-size", 0)) != batch)
    throw Error("--batch-size " + arguments.get("batch-size") + ": " + path +
                " is built for batches of " + std::to_string(batch) +
                " (its inputs' first dimension; shapes are static)");
  Bindings state = initial_state(*model.graph, model.parameters, arguments);

  // Every output path is checked before training, which may take long.
  std::filesystem::path params_directory;
  if (arguments.has("save-params"))
    params_directory = prepare_output_directory(arguments.get("save-params"), "save-params");
  std::string csv_path = arguments.get("curve"), svg_path = arguments.get("curve-svg");
  std::ofstream csv_file, svg_file;
  if (!csv_path.empty()) csv_file = open_output(csv_path, "curve");
  if (!svg_path.empty()) svg_file = open_output(svg_path, "curve-svg");

  Clock::time_point compile_start = Clock::now();
  auto executable = codegen::compile(*model.graph, backend, compile_options(arguments));
  double compile_seconds = seconds_since(compile_start);
  const int64_t steps_per_epoch = dataset.size() / batch;
  const int64_t dropped = dataset.size() % batch;
  bool quiet = arguments.has("quiet");
  if (!quiet)
    std::fprintf(stderr,
                 "%s: %lld examples, %lld steps of %lld per epoch, compiled for %s in %.2f s\n",
                 path.c_str(), static_cast<long long>(dataset.size()),
                 static_cast<long long>(steps_per_epoch), static_cast<long long>(batch),
                 backend.c_str(), compile_seconds);

  std::vector<CurvePoint> curve;
  std::vector<double> epoch_losses;
  Progress progress(quiet, epochs, steps_per_epoch);
  Clock::time_point training_start = Clock::now();
  std::string diverged;
  for (int64_t epoch = 1; epoch <= epochs && diverged.empty(); ++epoch) {
    Clock::time_point epoch_start = Clock::now();
    double loss_sum = 0;
    int64_t step = 0;
    for (const auto& rows : make_batches(dataset.size(), batch, !arguments.has("no-shuffle"),
                                         epoch_seed(seed, epoch), true)) {
      Bindings outputs = executable->run(dataset.batch(rows, batch), state);
      double loss = outputs.at("loss").get(0);
      ++step;
      curve.push_back({static_cast<int64_t>(curve.size()) + 1, epoch, loss});
      if (!std::isfinite(loss)) {
        progress.interrupt();
        diverged = "the loss is " + format("%g", loss) + " at step " +
                   std::to_string(curve.size()) + " (epoch " + std::to_string(epoch) +
                   "): training diverged; no parameters saved";
        break;
      }
      loss_sum += loss;
      progress.step(epoch, step, loss_sum, epoch_start);
    }
    if (!diverged.empty()) break;
    epoch_losses.push_back(loss_sum / static_cast<double>(step));
    progress.epoch_done(epoch, epoch_losses.back(), seconds_since(epoch_start));
  }
  double training_seconds = seconds_since(training_start);

  if (!csv_path.empty()) write_and_close(csv_file, curve_csv(curve), csv_path);
  if (!svg_path.empty())
    write_and_close(
        svg_file,
        curve_svg(curve, std::filesystem::path(path).filename().string() + ": training loss"),
        svg_path);
  if (!diverged.empty()) throw Error(diverged);
  if (arguments.has("save-params")) write_tensors(params_directory, state);

  std::printf("trained %s for %lld epochs: %lld steps of %lld examples on %s", path.c_str(),
              static_cast<long long>(epochs), static_cast<long long>(curve.size()),
              static_cast<long long>(batch), backend.c_str());
  if (dropped > 0)
    std::printf(" (%lld of %lld examples sit out each epoch)", static_cast<long long>(dropped),
                static_cast<long long>(dataset.size()));
  std::printf("\nmean loss: %.6f in epoch 1, %.6f in epoch %lld\n", epoch_losses.front(),
              epoch_losses.back(), static_cast<long long>(epochs));
  std::printf("%.1f steps/s (%.2f s)\n",
              training_seconds > 0 ? static_cast<double>(curve.size()) / training_seconds : 0.0,
              training_seconds);
  if (!csv_path.empty()) std::printf("wrote %s\n", csv_path.c_str());
  if (!svg_path.empty()) std::printf("wrote %s\n", svg_path.c_str());
  if (arguments.has("save-params"))
    std::printf("saved %zu parameters to %s\n", state.size(), params_directory.c_str());
  return 0;
}

}  // namespace rnnc::driver
