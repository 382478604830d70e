// The lecture's names-by-country classifier: each name, as characters, goes through a
// character embedding and a bidirectional GRU (2 layers by default); a linear layer on the
// last layer's reverse final state scores the 18 countries. Batches are zero padded with
// lengths, so every name stops at its own length (PyTorch's packed sequences). Cross
// entropy, Adam (lr 0.001), trained on data/names/names_train.csv.gz, evaluated on
// names_test.csv.gz, both "Name","Country" rows.
//
// Usage: names [--epochs N] [--batch-size B] [--hidden H] [--layers L]
//              [--max-train-examples N] [--max-test-examples N] [--seed S] [--data DIR]
//              [--backend NAME]
// --epochs 0 only evaluates the initial model (and reports the majority baseline).
// Prints progress, then `RESULT test_accuracy=... majority_baseline=... epochs=...
// train_examples=... test_examples=...`.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "codegen/backend.h"
#include "frontend/losses.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "runtime/command_line.h"
#include "runtime/csv.h"
#include "runtime/dataset.h"
#include "runtime/initializers.h"
#include "runtime/trainer.h"
#include "runtime/vocabulary.h"

namespace {

namespace nn = rnnc::nn;
namespace build = rnnc::ir::build;
using rnnc::ir::DType;
using rnnc::ir::Value;

/// The command line; the defaults are the lecture's set-up.
struct Options {
  int64_t epochs = 12;
  int64_t batch_size = 256;
  int64_t hidden = 100;
  int64_t layers = 2;
  int64_t max_train_examples = 0;  ///< 0: all
  int64_t max_test_examples = 0;   ///< 0: all
  int64_t seed = 1;
  std::string data_dir = RNNC_DATA_DIR;
  std::string backend;  ///< empty: "cpu" when available, else the interpreter
};

const char* const kUsage =
    "usage: names [--epochs N] [--batch-size B] [--hidden H] [--layers L] "
    "[--max-train-examples N] [--max-test-examples N] [--seed S] [--data DIR] [--backend NAME]";

/// The options of the command line; nothing when --help was given.
std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  rnnc::OptionParser parser(kUsage);
  parser.integer("--epochs", &options.epochs, 0, 100000);
  parser.integer("--batch-size", &options.batch_size, 1, 100000);
  parser.integer("--hidden", &options.hidden, 1, 4096);
  parser.integer("--layers", &options.layers, 1, 16);
  parser.integer("--max-train-examples", &options.max_train_examples, 0, INT32_MAX);
  parser.integer("--max-test-examples", &options.max_test_examples, 0, INT32_MAX);
  parser.integer("--seed", &options.seed, 0, INT32_MAX);
  parser.text("--data", &options.data_dir);
  parser.text("--backend", &options.backend);
  if (!parser.parse(argc, argv)) return std::nullopt;
  return options;
}

/// One "Name","Country" file: names, countries and the line of each.
struct NamesFile {
  std::string path;
  std::vector<std::string> names;
  std::vector<std::string> countries;
  std::vector<int64_t> lines;
};

NamesFile read_names(const std::string& path) {
  rnnc::CsvRows csv = rnnc::read_csv(path);
  NamesFile file{path, {}, {}, {}};
  for (size_t r = 0; r < csv.rows.size(); ++r) {
    const std::string where = path + ":" + std::to_string(csv.line_numbers[r]) + ": ";
    const std::vector<std::string>& row = csv.rows[r];
    if (row.size() != 2)
      throw rnnc::Error(where + "expected 2 fields (name, country), found " +
                        std::to_string(row.size()));
    if (row[0].empty()) throw rnnc::Error(where + "empty name");
    if (row[1].empty()) throw rnnc::Error(where + "empty country");
    file.names.push_back(row[0]);
    file.countries.push_back(row[1]);
    file.lines.push_back(csv.line_numbers[r]);
  }
  if (file.names.empty()) throw rnnc::Error(path + ": no names");
  return file;
}

/// The examples of `file` as dataset columns "names" [N, steps], "lengths" [N] and "label"
/// [N]. A character outside `vocabulary` or a country outside `countries` is an error
/// naming the file, line, name and character (or country).
rnnc::Dataset encode(const NamesFile& file, const rnnc::CharVocabulary& vocabulary,
                     const std::vector<std::string>& countries, int64_t steps) {
  std::vector<int32_t> labels;
  for (size_t i = 0; i < file.names.size(); ++i) {
    const std::string where = file.path + ":" + std::to_string(file.lines[i]) + ": ";
    try {
      vocabulary.encode(file.names[i]);
    } catch (const rnnc::Error& error) {
      throw rnnc::Error(where + error.what() +
                        " (the vocabulary holds the characters of the training names)");
    }
    auto country = std::lower_bound(countries.begin(), countries.end(), file.countries[i]);
    if (country == countries.end() || *country != file.countries[i])
      throw rnnc::Error(where + "country '" + file.countries[i] + "' of '" + file.names[i] +
                        "' does not occur in the training data");
    labels.push_back(static_cast<int32_t>(country - countries.begin()));
  }
  rnnc::EncodedBatch batch = vocabulary.encode_batch(file.names, steps);
  rnnc::Dataset data;
  data.add_column("names", std::move(batch.ids));
  data.add_column("lengths", std::move(batch.lengths));
  data.add_column("label", rnnc::Tensor::from_ints({static_cast<int64_t>(labels.size())}, labels));
  return data;
}

/// At most `limit` examples of `data` (0: all), a seeded random choice when fewer: the
/// files are sorted by country, so their first rows would be a single country.
rnnc::Dataset limit_examples(const rnnc::Dataset& data, int64_t limit, uint64_t seed) {
  if (limit == 0 || limit >= data.size()) return data;
  std::vector<int64_t> order = rnnc::make_batches(data.size(), data.size(), true, seed, false)[0];
  order.resize(static_cast<size_t>(limit));
  return data.subset(order);
}

/// [1, B, H] (one layer-direction's final state) as [B, H].
Value* last_state(Value* h_n, int64_t slot) {
  const rnnc::ir::Shape& shape = h_n->shape();
  Value* one = build::slice(h_n, {slot, 0, 0}, {slot + 1, shape[1], shape[2]});
  return build::reshape(one, {shape[1], shape[2]});
}

/// The classifier for batches of `batch` names of `steps` characters. The training graph is
/// one Adam step of the mean cross entropy (with per-example "correct"); the evaluation graph
/// outputs per-example "correct" and "example_loss".
nn::Model build_model(const Options& options, int64_t batch, int64_t steps, int64_t characters,
                      int64_t countries, bool training) {
  nn::Model model(DType::f32, static_cast<uint64_t>(options.seed));
  Value* names = model.input("names", {batch, steps}, DType::i32);
  Value* lengths = model.input("lengths", {batch}, DType::i32);
  nn::Embedding embed(model, "embedding", characters, options.hidden);
  nn::RecurrentConfig config;
  config.cell = nn::CellKind::Gru;
  config.input_size = options.hidden;
  config.hidden_size = options.hidden;
  config.num_layers = options.layers;
  config.bidirectional = true;
  nn::Recurrent gru(model, "gru", config);
  nn::Linear fc(model, "fc", options.hidden, countries);
  Value* h_n = gru(embed(build::transpose(names, {1, 0})), lengths).h_n;  // [2L, B, H]
  Value* logits = fc(last_state(h_n, 2 * options.layers - 1));            // PyTorch's hidden[-1]
  Value* labels = model.input("label", {batch}, DType::i32);
  model.output("correct", nn::multiclass_correct(logits, labels));
  if (training) {
    nn::TrainingConfig train;
    train.optimizer = nn::OptimizerConfig::parse("adam:lr=0.001");
    nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), train);
  } else {
    model.output("example_loss", nn::cross_entropy(logits, labels, nn::Reduction::none));
  }
  return model;
}

/// The fraction of `labels` equal to `label`.
double fraction_of(const rnnc::Tensor& labels, int32_t label) {
  int64_t count = 0;
  for (int64_t i = 0; i < labels.num_elements(); ++i)
    count += static_cast<int32_t>(labels.get(i)) == label;
  return static_cast<double>(count) / static_cast<double>(labels.num_elements());
}

int run(const Options& options) {
  NamesFile train_file = read_names(options.data_dir + "/names/names_train.csv.gz");
  NamesFile test_file = read_names(options.data_dir + "/names/names_test.csv.gz");

  rnnc::CharVocabulary vocabulary = rnnc::CharVocabulary::from_texts(train_file.names);
  std::vector<std::string> countries = train_file.countries;
  std::sort(countries.begin(), countries.end());
  countries.erase(std::unique(countries.begin(), countries.end()), countries.end());
  int64_t steps = 0;
  for (const NamesFile* file : {&train_file, &test_file})
    for (const std::string& name : file->names)
      steps = std::max<int64_t>(steps, static_cast<int64_t>(rnnc::decode_utf8(name).size()));

  const uint64_t seed = static_cast<uint64_t>(options.seed);
  rnnc::Dataset train = limit_examples(encode(train_file, vocabulary, countries, steps),
                                       options.max_train_examples, seed);
  rnnc::Dataset test = limit_examples(encode(test_file, vocabulary, countries, steps),
                                      options.max_test_examples, seed + 1);
  if (options.epochs > 0 && train.size() < options.batch_size)
    throw rnnc::Error("--batch-size " + std::to_string(options.batch_size) + " exceeds the " +
                      std::to_string(train.size()) + " training examples");

  // The majority class of the (whole) training data, and how often it occurs in the test set.
  std::map<std::string, int64_t> per_country;
  for (const std::string& country : train_file.countries) ++per_country[country];
  auto majority = std::max_element(per_country.begin(), per_country.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
  const int32_t majority_label = static_cast<int32_t>(
      std::lower_bound(countries.begin(), countries.end(), majority->first) - countries.begin());
  const double baseline = fraction_of(test.column("label"), majority_label);
  std::printf(
      "names: %lld training and %lld test names, %lld characters, %zu countries, %lld "
      "steps; majority class %s\n",
      static_cast<long long>(train.size()), static_cast<long long>(test.size()),
      static_cast<long long>(vocabulary.size() - 1), countries.size(),
      static_cast<long long>(steps), majority->first.c_str());

  const int64_t characters = vocabulary.size(), classes = static_cast<int64_t>(countries.size());
  nn::Model train_model =
      build_model(options, options.batch_size, steps, characters, classes, true);
  nn::Model eval_model =
      build_model(options, options.batch_size, steps, characters, classes, false);
  const std::string backend =
      options.backend.empty() ? rnnc::codegen::default_backend() : options.backend;
  auto train_step = rnnc::codegen::compile(train_model.graph(), backend);
  auto evaluate = rnnc::codegen::compile(eval_model.graph(), backend);
  std::printf("backend: %s\n", backend.c_str());

  rnnc::TrainerConfig config;
  config.epochs = options.epochs;
  config.batch_size = options.batch_size;
  config.seed = seed;
  config.verbose = true;
  config.printer = [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  rnnc::Trainer trainer(*train_step, *evaluate, config);
  rnnc::Bindings state = rnnc::initialize_parameters(train_model.graph());
  int64_t epochs_run = 0;
  if (options.epochs > 0)
    epochs_run = static_cast<int64_t>(trainer.fit(state, train).epochs.size());

  rnnc::Evaluation on_test = trainer.evaluate(state, test);
  std::printf("test: accuracy %.4f, loss %.4f over %lld names (majority baseline %.4f)\n",
              on_test.accuracy, on_test.loss, static_cast<long long>(on_test.examples), baseline);
  std::printf(
      "RESULT test_accuracy=%.4f majority_baseline=%.4f epochs=%lld train_examples=%lld "
      "test_examples=%lld\n",
      on_test.accuracy, baseline, static_cast<long long>(epochs_run),
      static_cast<long long>(train.size()), static_cast<long long>(test.size()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::optional<Options> options = parse_options(argc, argv);
    return options ? run(*options) : 0;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "names: %s\n", error.what());
    return 1;
  }
}
