// The lecture's first RNN in practice: teach a recurrent network to turn "hihell" into
// "ihello", one character at a time (at each step, predict the next character of "hello").
// The vocabulary is the lecture's idx2char = ['h', 'i', 'e', 'l', 'o']. Two variants, as in
// the lecture's PyTorch programs:
//   one-hot:   x_t = one_hot(char) (5 wide) -> RNN(5 -> 5); the hidden state is the logits;
//   embedding: x_t = Embedding(5, 10)(char) -> RNN(10 -> 5) -> Linear(5 -> 5) logits.
// Cross entropy over every step, Adam with learning rate 0.1, trained until the prediction
// (argmax at every step) reads "ihello".
//
// Usage: hihell [max_epochs]
// Prints each epoch's loss and prediction, then
// `RESULT predicted=... onehot_epoch=N embedding_epoch=M` (predicted is the prediction of the
// variant that took longer; an epoch of -1 means it never got there).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "codegen/interp/interpreter.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/error.h"
#include "runtime/initializers.h"
#include "runtime/vocabulary.h"

namespace {

namespace nn = rnnc::nn;
using rnnc::ir::DType;
using rnnc::ir::Value;

constexpr char kCharacters[] = "hielo";  // idx2char, in the lecture's order
constexpr char kInput[] = "hihell";
constexpr char kTarget[] = "ihello";
constexpr int64_t kClasses = 5;
constexpr int64_t kHidden = 5;
constexpr int64_t kEmbedding = 10;
constexpr int64_t kDefaultMaxEpochs = 100;

/// One training step of a variant: inputs "x" (character ids, i32 [T, 1]) and "y" (target
/// ids, i32 [T, 1]); outputs "loss" and "prediction" (argmax per step, i32 [T, 1], from the
/// forward pass before the update).
nn::Model build_training_step(bool embedding) {
  const int64_t steps = sizeof kInput - 1;
  nn::Model model(DType::f32, /*seed=*/embedding ? 12 : 11);
  Value* ids = model.input("x", {steps, 1}, DType::i32);
  Value* labels = model.input("y", {steps, 1}, DType::i32);
  Value* logits = nullptr;
  nn::RecurrentConfig rnn_config;
  rnn_config.cell = nn::CellKind::RnnTanh;
  rnn_config.input_size = embedding ? kEmbedding : kClasses;
  rnn_config.hidden_size = kHidden;
  if (embedding) {
    nn::Embedding embed(model, "embedding", kClasses, kEmbedding);
    nn::Recurrent rnn(model, "rnn", rnn_config);
    nn::Linear fc(model, "fc", kHidden, kClasses);
    logits = fc(rnn(embed(ids)).outputs);  // [T, 1, 5]
  } else {
    nn::Recurrent rnn(model, "rnn", rnn_config);
    logits = rnn(nn::one_hot(ids, kClasses, DType::f32)).outputs;  // [T, 1, 5]
  }
  model.output("prediction", nn::argmax(logits));
  nn::TrainingConfig config;
  config.optimizer = nn::OptimizerConfig::parse("adam:lr=0.1");
  nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), config);
  return model;
}

/// The ids of `text` as an i32 [T, 1] tensor (time-major, batch of one).
rnnc::Tensor column(const rnnc::CharVocabulary& vocabulary, const std::string& text) {
  std::vector<int32_t> ids = vocabulary.encode(text);
  return rnnc::Tensor::from_ints({static_cast<int64_t>(ids.size()), 1}, ids);
}

/// What training one variant gave.
struct Outcome {
  int64_t first_epoch = -1;  ///< 1-based epoch of the first "ihello", or -1
  std::string prediction;    ///< the prediction at that epoch (the last one otherwise)
};

Outcome train(bool embedding, int64_t max_epochs, const rnnc::CharVocabulary& vocabulary) {
  const char* name = embedding ? "embedding" : "one-hot";
  nn::Model model = build_training_step(embedding);
  rnnc::interp::Interpreter step(model.graph());
  rnnc::Bindings state = rnnc::initialize_parameters(model.graph());
  rnnc::Bindings inputs{{"x", column(vocabulary, kInput)}, {"y", column(vocabulary, kTarget)}};
  Outcome outcome;
  for (int64_t epoch = 1; epoch <= max_epochs; ++epoch) {
    rnnc::Bindings out = step.run(inputs, state);
    const rnnc::Tensor& prediction = out.at("prediction");
    outcome.prediction = vocabulary.decode(
        std::span(prediction.data<int32_t>(), static_cast<size_t>(prediction.num_elements())));
    std::printf("%-9s epoch %3lld  loss %.4f  predicted \"%s\"\n", name,
                static_cast<long long>(epoch), out.at("loss").get(0), outcome.prediction.c_str());
    if (outcome.prediction == kTarget) {
      outcome.first_epoch = epoch;
      break;
    }
  }
  if (outcome.first_epoch > 0)
    std::printf("%s: predicted \"%s\" first at epoch %lld\n", name, kTarget,
                static_cast<long long>(outcome.first_epoch));
  else
    std::printf("%s: no \"%s\" within %lld epochs\n", name, kTarget,
                static_cast<long long>(max_epochs));
  return outcome;
}

int64_t parse_epochs(const char* text) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || value <= 0 || value > 100000)
    throw rnnc::Error(std::string("max_epochs must be a positive integer, got '") + text + "'");
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 2) throw rnnc::Error("usage: hihell [max_epochs]");
    int64_t max_epochs = argc > 1 ? parse_epochs(argv[1]) : kDefaultMaxEpochs;
    // No padding: the lecture's one-hot vectors are exactly 5 wide, ids 0..4.
    rnnc::CharVocabulary vocabulary =
        rnnc::CharVocabulary::from_characters(kCharacters, /*padding=*/false);

    Outcome onehot = train(/*embedding=*/false, max_epochs, vocabulary);
    Outcome embedded = train(/*embedding=*/true, max_epochs, vocabulary);
    // The worse variant: one that never succeeded, else the slower one.
    bool onehot_worse = onehot.first_epoch < 0 ||
                        (embedded.first_epoch > 0 && onehot.first_epoch >= embedded.first_epoch);
    const Outcome& worse = onehot_worse ? onehot : embedded;
    std::printf("RESULT predicted=%s onehot_epoch=%lld embedding_epoch=%lld\n",
                worse.prediction.c_str(), static_cast<long long>(onehot.first_epoch),
                static_cast<long long>(embedded.first_epoch));
    return 0;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "hihell: %s\n", error.what());
    return 1;
  }
}
