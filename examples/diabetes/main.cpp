// The lecture's diabetes classifier: 8 features -> 6 -> 4 -> 1 with sigmoid activations,
// binary cross entropy, SGD with learning rate 0.1 on shuffled minibatches of 32. A fixed
// (seeded) 20% of the 759 examples is held out as the test set.
//
// Usage: diabetes [path/to/diabetes.csv] [epochs]
// Prints progress, then `RESULT train_accuracy=... test_accuracy=... epochs=...`.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "codegen/interp/interpreter.h"
#include "frontend/nn.h"
#include "frontend/training.h"
#include "ir/error.h"
#include "runtime/csv.h"
#include "runtime/dataset.h"
#include "runtime/initializers.h"
#include "runtime/trainer.h"

namespace {

namespace nn = rnnc::nn;
using rnnc::ir::DType;
using rnnc::ir::Value;

constexpr int64_t kBatch = 32;
constexpr int64_t kDefaultEpochs = 600;

/// The classifier for batches of `batch` examples. The training graph is one SGD step of the
/// mean BCE; the evaluation graph outputs per-example "correct" and "example_loss". Both
/// output "correct", so the trainer also reports training accuracy.
nn::Model build_model(int64_t batch, bool training) {
  nn::Model model(DType::f32, /*seed=*/1);
  nn::Sequential net({nn::Linear(model, "l1", 8, 6), nn::sigmoid, nn::Linear(model, "l2", 6, 4),
                      nn::sigmoid, nn::Linear(model, "l3", 4, 1), nn::sigmoid});
  Value* probability = net(model.input("x", {batch, 8}));
  Value* label = model.input("y", {batch, 1});
  model.output("correct", nn::binary_correct(probability, label));
  if (training) {
    nn::TrainingConfig config;
    config.optimizer = nn::OptimizerConfig::parse("sgd:lr=0.1");
    nn::make_training_step(model.graph(), nn::bce(probability, label), config);
  } else {
    model.output("example_loss",
                 nn::per_example_mean(nn::bce(probability, label, nn::Reduction::none)));
  }
  return model;
}

int64_t parse_epochs(const char* text) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || value <= 0 || value > 1000000)
    throw rnnc::Error(std::string("epochs must be a positive integer, got '") + text + "'");
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 3) throw rnnc::Error("usage: diabetes [path/to/diabetes.csv] [epochs]");
    std::string path = argc > 1 ? argv[1] : RNNC_DATA_DIR "/diabetes/diabetes.csv";
    int64_t epochs = argc > 2 ? parse_epochs(argv[2]) : kDefaultEpochs;

    rnnc::Tensor table = rnnc::read_csv_numeric(path, DType::f32);
    if (table.shape()[1] != 9)
      throw rnnc::Error(path + ": expected 9 columns (8 features and the label), found " +
                        std::to_string(table.shape()[1]));
    rnnc::Dataset all;
    all.add_column("x", rnnc::take_columns(table, 0, 8));
    all.add_column("y", rnnc::take_columns(table, 8, 9));
    auto [test, train] = all.split(0.2, /*seed=*/2024);
    std::printf("diabetes: %lld training and %lld test examples\n",
                static_cast<long long>(train.size()), static_cast<long long>(test.size()));

    nn::Model train_model = build_model(kBatch, true);
    nn::Model eval_model = build_model(kBatch, false);
    rnnc::interp::Interpreter train_step(train_model.graph());
    rnnc::interp::Interpreter evaluate(eval_model.graph());

    rnnc::TrainerConfig config;
    config.epochs = epochs;
    config.batch_size = kBatch;
    config.seed = 7;
    config.verbose = true;
    int64_t report_every = epochs >= 10 ? epochs / 10 : 1;
    config.printer = [&](const std::string& line) {
      // Epoch lines every tenth of the run; everything else always.
      if (line.rfind("epoch ", 0) == 0) {
        long epoch = std::strtol(line.c_str() + 6, nullptr, 10);
        if (epoch % report_every != 0 && epoch != 1) return;
      }
      std::printf("%s\n", line.c_str());
    };
    rnnc::Trainer trainer(train_step, evaluate, config);
    rnnc::Bindings state = rnnc::initialize_parameters(train_model.graph());
    rnnc::FitResult fit = trainer.fit(state, train);

    rnnc::Evaluation on_train = trainer.evaluate(state, train);
    rnnc::Evaluation on_test = trainer.evaluate(state, test);
    std::printf("train: accuracy %.4f, loss %.4f; test: accuracy %.4f, loss %.4f\n",
                on_train.accuracy, on_train.loss, on_test.accuracy, on_test.loss);
    std::printf("RESULT train_accuracy=%.4f test_accuracy=%.4f epochs=%lld\n", on_train.accuracy,
                on_test.accuracy, static_cast<long long>(fit.epochs.size()));
    return 0;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "diabetes: %s\n", error.what());
    return 1;
  }
}
