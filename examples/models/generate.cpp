// rnnc-models: writes the lecture's recurrent models as text IR (.rnn files), each as a
// forward graph (<model>.forward.rnn: inference) and a training-step graph
// (<model>.train.rnn: loss, symbolic gradients, clipping where the lecture clips, optimizer
// updates). The committed files in examples/models/ are this program's output;
// tests/model_files_test.cpp fails when they differ from what it writes now.
//
// Usage: rnnc-models OUTPUT_DIR      (regenerate: <build>/bin/rnnc-models examples/models)
//
// Shapes are static, so each file fixes its batch size and (padded) sequence length. No
// weights are stored: parameters, embedding tables included, are declared with their
// initializer and seed, and runtime/initializers.h (or a checkpoint) gives their values.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "frontend/losses.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace {

namespace nn = rnnc::nn;
namespace build = rnnc::ir::build;
using rnnc::ir::DType;
using rnnc::ir::Value;

/// The classifier's logits, labels and loss as the model builder leaves them: what the
/// training graph differentiates and the forward graph outputs.
struct Head {
  Value* logits = nullptr;
  Value* labels = nullptr;  ///< null when the forward graph needs no labels
  Value* loss = nullptr;    ///< built only for the training graph
};

/// The hihell RNN (examples/hihell, one-hot variant): ids i32 [6, 1] -> one_hot -> RNN(5, 5),
/// whose hidden state is the logits [6, 1, 5]; cross entropy at every step; Adam lr 0.1.
void hihell_rnn(nn::Model& model, bool training) {
  Value* ids = model.input("x", {6, 1}, DType::i32);
  nn::RecurrentConfig config;
  config.cell = nn::CellKind::RnnTanh;
  config.input_size = 5;
  config.hidden_size = 5;
  nn::Recurrent rnn(model, "rnn", config);
  Value* logits = rnn(nn::one_hot(ids, 5, DType::f32)).outputs;
  model.output("prediction", nn::argmax(logits));
  if (!training) {
    model.output("logits", logits);
    return;
  }
  Value* labels = model.input("y", {6, 1}, DType::i32);
  nn::TrainingConfig train;
  train.optimizer = nn::OptimizerConfig::parse("adam:lr=0.1");
  nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), train);
}

/// The diabetes classifier (examples/diabetes): 8 -> 6 -> 4 -> 1, sigmoid, BCE, SGD lr 0.1,
/// batches of 32.
void diabetes(nn::Model& model, bool training) {
  nn::Sequential net({nn::Linear(model, "l1", 8, 6), nn::sigmoid, nn::Linear(model, "l2", 6, 4),
                      nn::sigmoid, nn::Linear(model, "l3", 4, 1), nn::sigmoid});
  Value* probability = net(model.input("x", {32, 8}));
  if (!training) {
    model.output("probability", probability);
    return;
  }
  Value* label = model.input("y", {32, 1});
  model.output("correct", nn::binary_correct(probability, label));
  nn::TrainingConfig train;
  train.optimizer = nn::OptimizerConfig::parse("sgd:lr=0.1");
  nn::make_training_step(model.graph(), nn::bce(probability, label), train);
}

/// A sequence classifier's tail: logits [B, C] for i32 labels [B]; the forward graph
/// outputs logits and prediction, the training graph a step of `optimizer` on the mean cross
/// entropy (with per-example "correct"), clipped by global norm when `clip` > 0.
void classifier_outputs(nn::Model& model, Value* logits, const std::string& optimizer, double clip,
                        bool training) {
  model.output("prediction", nn::argmax(logits));
  if (!training) {
    model.output("logits", logits);
    return;
  }
  Value* labels = model.input("label", {logits->shape()[0]}, DType::i32);
  model.output("correct", nn::multiclass_correct(logits, labels));
  nn::TrainingConfig train;
  train.optimizer = nn::OptimizerConfig::parse(optimizer);
  if (clip > 0) train.clip_norm = clip;
  nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), train);
}

/// [1, B, H] (one layer-direction's final state) as [B, H].
Value* last_state(Value* h_n, int64_t slot) {
  const rnnc::ir::Shape& shape = h_n->shape();
  Value* one = build::slice(h_n, {slot, 0, 0}, {slot + 1, shape[1], shape[2]});
  return build::reshape(one, {shape[1], shape[2]});
}

/// The lecture's sentiment LSTM on the Stanford Sentiment Treebank (binary): word ids
/// i32 [B = 10, T = 56] (the longest sentence of train/dev/test, zero padded) with lengths
/// [B]; a table of 25-dimensional word vectors for V = 14830 ids (the 14828 distinct tokens
/// of stsa.binary.train, padding and unknown); the lecture's LSTM with all three gates and
/// peepholes, hidden size 50; a 2-class linear layer on the final hidden state; cross
/// entropy, AdaGrad (lr 0.05), gradients clipped at global norm 5.
void sst_lstm(nn::Model& model, bool training) {
  const int64_t batch = 10, steps = 56, vocabulary = 14830, embedding = 25, hidden = 50;
  Value* tokens = model.input("tokens", {batch, steps}, DType::i32);
  Value* lengths = model.input("lengths", {batch}, DType::i32);
  nn::Embedding embed(model, "embedding", vocabulary, embedding);
  nn::RecurrentConfig config;
  config.cell = nn::CellKind::LectureLstm;
  config.input_size = embedding;
  config.hidden_size = hidden;
  config.gates = nn::LstmGates::parse("all");
  config.gates.peepholes = true;
  nn::Recurrent lstm(model, "lstm", config);
  nn::Linear classify(model, "classify", hidden, 2);
  Value* words = embed(build::transpose(tokens, {1, 0}));  // [T, B, E]
  Value* logits = classify(last_state(lstm(words, lengths).h_n, 0));
  classifier_outputs(model, logits, "adagrad:lr=0.05", 5, training);
}

/// The lecture's names-by-country classifier: names as ASCII codes i32 [B = 256, T = 19]
/// (the longest name; zero padded) with lengths; Embedding(128, 100); a 2-layer
/// bidirectional PyTorch GRU of hidden size 100; a linear layer from the last layer's
/// reverse final state (PyTorch's hidden[-1]) to the 18 countries; cross entropy, Adam
/// (lr 0.001).
void names_gru(nn::Model& model, bool training) {
  const int64_t batch = 256, steps = 19, characters = 128, hidden = 100, countries = 18;
  Value* names = model.input("names", {batch, steps}, DType::i32);
  Value* lengths = model.input("lengths", {batch}, DType::i32);
  nn::Embedding embed(model, "embedding", characters, hidden);
  nn::RecurrentConfig config;
  config.cell = nn::CellKind::Gru;
  config.input_size = hidden;
  config.hidden_size = hidden;
  config.num_layers = 2;
  config.bidirectional = true;
  nn::Recurrent gru(model, "gru", config);
  nn::Linear fc(model, "fc", hidden, countries);
  Value* h_n = gru(embed(build::transpose(names, {1, 0})), lengths).h_n;  // [4, B, H]
  Value* logits = fc(last_state(h_n, 3));
  classifier_outputs(model, logits, "adam:lr=0.001", 0, training);
}

/// A character-level LSTM language model on Tiny Shakespeare (65 characters): chunks of
/// T = 100 characters, B = 32; Embedding(65, 32); a PyTorch LSTM of hidden size 128; a
/// linear layer to the 65 characters at every step. Training is teacher forced (input the
/// true previous characters, predict the next ones; cross entropy at every step), Adam
/// (lr 0.002), clipped at global norm 5. The forward graph also takes and returns the LSTM
/// state, so that sampling can feed one character at a time.
void char_lstm(nn::Model& model, bool training) {
  const int64_t batch = 32, steps = 100, characters = 65, embedding = 32, hidden = 128;
  Value* text = model.input("x", {batch, steps}, DType::i32);
  nn::Embedding embed(model, "embedding", characters, embedding);
  nn::RecurrentConfig config;
  config.cell = nn::CellKind::Lstm;
  config.input_size = embedding;
  config.hidden_size = hidden;
  nn::Recurrent lstm(model, "lstm", config);
  nn::Linear decode(model, "decode", hidden, characters);
  Value* inputs = embed(build::transpose(text, {1, 0}));  // [T, B, E]
  if (!training) {
    Value* h0 = model.input("h0", {1, batch, hidden});
    Value* c0 = model.input("c0", {1, batch, hidden});
    nn::RecurrentResult result = lstm(inputs, nullptr, h0, c0);
    model.output("logits", nn::time_major_to_batch_first(decode(result.outputs)));
    model.output("h_n", result.h_n);
    model.output("c_n", result.c_n);
    return;
  }
  Value* logits = decode(lstm(inputs).outputs);  // [T, B, 65]
  Value* targets = model.input("y", {batch, steps}, DType::i32);
  nn::TrainingConfig train;
  train.optimizer = nn::OptimizerConfig::parse("adam:lr=0.002");
  train.clip_norm = 5;
  Value* loss = nn::cross_entropy(logits, build::transpose(targets, {1, 0}));
  nn::make_training_step(model.graph(), loss, train);
}

struct ModelSpec {
  const char* name;
  std::function<void(nn::Model&, bool)> build;
};

const std::vector<ModelSpec>& models() {
  static const std::vector<ModelSpec> all = {
      {"hihell_rnn", hihell_rnn}, {"diabetes", diabetes},   {"sst_lstm", sst_lstm},
      {"names_gru", names_gru},   {"char_lstm", char_lstm},
  };
  return all;
}

/// The text IR of `spec`'s forward or training graph.
std::string generate(const ModelSpec& spec, bool training) {
  nn::Model model(DType::f32, /*seed=*/0, spec.name);
  spec.build(model, training);
  rnnc::ir::verify(model.graph());
  return rnnc::ir::print_graph(model.graph());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc != 2) throw rnnc::Error("usage: rnnc-models OUTPUT_DIR");
    std::filesystem::path dir = argv[1];
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (!std::filesystem::is_directory(dir))
      throw rnnc::Error(dir.string() + ": cannot create the output directory");
    for (const ModelSpec& spec : models())
      for (bool training : {false, true}) {
        std::filesystem::path path =
            dir / (std::string(spec.name) + (training ? ".train.rnn" : ".forward.rnn"));
        std::string text = generate(spec, training);
        std::ofstream out(path, std::ios::binary);
        out << text;
        out.close();
        if (!out) throw rnnc::Error(path.string() + ": cannot write");
        std::printf("wrote %s (%zu bytes)\n", path.string().c_str(), text.size());
      }
    return 0;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "rnnc-models: %s\n", error.what());
    return 1;
  }
}
