// The lecture's LSTM gate experiment on the Stanford Sentiment Treebank (binary, sentence
// level): what each of the input, forget and output gates buys. Each sentence goes through
// 25-dimensional GloVe Twitter word vectors (fine-tuned by default), the lecture's LSTM with
// peepholes (hidden size 50) with some subset of the three gates, and a 2-class linear layer
// on the final hidden vector. Cross entropy, AdaGrad, minibatches of 10, 10 epochs, early
// stopping on dev accuracy (the best dev epoch's parameters are kept), test accuracy of
// those. Every variant runs with several seeds; training steps are compiled by the CPU
// backend when there is one.
//
// Usage: sst_gates [--variants LIST] [--seeds N] [--epochs N] [--patience N]
//                  [--batch-size B] [--hidden H] [--lr X] [--clip X]
//                  [--embeddings fine-tune|frozen] [--max-train-examples N]
//                  [--max-eval-examples N] [--jobs N] [--data DIR] [--output-dir DIR]
//                  [--backend NAME]
// LIST is comma separated: none, output, input, input+output, forget, input+forget,
// forget+output, all (the default is all eight, in the lecture's order). Prints a table,
// one `RESULT variant=... test_accuracy_mean=... test_accuracy_std=... seeds=N seconds=...`
// line per variant, and writes sst_gates.md and sst_gates.svg into the output directory.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "codegen/backend.h"
#include "examples/sst_gates/report.h"
#include "examples/sst_gates/sst_data.h"
#include "frontend/losses.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "runtime/command_line.h"
#include "runtime/initializers.h"
#include "runtime/text_file.h"
#include "runtime/trainer.h"

namespace {

namespace nn = rnnc::nn;
namespace build = rnnc::ir::build;
using rnnc::ir::DType;
using rnnc::ir::Value;

/// The lecture's eight variants, in the order of its table.
const std::vector<std::string> kLectureVariants = {
    "none", "output", "input", "input+output", "forget", "input+forget", "forget+output", "all"};

/// The command line; the defaults are the lecture's set-up.
struct Options {
  std::vector<std::string> variants = kLectureVariants;
  int64_t seeds = 3;
  int64_t epochs = 10;
  int64_t patience = 3;
  int64_t batch_size = 10;
  int64_t hidden = 50;
  double lr = 0.05;  ///< the best mean dev accuracy of 0.02, 0.03, 0.05, 0.1, 0.2 (README)
  double clip = 5;
  bool fine_tune = true;
  int64_t max_train_examples = 0;  ///< 0: all
  int64_t max_eval_examples = 0;   ///< dev and test each; 0: all
  int64_t jobs = 2;                ///< variants trained at once, each on its own thread
  std::string data_dir = RNNC_DATA_DIR;
  std::string output_dir = ".";
  std::string backend;  ///< empty: "cpu" when available, else the interpreter
};

const char* const kUsage =
    "usage: sst_gates [--variants LIST] [--seeds N] [--epochs N] [--patience N] "
    "[--batch-size B] [--hidden H] [--lr X] [--clip X] [--embeddings fine-tune|frozen] "
    "[--max-train-examples N] [--max-eval-examples N] [--jobs N] [--data DIR] "
    "[--output-dir DIR] [--backend NAME]\n"
    "LIST: comma-separated gate variants among none, output, input, input+output, forget, "
    "input+forget, forget+output, all";

/// The comma-separated variants of `text`, each checked by LstmGates::parse, none repeated.
std::vector<std::string> parse_variants(const std::string& text) {
  std::vector<std::string> variants;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = std::min(text.find(',', begin), text.size());
    std::string name = text.substr(begin, end - begin);
    nn::LstmGates::parse(name);
    if (std::find(variants.begin(), variants.end(), name) != variants.end())
      throw rnnc::Error("'" + name + "' is listed twice");
    variants.push_back(name);
    begin = end + 1;
  }
  return variants;
}

/// The options of the command line; nothing when --help was given.
std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  rnnc::OptionParser parser(kUsage);
  parser.integer("--seeds", &options.seeds, 1, 1000);
  parser.integer("--epochs", &options.epochs, 1, 10000);
  parser.integer("--patience", &options.patience, 0, 10000);
  parser.integer("--batch-size", &options.batch_size, 1, 100000);
  parser.integer("--hidden", &options.hidden, 1, 4096);
  parser.integer("--max-train-examples", &options.max_train_examples, 0, INT32_MAX);
  parser.integer("--max-eval-examples", &options.max_eval_examples, 0, INT32_MAX);
  parser.integer("--jobs", &options.jobs, 1, 64);
  parser.positive_real("--lr", &options.lr, 100);
  parser.positive_real("--clip", &options.clip, 1e6);
  parser.custom("--variants",
                [&](const std::string& list) { options.variants = parse_variants(list); });
  parser.choice("--embeddings", {"fine-tune", "frozen"},
                [&](const std::string& mode) { options.fine_tune = mode == "fine-tune"; });
  parser.text("--data", &options.data_dir);
  parser.text("--output-dir", &options.output_dir);
  parser.text("--backend", &options.backend);
  if (!parser.parse(argc, argv)) return std::nullopt;
  return options;
}

/// The sizes every graph of the experiment shares.
struct Shapes {
  int64_t steps = 0;       ///< padded sentence length
  int64_t vocabulary = 0;  ///< embedding rows
  int64_t embedding = 0;   ///< word vector dimension
};

/// The sentiment classifier with the gates of `variant`, for batches of `batch` sentences.
/// The training graph is one AdaGrad step (clipped by global norm) of the mean cross entropy,
/// with per-example "correct"; the evaluation graph outputs "correct" and "example_loss".
/// With frozen embeddings the word vectors are not among the trained parameters.
nn::Model build_model(const Options& options, const Shapes& shapes, const std::string& variant,
                      int64_t batch, bool training) {
  nn::Model model(DType::f32, /*seed=*/1);
  Value* tokens = model.input("tokens", {batch, shapes.steps}, DType::i32);
  Value* lengths = model.input("lengths", {batch}, DType::i32);
  nn::Embedding embed(model, "embedding", shapes.vocabulary, shapes.embedding);
  nn::RecurrentConfig config;
  config.cell = nn::CellKind::LectureLstm;
  config.input_size = shapes.embedding;
  config.hidden_size = options.hidden;
  config.gates = nn::LstmGates::parse(variant);
  config.gates.peepholes = true;
  nn::Recurrent lstm(model, "lstm", config);
  nn::Linear classify(model, "classify", options.hidden, 2);
  Value* words = embed(build::transpose(tokens, {1, 0}));  // [T, B, E]
  Value* h_n = lstm(words, lengths).h_n;                   // [1, B, H]
  Value* logits = classify(build::reshape(h_n, {batch, options.hidden}));
  Value* labels = model.input("label", {batch}, DType::i32);
  model.output("correct", nn::multiclass_correct(logits, labels));
  if (training) {
    nn::TrainingConfig train;
    train.optimizer = nn::OptimizerConfig::parse("adagrad:lr=" + std::to_string(options.lr));
    train.clip_norm = options.clip;
    for (Value* weight : model.weights())
      if (options.fine_tune || weight != embed.weight()) train.params.push_back(weight);
    nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), train);
  } else {
    model.output("example_loss", nn::cross_entropy(logits, labels, nn::Reduction::none));
  }
  return model;
}

/// Everything the runs read and none of them changes.
struct Experiment {
  Options options;
  Shapes shapes;
  std::string backend;
  rnnc::Dataset train, dev, test;
  const rnnc::WordVectors* vectors = nullptr;
  const rnnc::TokenVocabulary* vocabulary = nullptr;
};

/// Serializes the workers' printing.
std::mutex print_mutex;

void print_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(print_mutex);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

/// Compiles `variant` once and trains it with every seed.
sst::VariantResult run_variant(const Experiment& experiment, const std::string& variant) {
  const Options& options = experiment.options;
  const auto start = std::chrono::steady_clock::now();
  sst::VariantResult result;
  result.variant = variant;
  result.lecture_accuracy = sst::lecture_accuracy(variant);
  const int64_t eval_batch = 100;
  nn::Model train_model =
      build_model(options, experiment.shapes, variant, options.batch_size, true);
  nn::Model eval_model = build_model(options, experiment.shapes, variant, eval_batch, false);
  auto train_step = rnnc::codegen::compile(train_model.graph(), experiment.backend);
  auto evaluate = rnnc::codegen::compile(eval_model.graph(), experiment.backend);
  for (int64_t seed = 1; seed <= options.seeds; ++seed) {
    const auto run_start = std::chrono::steady_clock::now();
    rnnc::TrainerConfig config;
    config.epochs = options.epochs;
    config.batch_size = options.batch_size;
    config.eval_batch_size = eval_batch;
    config.seed = static_cast<uint64_t>(seed);
    config.patience = options.patience;
    rnnc::Trainer trainer(*train_step, *evaluate, config);
    // One compiled graph serves every seed: the seed offsets the parameters' initial values.
    rnnc::Bindings state =
        rnnc::initialize_parameters(train_model.graph(), static_cast<uint64_t>(seed) * 1000003);
    state["embedding.weight"] =
        rnnc::make_embedding_matrix(*experiment.vectors, *experiment.vocabulary,
                                    static_cast<uint64_t>(seed))
            .matrix;
    rnnc::FitResult fit = trainer.fit(state, experiment.train, &experiment.dev);
    rnnc::Evaluation on_test = trainer.evaluate(state, experiment.test);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    result.test_accuracy.push_back(on_test.accuracy);
    result.best_dev_accuracy.push_back(fit.best_dev_accuracy);
    result.best_epoch.push_back(fit.best_epoch);
    char line[256];
    std::snprintf(line, sizeof line,
                  "%-13s seed %lld: best dev %.4f (epoch %lld of %zu%s), test %.4f, %.1f s",
                  variant.c_str(), static_cast<long long>(seed), fit.best_dev_accuracy,
                  static_cast<long long>(fit.best_epoch), fit.epochs.size(),
                  fit.diverged ? ", diverged" : (fit.stopped_early ? ", stopped early" : ""),
                  on_test.accuracy, seconds);
    print_line(line);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

/// Runs every variant on `options.jobs` threads (each compiles its own executables).
std::vector<sst::VariantResult> run_all(const Experiment& experiment) {
  const std::vector<std::string>& variants = experiment.options.variants;
  std::vector<sst::VariantResult> results(variants.size());
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::string first_error;
  auto worker = [&] {
    for (size_t i = next++; i < variants.size(); i = next++) {
      try {
        results[i] = run_variant(experiment, variants[i]);
      } catch (const rnnc::Error& error) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.empty()) first_error = error.what();
      }
    }
  };
  const size_t jobs =
      std::min<size_t>(static_cast<size_t>(experiment.options.jobs), variants.size());
  std::vector<std::thread> threads;
  for (size_t j = 1; j < jobs; ++j) threads.emplace_back(worker);
  worker();
  for (std::thread& thread : threads) thread.join();
  if (!first_error.empty()) throw rnnc::Error(first_error);
  return results;
}

int run(const Options& options) {
  const std::string sst_dir = options.data_dir + "/sst";
  if (!std::filesystem::is_directory(sst_dir))
    throw rnnc::Error(sst_dir +
                      ": no such directory (expected stsa.binary.{train,dev,test}.gz "
                      "there; --data names the folder holding sst/ and glove/)");
  if (!std::filesystem::is_directory(options.output_dir))
    throw rnnc::Error(options.output_dir + ": the output directory does not exist");
  const uint64_t split_seed = 7;
  sst::Split train_split = sst::limit_split(sst::read_split(sst_dir + "/stsa.binary.train.gz"),
                                            options.max_train_examples, split_seed);
  sst::Split dev_split = sst::limit_split(sst::read_split(sst_dir + "/stsa.binary.dev.gz"),
                                          options.max_eval_examples, split_seed + 1);
  sst::Split test_split = sst::limit_split(sst::read_split(sst_dir + "/stsa.binary.test.gz"),
                                           options.max_eval_examples, split_seed + 2);
  if (static_cast<int64_t>(train_split.sentences.size()) < options.batch_size)
    throw rnnc::Error("--batch-size " + std::to_string(options.batch_size) + " exceeds the " +
                      std::to_string(train_split.sentences.size()) + " training sentences");
  rnnc::WordVectors vectors =
      rnnc::WordVectors::read(options.data_dir + "/glove/glove.twitter.27B.25d.top12k.txt.gz");
  rnnc::TokenVocabulary vocabulary =
      sst::make_vocabulary(train_split, {&dev_split, &test_split}, vectors);

  Experiment experiment;
  experiment.options = options;
  experiment.shapes.steps = sst::longest_sentence({&train_split, &dev_split, &test_split});
  experiment.shapes.vocabulary = vocabulary.size();
  experiment.shapes.embedding = vectors.dim();
  experiment.train = sst::encode(train_split, vocabulary, experiment.shapes.steps);
  experiment.dev = sst::encode(dev_split, vocabulary, experiment.shapes.steps);
  experiment.test = sst::encode(test_split, vocabulary, experiment.shapes.steps);
  experiment.vectors = &vectors;
  experiment.vocabulary = &vocabulary;
  experiment.backend = options.backend.empty() ? rnnc::codegen::default_backend() : options.backend;
  const rnnc::EmbeddingMatrix embedding = rnnc::make_embedding_matrix(vectors, vocabulary, 1);
  std::printf(
      "sst_gates: %zu training, %zu dev, %zu test sentences (%.1f%% positive in test), up to "
      "%lld words\n"
      "vocabulary: %lld ids, %lld words with a %lld-dimensional GloVe vector, %lld random rows; "
      "embeddings %s\n"
      "backend: %s, %lld job(s); %lld seed(s) per variant, %lld epochs, patience %lld, "
      "AdaGrad lr %g, clip %g, batch %lld, hidden %lld\n",
      train_split.sentences.size(), dev_split.sentences.size(), test_split.sentences.size(),
      100 * sst::positive_fraction(test_split), static_cast<long long>(experiment.shapes.steps),
      static_cast<long long>(vocabulary.size()), static_cast<long long>(embedding.found),
      static_cast<long long>(vectors.dim()), static_cast<long long>(embedding.random),
      options.fine_tune ? "fine-tuned" : "frozen", experiment.backend.c_str(),
      static_cast<long long>(options.jobs), static_cast<long long>(options.seeds),
      static_cast<long long>(options.epochs), static_cast<long long>(options.patience), options.lr,
      options.clip, static_cast<long long>(options.batch_size),
      static_cast<long long>(options.hidden));
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();
  std::vector<sst::VariantResult> results = run_all(experiment);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  char setup[512];
  std::snprintf(setup, sizeof setup,
                "SST binary, sentence level: %zu train / %zu dev / %zu test sentences; %s "
                "embeddings; %lld seed(s) per variant, %lld epochs (patience %lld), AdaGrad lr "
                "%g, batch %lld, hidden %lld; backend %s, %lld job(s), %.1f s in all.",
                train_split.sentences.size(), dev_split.sentences.size(),
                test_split.sentences.size(), options.fine_tune ? "fine-tuned" : "frozen",
                static_cast<long long>(options.seeds), static_cast<long long>(options.epochs),
                static_cast<long long>(options.patience), options.lr,
                static_cast<long long>(options.batch_size), static_cast<long long>(options.hidden),
                experiment.backend.c_str(), static_cast<long long>(options.jobs), seconds);
  const std::string table = sst::markdown_table(results, setup);
  std::printf("\n%s\n", table.c_str());
  for (const sst::VariantResult& result : results)
    std::printf("%s\n", sst::result_line(result).c_str());
  const std::string markdown_path = options.output_dir + "/sst_gates.md";
  const std::string chart_path = options.output_dir + "/sst_gates.svg";
  rnnc::write_file_bytes(markdown_path, table);
  rnnc::write_file_bytes(chart_path,
                         sst::bar_chart_svg(results, "SST binary test accuracy by LSTM gates"));
  std::printf("wrote %s and %s; %.1f s in all\n", markdown_path.c_str(), chart_path.c_str(),
              seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::optional<Options> options = parse_options(argc, argv);
    return options ? run(*options) : 0;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "sst_gates: %s\n", error.what());
    return 1;
  }
}
