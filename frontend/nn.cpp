#include "frontend/nn.h"

#include <cmath>
#include <cstdio>

#include "ir/builder.h"
#include "ir/error.h"

namespace rnnc::nn {

using ir::Value;
namespace build = ir::build;

int64_t parameter_seed(uint64_t model_seed, int64_t index) {
  // splitmix64 of the pair, as runtime/random.h seeds its generator.
  uint64_t z = model_seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<int64_t>(z & 0x7FFFFFFFFFFFFFFFull);
}

Model::Model(ir::DType dtype, uint64_t seed, std::string graph_name)
    : graph_(std::make_unique<ir::Graph>(std::move(graph_name))), dtype_(dtype), seed_(seed) {
  if (!ir::is_float(dtype))
    throw Error("a model's dtype must be f32 or f64, got " + std::string(ir::dtype_name(dtype)));
}

Value* Model::input(const std::string& name, const ir::Shape& shape,
                    std::optional<ir::DType> dtype) {
  return graph_->add_input(name, {dtype.value_or(dtype_), shape});
}

Value* Model::parameter(const std::string& name, const ir::Shape& shape, const std::string& init) {
  int64_t seed = parameter_seed(seed_, parameters_created_);
  Value* value = graph_->add_parameter(name, {dtype_, shape}, init, seed, "weight");
  ++parameters_created_;
  return value;
}

std::vector<Value*> Model::weights() const { return nn::weights(*graph_); }

std::vector<Value*> weights(const ir::Graph& graph) {
  std::vector<Value*> found;
  for (ir::Node* node : graph.nodes_of(ir::OpKind::Parameter))
    if (node->attrs().get_str("role") == "weight") found.push_back(node->result());
  return found;
}

Linear::Linear(Model& model, const std::string& name, int64_t in_features, int64_t out_features,
               bool bias)
    : name_(name), in_features_(in_features), out_features_(out_features) {
  if (in_features <= 0 || out_features <= 0)
    throw Error("Linear '" + name + "': sizes must be positive, got " +
                std::to_string(in_features) + " -> " + std::to_string(out_features));
  double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  char init[80];
  std::snprintf(init, sizeof init, "uniform:%.17g,%.17g", -bound, bound);
  weight_ = model.parameter(name + ".weight", {in_features, out_features}, init);
  if (bias) bias_ = model.parameter(name + ".bias", {out_features}, init);
}

Value* Linear::operator()(Value* x) const {
  const ir::Shape& shape = x->shape();
  if (shape.empty() || shape.back() != in_features_)
    throw Error("Linear '" + name_ + "': input %" + x->name() + " is " + x->type().to_string() +
                ", expected last dimension " + std::to_string(in_features_));
  int64_t rows = ir::num_elements(shape) / in_features_;
  Value* flat = shape.size() == 2 ? x : build::reshape(x, {rows, in_features_});
  Value* y = build::matmul(flat, weight_);
  if (bias_) y = build::add(y, build::broadcast(bias_, {rows, out_features_}));
  if (shape.size() == 2) return y;
  ir::Shape out_shape = shape;
  out_shape.back() = out_features_;
  return build::reshape(y, out_shape);
}

Value* sigmoid(Value* x) { return build::sigmoid(x); }
Value* tanh(Value* x) { return build::tanh(x); }
Value* relu(Value* x) { return build::relu(x); }

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& what) {
  int64_t normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank)
    throw Error(what + ": axis " + std::to_string(axis) + " out of range for rank " +
                std::to_string(rank));
  return normalized;
}

Value* expand_reduced(Value* reduced, const ir::Shape& shape, int64_t axis) {
  ir::Shape kept = shape;
  kept[axis] = 1;
  return build::broadcast(build::reshape(reduced, kept), shape);
}

namespace {

/// x - max(x) over `axis`, broadcast back: the shifted logits of softmax-like compositions.
Value* shift_by_max(Value* x, int64_t axis) {
  return build::sub(x, expand_reduced(build::reduce_max(x, {axis}), x->shape(), axis));
}

}  // namespace

Value* softmax(Value* x, int64_t axis) {
  axis = normalize_axis(axis, x->type().rank(), "softmax of %" + x->name());
  Value* e = build::exp(shift_by_max(x, axis));
  return build::div(e, expand_reduced(build::reduce_sum(e, {axis}), x->shape(), axis));
}

Value* log_softmax(Value* x, int64_t axis) {
  axis = normalize_axis(axis, x->type().rank(), "log_softmax of %" + x->name());
  Value* shifted = shift_by_max(x, axis);
  Value* log_sum = build::log(build::reduce_sum(build::exp(shifted), {axis}));
  return build::sub(shifted, expand_reduced(log_sum, x->shape(), axis));
}

Sequential& Sequential::then(Layer layer) {
  layers_.push_back(std::move(layer));
  return *this;
}

Value* Sequential::operator()(Value* x) const {
  for (const Layer& layer : layers_) x = layer(x);
  return x;
}

}  // namespace rnnc::nn
