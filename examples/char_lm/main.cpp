// The lecture's character-level language model: a character LSTM on Tiny Shakespeare
// (data/shakespeare/shakespeare.txt.gz). The first nine tenths of the text train it on random
// windows; the last tenth measures held-out bits per character. Training is either teacher
// forced (every step reads the true previous character) or free running (every step after
// the first reads the character the model itself predicted at the step before, as the
// lecture contrasts). Afterwards the model continues a prime, sampling at a temperature.
//
// Usage: char_lm [--steps N] [--batch-size B] [--seq-len T] [--hidden H] [--embedding E]
//                [--lr LR] [--clip C] [--mode teacher|free] [--eval-every N]
//                [--val-windows N] [--max-chars N] [--prime TEXT] [--temperature X]
//                [--sample-length N] [--seed S] [--backend NAME] [--data DIR]
// Prints progress, the sample, then `RESULT val_bpc=... train_loss=... steps=... mode=...`.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "examples/char_lm/model.h"
#include "ir/error.h"
#include "runtime/command_line.h"
#include "runtime/initializers.h"
#include "runtime/random.h"
#include "runtime/text_file.h"
#include "runtime/vocabulary.h"

namespace {

using charlm::Options;

const char* const kUsage =
    "usage: char_lm [--steps N] [--batch-size B] [--seq-len T] [--hidden H] [--embedding E] "
    "[--lr LR] [--clip C] [--mode teacher|free] [--eval-every N] [--val-windows N] "
    "[--max-chars N] [--prime TEXT] [--temperature X] [--sample-length N] [--seed S] "
    "[--backend NAME] [--data DIR]";

/// The options of the command line; nothing when --help was given.
std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  rnnc::OptionParser parser(kUsage);
  parser.integer("--steps", &options.steps, 0, 10000000);
  parser.integer("--batch-size", &options.batch_size, 1, 4096);
  parser.integer("--seq-len", &options.seq_len, 1, 10000);
  parser.integer("--hidden", &options.hidden, 1, 4096);
  parser.integer("--embedding", &options.embedding, 1, 4096);
  parser.integer("--eval-every", &options.eval_every, 0, 10000000);
  parser.integer("--val-windows", &options.val_windows, 0, 100000000);
  parser.integer("--max-chars", &options.max_chars, 0, INT32_MAX);
  parser.integer("--sample-length", &options.sample_length, 0, 100000);
  parser.integer("--seed", &options.seed, 0, INT32_MAX);
  parser.real("--lr", &options.lr, 0, 10);
  parser.real("--clip", &options.clip, 0, 1e9);
  parser.real("--temperature", &options.temperature, 1e-3, 100);
  parser.text("--data", &options.data_dir);
  parser.text("--prime", &options.prime);
  parser.text("--backend", &options.backend);
  parser.choice("--mode", {"teacher", "free"},
                [&](const std::string& mode) { options.free_running = mode == "free"; });
  if (!parser.parse(argc, argv)) return std::nullopt;
  return options;
}

/// ids[start + t] for t in [0, T) of each window start, time-major [T, B].
rnnc::Tensor windows(const std::vector<int32_t>& ids, const std::vector<int64_t>& starts,
                     int64_t steps, int64_t offset) {
  const int64_t batch = static_cast<int64_t>(starts.size());
  std::vector<int32_t> values(static_cast<size_t>(steps * batch));
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t b = 0; b < batch; ++b) values[t * batch + b] = ids[starts[b] + offset + t];
  return rnnc::Tensor::from_ints({steps, batch}, values);
}

/// Held-out bits per character over consecutive windows of the validation ids (at most
/// `max_windows`, 0: all), each predicting its next T characters from a fresh state.
double validation_bpc(rnnc::Executable& evaluate, rnnc::Bindings& state,
                      const std::vector<int32_t>& ids, const Options& options) {
  const int64_t steps = options.seq_len, batch = options.batch_size;
  int64_t count = (static_cast<int64_t>(ids.size()) - 1) / steps;
  if (options.val_windows > 0) count = std::min(count, options.val_windows);
  if (count < 1) throw rnnc::Error("the validation text is shorter than one window");
  double nats = 0;
  for (int64_t first = 0; first < count; first += batch) {
    std::vector<int64_t> starts;
    for (int64_t w = first; w < std::min(count, first + batch); ++w) starts.push_back(w * steps);
    const size_t real = starts.size();
    starts.resize(static_cast<size_t>(batch), starts[0]);  // padding rows, not counted
    rnnc::Bindings inputs{{"x", windows(ids, starts, steps, 0)},
                          {"y", windows(ids, starts, steps, 1)}};
    rnnc::Tensor row_loss = evaluate.run(inputs, state).at("row_loss");
    for (size_t b = 0; b < real; ++b) nats += row_loss.get(static_cast<int64_t>(b));
  }
  return nats / (static_cast<double>(count * steps) * std::log(2.0));
}

/// Continues `prime` by `length` characters sampled from softmax(logits / temperature).
std::string sample(rnnc::Executable& step, rnnc::Bindings& state,
                   const rnnc::CharVocabulary& vocabulary, const Options& options) {
  std::vector<int32_t> prime = vocabulary.encode(options.prime);
  const int64_t hidden = options.hidden;
  rnnc::Tensor h(rnnc::TensorType{rnnc::ir::DType::f32, {1, 1, hidden}});
  rnnc::Tensor c = h;
  rnnc::Rng rng(static_cast<uint64_t>(options.seed) + 7);
  std::u32string text;
  int32_t next = prime[0];
  for (int64_t n = 0; n < static_cast<int64_t>(prime.size()) + options.sample_length - 1; ++n) {
    rnnc::Bindings inputs{{"x", rnnc::Tensor::from_ints({1, 1}, {next})}, {"h0", h}, {"c0", c}};
    rnnc::Bindings out = step.run(inputs, state);
    h = out.at("h_n");
    c = out.at("c_n");
    if (n + 1 < static_cast<int64_t>(prime.size())) {
      next = prime[n + 1];
      continue;
    }
    const rnnc::Tensor& logits = out.at("logits");
    std::vector<double> weights(static_cast<size_t>(logits.num_elements()));
    double top = -INFINITY;
    for (int64_t v = 1; v < logits.num_elements(); ++v) top = std::max(top, logits.get(v));
    double total = 0;
    for (int64_t v = 1; v < logits.num_elements(); ++v)  // id 0 is padding: never sampled
      total += weights[v] = std::exp((logits.get(v) - top) / options.temperature);
    double pick = rng.uniform() * total;
    next = static_cast<int32_t>(logits.num_elements() - 1);
    for (int64_t v = 1; v < logits.num_elements(); ++v)
      if ((pick -= weights[v]) < 0) {
        next = static_cast<int32_t>(v);
        break;
      }
    text += vocabulary.character(next);
  }
  return options.prime + rnnc::encode_utf8(text);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run(const Options& given) {
  Options options = given;
  if (options.backend.empty()) options.backend = rnnc::codegen::default_backend();
  std::string text = rnnc::read_text_file(options.data_dir + "/shakespeare/shakespeare.txt.gz");
  if (options.max_chars > 0 && static_cast<int64_t>(text.size()) > options.max_chars)
    text.resize(static_cast<size_t>(options.max_chars));
  rnnc::CharVocabulary vocabulary = rnnc::CharVocabulary::from_texts({text});
  std::vector<int32_t> ids = vocabulary.encode(text);
  try {
    vocabulary.encode(options.prime);  // fail before training, not after it
  } catch (const rnnc::Error& error) {
    throw rnnc::Error(std::string("--prime: ") + error.what());
  }
  const size_t split = ids.size() - ids.size() / 10;
  std::vector<int32_t> train(ids.begin(), ids.begin() + static_cast<int64_t>(split));
  std::vector<int32_t> val(ids.begin() + static_cast<int64_t>(split), ids.end());
  if (static_cast<int64_t>(train.size()) <= options.seq_len + 1)
    throw rnnc::Error("the training text (" + std::to_string(train.size()) +
                      " characters) is shorter than one window of --seq-len + 1");
  std::printf("char_lm: %zu characters (%zu train, %zu held out), vocabulary %lld, %s training\n",
              ids.size(), train.size(), val.size(), static_cast<long long>(vocabulary.size() - 1),
              options.free_running ? "free-running" : "teacher-forced");

  const int64_t characters = vocabulary.size();
  auto start = std::chrono::steady_clock::now();
  rnnc::nn::Model train_model = charlm::training_model(options, characters);
  rnnc::nn::Model eval_model = charlm::evaluation_model(options, characters);
  rnnc::nn::Model step_model = charlm::sampling_model(options, characters);
  auto train_step = rnnc::codegen::compile(train_model.graph(), options.backend);
  auto evaluate = rnnc::codegen::compile(eval_model.graph(), options.backend);
  auto sample_step = rnnc::codegen::compile(step_model.graph(), options.backend);
  std::printf("compiled for %s in %.2f s\n", options.backend.c_str(), seconds_since(start));

  rnnc::Bindings state = rnnc::initialize_parameters(train_model.graph());
  rnnc::Rng rng(static_cast<uint64_t>(options.seed));
  const int64_t last_start = static_cast<int64_t>(train.size()) - options.seq_len - 1;
  double recent_loss = NAN, val_bpc = NAN;
  start = std::chrono::steady_clock::now();
  for (int64_t step = 1; step <= options.steps; ++step) {
    std::vector<int64_t> starts;
    for (int64_t b = 0; b < options.batch_size; ++b)
      starts.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(last_start + 1))));
    rnnc::Bindings inputs{{"x", windows(train, starts, options.seq_len, 0)},
                          {"y", windows(train, starts, options.seq_len, 1)}};
    double loss = train_step->run(inputs, state).at("loss").get(0);
    if (!std::isfinite(loss))
      throw rnnc::Error("training diverged at step " + std::to_string(step));
    recent_loss = std::isnan(recent_loss) ? loss : 0.98 * recent_loss + 0.02 * loss;
    if (options.eval_every > 0 && (step % options.eval_every == 0 || step == options.steps)) {
      val_bpc = validation_bpc(*evaluate, state, val, options);
      std::printf("step %lld: train loss %.4f (%.3f bpc), val %.4f bpc, %.1f steps/s\n",
                  static_cast<long long>(step), recent_loss, recent_loss / std::log(2.0), val_bpc,
                  static_cast<double>(step) / seconds_since(start));
      std::fflush(stdout);
    }
  }
  if (std::isnan(val_bpc) || options.eval_every == 0)
    val_bpc = validation_bpc(*evaluate, state, val, options);
  if (options.sample_length > 0)
    std::printf("sample (temperature %.2f):\n%s\n", options.temperature,
                sample(*sample_step, state, vocabulary, options).c_str());
  std::printf("RESULT val_bpc=%.4f train_loss=%.4f steps=%lld mode=%s\n", val_bpc, recent_loss,
              static_cast<long long>(options.steps), options.free_running ? "free" : "teacher");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::optional<Options> options = parse_options(argc, argv);
    return options ? run(*options) : 0;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "char_lm: %s\n", error.what());
    return 1;
  }
}
