// The libraries of the GPU check (gpu_check_models.h).
#include "bench/gpu_check_models.h"

#include <map>
#include <stdexcept>

#include "frontend/losses.h"
#include "frontend/nn.h"
#include "frontend/recurrent.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/parser.h"
#include "passes/autodiff.h"
#include "runtime/random.h"

namespace rnnc::gpu_check {
namespace {

namespace build = ir::build;
using ir::DType;
using ir::Value;

/// The exclusive upper bound of each i32 input's values: the table's rows where a gather reads
/// it as indices, T + 1 (values from 1) where a scan reads it as lengths.
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

/// Declares float input `name` of `shape`.
Value* float_input(nn::Model& model, const std::string& name, const ir::Shape& shape) {
  return model.input(name, shape);
}

}  // namespace

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

CheckModel lecture_model(const std::string& models_dir, const std::string& stem) {
  CheckModel model;
  model.name = stem;
  model.mode = "model";
  model.forward = ir::parse_graph_file(models_dir + "/" + stem + ".forward.rnn");
  model.train = ir::parse_graph_file(models_dir + "/" + stem + ".train.rnn");
  generate_inputs(*model.forward, 1, model.forward_inputs);
  generate_inputs(*model.train, 2, model.train_inputs);
  model.check = true;
  return model;
}

CheckModel benchmark_model(const std::string& cell, const std::string& config,
                           const std::string& mode) {
  CheckModel m;
  size_t at = 0;
  std::vector<std::string> parts;
  for (size_t colon; (colon = config.find(':', at)) != std::string::npos; at = colon + 1)
    parts.push_back(config.substr(at, colon - at));
  parts.push_back(config.substr(at));
  if (parts.size() != 5) throw std::runtime_error("bad configuration '" + config + "'");
  m.config = parts[0];
  m.E = std::stoll(parts[1]);
  m.H = std::stoll(parts[2]);
  m.B = std::stoll(parts[3]);
  m.T = std::stoll(parts[4]);
  m.cell = cell;
  m.mode = mode;
  m.name = cell + "_" + m.config + "_" + mode;
  m.check = m.config == "tiny";
  nn::RecurrentConfig recurrent;
  recurrent.cell = cell == "lstm" ? nn::CellKind::Lstm : nn::CellKind::Gru;
  recurrent.input_size = m.E;
  recurrent.hidden_size = m.H;
  // The graphs of bench/rnnc_rnn.cpp (build_bench), the train mode with its embedding.
  auto build_model = [&](bool training) {
    nn::Model model(DType::f32, 1);
    if (mode == "infer") {
      nn::Recurrent rnn(model, "rnn", recurrent);
      nn::RecurrentResult result = rnn(float_input(model, "x", {m.T, m.B, m.E}));
      model.output("y", result.outputs);
      model.output("h_n", result.h_n);
      if (result.c_n) model.output("c_n", result.c_n);
    } else if (mode == "fwdbwd") {
      nn::Recurrent rnn(model, "rnn", recurrent);
      Value* x = float_input(model, "x", {m.T, m.B, m.E});
      Value* y = rnn(x).outputs;
      Value* dy = float_input(model, "dy", {m.T, m.B, m.H});
      Value* loss = build::reduce_sum(build::mul(y, dy), {0, 1, 2});
      std::vector<Value*> wrt = {x};
      for (Value* parameter : rnn.parameters()) wrt.push_back(parameter);
      std::vector<Value*> grads = passes::append_gradients(model.graph(), loss, wrt);
      model.output("y", y);
      for (size_t i = 0; i < wrt.size(); ++i) model.output("grad_" + wrt[i]->name(), grads[i]);
    } else if (mode == "train") {
      const int64_t vocabulary = 16000, classes = 2;
      nn::Embedding embedding(model, "embedding", vocabulary, m.E);
      Value* tokens = model.input("tokens", {m.T, m.B}, DType::i32);
      nn::Recurrent rnn(model, "rnn", recurrent);
      Value* h_n = rnn(embedding(tokens)).h_n;
      nn::Linear head(model, "head", m.H, classes);
      Value* logits = head(build::reshape(h_n, {m.B, m.H}));
      if (!training) {
        model.output("logits", logits);
      } else {
        Value* labels = model.input("labels", {m.B}, DType::i32);
        nn::TrainingConfig config;
        config.optimizer = nn::OptimizerConfig::defaults(nn::OptimizerKind::adagrad);
        config.clip_norm = 5.0;
        nn::make_training_step(model.graph(), nn::cross_entropy(logits, labels), config);
      }
    } else {
      throw std::runtime_error("unknown mode '" + mode + "' (infer, fwdbwd, train)");
    }
    return model.release_graph();
  };
  m.forward = build_model(false);
  if (mode == "train") m.train = build_model(true);
  generate_inputs(*m.forward, 1, m.forward_inputs);
  if (m.train) generate_inputs(*m.train, 2, m.train_inputs);
  return m;
}

}  // namespace rnnc::gpu_check
