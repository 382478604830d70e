#include "examples/char_lm/model.h"

#include "frontend/cells.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/scan_builder.h"

namespace charlm {
namespace {

namespace nn = rnnc::nn;
namespace build = rnnc::ir::build;
using rnnc::ir::DType;
using rnnc::ir::Value;

/// The layers, created in the same order (so with the same names and seeds) in every model.
struct Layers {
  Layers(nn::Model& model, const Options& options, int64_t characters)
      : embed(model, "embed", characters, options.embedding),
        lstm(model, "lstm", config(options)),
        head(model, "head", options.hidden, characters) {}

  static nn::RecurrentConfig config(const Options& options) {
    nn::RecurrentConfig config;
    config.cell = nn::CellKind::Lstm;
    config.input_size = options.embedding;
    config.hidden_size = options.hidden;
    return config;
  }

  nn::Embedding embed;
  nn::Recurrent lstm;
  nn::Linear head;
};

/// Teacher forcing: logits [T * B, V] for every step of x [T, B].
Value* teacher_forced_logits(const Layers& layers, Value* x) {
  const int64_t steps = x->shape()[0], batch = x->shape()[1];
  Value* outputs = layers.lstm(layers.embed(x)).outputs;  // [T, B, H]
  return layers.head(build::reshape(outputs, {steps * batch, outputs->shape()[2]}));
}

/// Free running: logits [T * B, V]; step 0 reads x[0], every later step the one-hot argmax of
/// the previous step's logits (no gradient flows through the choice, as in the lecture).
Value* free_running_logits(const Layers& layers, const Options& options, Value* x,
                           int64_t characters) {
  rnnc::ir::Graph& graph = build::graph_of(x);
  const int64_t steps = x->shape()[0], batch = x->shape()[1];
  Value* first = build::reshape(build::slice(x, {0, 0}, {1, batch}), {batch});
  Value* zeros = build::full(graph, {DType::f32, {batch, options.hidden}}, 0.0);

  rnnc::ir::ScanBuilder scan(graph, "free_running_step");
  rnnc::nn::cells::CellState state;
  state.h = scan.carry(zeros, "h");
  state.c = scan.carry(zeros, "c");
  Value* previous = scan.carry(nn::one_hot(first, characters, DType::f32), "previous");
  scan.sequence(x, "x");  // sets the trip count; the body reads its own predictions
  Value* table = scan.invariant(layers.embed.weight(), "embed");
  rnnc::nn::cells::CellParameters params;
  const auto specs = rnnc::nn::cells::parameter_specs(Layers::config(options), options.embedding);
  for (size_t i = 0; i < specs.size(); ++i)
    params[specs[i].short_name] = scan.invariant(layers.lstm.parameters()[i], specs[i].short_name);
  Value* weight = scan.invariant(layers.head.weight(), "head_weight");
  Value* bias = scan.invariant(layers.head.bias(), "head_bias");

  Value* input = build::matmul(previous, table);  // the embedding of the one-hot character
  rnnc::nn::cells::CellState next =
      rnnc::nn::cells::step(Layers::config(options), input, state, params);
  Value* logits =
      build::add(build::matmul(next.h, weight), build::broadcast(bias, {batch, characters}));
  scan.set_next(state.h, next.h);
  scan.set_next(state.c, next.c);
  scan.set_next(previous, nn::one_hot(nn::argmax(logits), characters, DType::f32));
  scan.add_output("logits", logits);
  Value* stacked = scan.finish().back();  // [T, B, V]
  return build::reshape(stacked, {steps * batch, characters});
}

}  // namespace

nn::Model training_model(const Options& options, int64_t characters) {
  nn::Model model(DType::f32, static_cast<uint64_t>(options.seed), "char_lm_train");
  Layers layers(model, options, characters);
  Value* x = model.input("x", {options.seq_len, options.batch_size}, DType::i32);
  Value* y = model.input("y", {options.seq_len, options.batch_size}, DType::i32);
  Value* logits = options.free_running ? free_running_logits(layers, options, x, characters)
                                       : teacher_forced_logits(layers, x);
  Value* labels = build::reshape(y, {options.seq_len * options.batch_size});
  nn::TrainingConfig train;
  train.optimizer = nn::OptimizerConfig::parse("adam:lr=" + std::to_string(options.lr));
  if (options.clip > 0) train.clip_norm = options.clip;
  nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), train);
  return model;
}

nn::Model evaluation_model(const Options& options, int64_t characters) {
  nn::Model model(DType::f32, static_cast<uint64_t>(options.seed), "char_lm_eval");
  Layers layers(model, options, characters);
  Value* x = model.input("x", {options.seq_len, options.batch_size}, DType::i32);
  Value* y = model.input("y", {options.seq_len, options.batch_size}, DType::i32);
  Value* labels = build::reshape(y, {options.seq_len * options.batch_size});
  Value* losses = nn::cross_entropy(teacher_forced_logits(layers, x), labels, nn::Reduction::none);
  model.output("row_loss", build::reduce_sum(
                               build::reshape(losses, {options.seq_len, options.batch_size}), {0}));
  return model;
}

nn::Model sampling_model(const Options& options, int64_t characters) {
  nn::Model model(DType::f32, static_cast<uint64_t>(options.seed), "char_lm_sample");
  Layers layers(model, options, characters);
  Value* x = model.input("x", {1, 1}, DType::i32);
  Value* h0 = model.input("h0", {1, 1, options.hidden});
  Value* c0 = model.input("c0", {1, 1, options.hidden});
  nn::RecurrentResult result = layers.lstm(layers.embed(x), nullptr, h0, c0);
  model.output("logits", layers.head(build::reshape(result.outputs, {1, options.hidden})));
  model.output("h_n", result.h_n);
  model.output("c_n", result.c_n);
  return model;
}

}  // namespace charlm
