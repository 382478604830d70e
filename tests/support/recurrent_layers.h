#pragma once
#include <memory>
#include <vector>

#include "frontend/recurrent.h"
#include "ir/builder.h"
#include "passes/autodiff.h"
#include "runtime/initializers.h"
#include "tests/support/random_values.h"

namespace rnnc::testlayers {

/// A model, its inputs and its parameters' initial values.
struct Problem {
  std::unique_ptr<nn::Model> model;
  Bindings inputs, state;
};

/// How recurrent_layer builds its graph.
struct LayerShape {
  int64_t steps = 0, batch = 0, input = 0, hidden = 0;
  bool lengths = false;    ///< an i32 lengths input of 3, `steps` and 1 (batch 3)
  bool h_n = false;        ///< the final state as an output too
  bool gradients = false;  ///< a loss and the gradients of every parameter and of x
};

/// A layer of `cell` (f64) over random x, its outputs (and final state) as graph outputs;
/// with gradients, a weighted sum of the outputs and final state(s) as the loss, and the
/// gradients of every parameter and of the input as outputs "d_<name>".
inline Problem recurrent_layer(nn::CellKind cell, const LayerShape& shape) {
  namespace build = ir::build;
  Problem p;
  p.model = std::make_unique<nn::Model>(ir::DType::f64, 3);
  nn::RecurrentConfig config;
  config.cell = cell;
  config.input_size = shape.input;
  config.hidden_size = shape.hidden;
  nn::Recurrent rnn(*p.model, "rnn", config);
  ir::Value* x = p.model->input("x", {shape.steps, shape.batch, shape.input});
  p.inputs["x"] = Tensor::from_doubles(ir::DType::f64, x->shape(),
                                       testrand::random_values(x->type().num_elements(), 5));
  ir::Value* length_input = nullptr;
  if (shape.lengths) {
    length_input = p.model->input("lengths", {shape.batch}, ir::DType::i32);
    p.inputs["lengths"] = Tensor::from_ints({shape.batch}, {3, static_cast<int>(shape.steps), 1});
  }
  nn::RecurrentResult result = rnn(x, length_input);
  ir::Graph& graph = p.model->graph();
  graph.add_output("outputs", result.outputs);
  if (shape.h_n) graph.add_output("h_n", result.h_n);
  if (shape.gradients) {
    ir::Value* loss = build::add(testrand::weighted_sum(graph, result.outputs, 21),
                                 testrand::weighted_sum(graph, result.h_n, 22));
    if (result.c_n) loss = build::add(loss, testrand::weighted_sum(graph, result.c_n, 23));
    std::vector<ir::Value*> wrt = rnn.parameters();
    wrt.push_back(x);
    std::vector<ir::Value*> grads = passes::append_gradients(graph, loss, wrt);
    for (size_t i = 0; i < wrt.size(); ++i) graph.add_output("d_" + wrt[i]->name(), grads[i]);
  }
  p.state = initialize_parameters(graph);
  return p;
}

}  // namespace rnnc::testlayers
