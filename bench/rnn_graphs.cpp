// The benchmark's graphs (rnn_graphs.h).
#include "bench/rnn_graphs.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <vector>

#include "frontend/losses.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "passes/autodiff.h"
#include "runtime/random.h"

namespace rnnc::bench {
namespace {

namespace build = ir::build;
using ir::DType;
using ir::Value;

/// The exclusive upper bound of each i32 input's values: the table's rows where a gather reads
/// it as indices, T + 1 (values from 1) where a scan reads it as lengths (marked in `lengths`).
std::map<const Value*, int64_t> integer_bounds(const ir::Graph& graph,
                                               std::map<const Value*, bool>& lengths) {
  std::map<const Value*, int64_t> bounds;
  for (const ir::Node* gather : graph.nodes_of(ir::OpKind::Gather)) {
    const Value* indices = gather->operand(1);
    if (indices->producer()->kind() != ir::OpKind::Input) continue;
    const int64_t rows = gather->operand(0)->shape().at(0);
    auto [entry, added] = bounds.emplace(indices, rows);
    if (!added) entry->second = std::min(entry->second, rows);
  }
  for (const ir::Node* scan : graph.nodes_of(ir::OpKind::Scan)) {
    const ir::Attributes& attrs = scan->attrs();
    if (!attrs.has("has_lengths") || attrs.get_int("has_lengths") == 0) continue;
    if (attrs.get_int("num_sequences") < 1) continue;
    const Value* operand = scan->operands().back();
    if (operand->producer()->kind() != ir::OpKind::Input) continue;
    const int64_t steps =
        scan->operand(static_cast<size_t>(attrs.get_int("num_carry")))->shape()[0];
    auto [entry, added] = bounds.emplace(operand, steps + 1);
    if (!added) entry->second = std::min(entry->second, steps + 1);
    lengths[operand] = true;
  }
  return bounds;
}

}  // namespace

std::unique_ptr<ir::Graph> rnn_graph(const std::string& cell, const RnnShape& shape,
                                     const std::string& mode, const RnnGraphOptions& options) {
  const int64_t E = shape.input, H = shape.hidden, B = shape.batch, T = shape.steps;
  nn::Model model(DType::f32, 1);
  nn::RecurrentConfig config;
  config.cell = cell == "lstm" ? nn::CellKind::Lstm : nn::CellKind::Gru;
  config.input_size = E;
  config.hidden_size = H;
  if (mode == "infer") {
    nn::Recurrent rnn(model, "rnn", config);
    nn::RecurrentResult result = rnn(model.input("x", {T, B, E}));
    model.output("y", result.outputs);
    model.output("h_n", result.h_n);
    if (result.c_n) model.output("c_n", result.c_n);
  } else if (mode == "fwdbwd") {
    nn::Recurrent rnn(model, "rnn", config);
    Value* x = model.input("x", {T, B, E});
    Value* y = rnn(x).outputs;
    Value* dy = model.input("dy", {T, B, H});
    Value* loss = build::reduce_sum(build::mul(y, dy), {0, 1, 2});
    std::vector<Value*> wrt = {x};
    for (Value* parameter : rnn.parameters()) wrt.push_back(parameter);
    std::vector<Value*> grads = passes::append_gradients(model.graph(), loss, wrt);
    model.output("y", y);
    for (size_t i = 0; i < wrt.size(); ++i) model.output("grad_" + wrt[i]->name(), grads[i]);
  } else if (mode == "train") {
    Value* x = nullptr;
    if (options.embedding) {
      nn::Embedding embedding(model, "embedding", options.vocabulary, E);
      x = embedding(model.input("tokens", {T, B}, DType::i32));
    } else {
      x = model.input("x", {T, B, E});
    }
    nn::Recurrent rnn(model, "rnn", config);
    Value* h_n = rnn(x).h_n;  // [1, B, H]
    nn::Linear head(model, "head", H, options.classes);
    Value* logits = head(build::reshape(h_n, {B, H}));
    if (!options.training_step) {
      model.output("logits", logits);
    } else {
      Value* labels = model.input("labels", {B}, DType::i32);
      nn::TrainingConfig training;
      training.optimizer = nn::OptimizerConfig::defaults(nn::OptimizerKind::adagrad);
      training.clip_norm = 5.0;
      nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), training);
    }
  } else {
    throw std::runtime_error("unknown mode '" + mode + "' (infer, fwdbwd, train)");
  }
  return model.release_graph();
}

void generate_inputs(const ir::Graph& graph, uint64_t seed, Bindings& inputs) {
  Rng rng(seed);
  std::map<const Value*, bool> lengths;
  std::map<const Value*, int64_t> bounds = integer_bounds(graph, lengths);
  for (const ir::Node* node : graph.nodes_of(ir::OpKind::Input)) {
    const Value& input = *node->result();
    if (inputs.count(input.name())) continue;
    Tensor tensor(input.type());
    auto bound = bounds.find(&input);
    const bool is_length = lengths.count(&input) > 0;
    const int64_t limit = bound != bounds.end() ? bound->second : 2;
    for (int64_t i = 0; i < tensor.num_elements(); ++i) {
      if (ir::is_float(input.dtype()))
        tensor.set(i, rng.uniform(-1, 1));
      else if (is_length)
        tensor.set(i, static_cast<double>(1 + rng.below(static_cast<uint64_t>(limit - 1))));
      else
        tensor.set(i, static_cast<double>(rng.below(static_cast<uint64_t>(limit))));
    }
    inputs[input.name()] = std::move(tensor);
  }
}

}  // namespace rnnc::bench
