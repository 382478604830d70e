#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontend/losses.h"
#include "ir/graph.h"

/// The model-building API, in the spirit of PyTorch's torch.nn: a Model holds the graph under
/// construction; layers add parameters to it and, when called on a value, append the
/// primitives that compute their output. Losses and metrics are in frontend/losses.h (included
/// here). Nothing is computed while building: the result is an ir::Graph that a backend runs.
namespace rnnc::nn {

/// A graph under construction plus what building it needs: the float dtype of inputs and
/// parameters (f32 by default; f64 for gradient checks) and a base seed from which every
/// parameter gets its own deterministic seed attribute. Building the same model twice (a
/// training graph and an evaluation graph, say) gives parameters of equal names, types, inits
/// and seeds, so one set of bindings serves both graphs.
class Model {
 public:
  /// An empty model whose graph is named `graph_name`.
  explicit Model(ir::DType dtype = ir::DType::f32, uint64_t seed = 0,
                 std::string graph_name = "main");

  /// The graph built so far (owned by the model; its address never changes, also when the
  /// model is moved).
  ir::Graph& graph() { return *graph_; }
  const ir::Graph& graph() const { return *graph_; }
  /// The float dtype of parameters and of inputs declared without one.
  ir::DType dtype() const { return dtype_; }
  /// The base seed of parameter initialization.
  uint64_t seed() const { return seed_; }

  /// A graph input named `name` of `shape` and `dtype` (the model's dtype when absent; pass
  /// i32 for labels and token ids). Throws rnnc::Error when the name is taken or invalid.
  ir::Value* input(const std::string& name, const ir::Shape& shape,
                   std::optional<ir::DType> dtype = std::nullopt);
  /// A trainable parameter (role "weight") of the model's dtype, initialized by `init` (a spec
  /// of runtime/initializers.h: "zeros", "constant:V", "uniform:LOW,HIGH", ...) with a seed
  /// derived from the model's seed and the number of parameters created before it.
  ir::Value* parameter(const std::string& name, const ir::Shape& shape, const std::string& init);
  /// Marks `value` as graph output `name`.
  void output(const std::string& name, ir::Value* value) { graph_->add_output(name, value); }
  /// The trainable parameters of the graph, in creation order (see nn::weights).
  std::vector<ir::Value*> weights() const;
  /// Hands the finished graph to the caller; the model must not be used afterwards.
  std::unique_ptr<ir::Graph> release_graph() { return std::move(graph_); }

 private:
  std::unique_ptr<ir::Graph> graph_;
  ir::DType dtype_;
  uint64_t seed_;
  int64_t parameters_created_ = 0;
};

/// The seed attribute of the `index`-th parameter of a model seeded with `model_seed`: a
/// splitmix64 hash of both, non-negative (it is stored as an int64 attribute).
int64_t parameter_seed(uint64_t model_seed, int64_t index);

/// Every Parameter of `graph` whose role is "weight" (not optimizer state), in graph order:
/// what training differentiates and updates by default.
std::vector<ir::Value*> weights(const ir::Graph& graph);

/// A fully connected layer, as torch.nn.Linear but with the weight stored [in, out] so that
/// y = x W + b needs no transpose. x may have any rank >= 1 with last dimension `in`; the
/// result has the same leading dimensions and last dimension `out`. Both weight and bias are
/// initialized as PyTorch does by default: uniform(-1/sqrt(in), 1/sqrt(in)).
class Linear {
 public:
  /// Creates parameters "<name>.weight" [in, out] and, when `bias`, "<name>.bias" [out].
  Linear(Model& model, const std::string& name, int64_t in_features, int64_t out_features,
         bool bias = true);
  /// Appends x W (+ b, broadcast explicitly) to x's graph. Throws rnnc::Error when x's last
  /// dimension is not `in_features`.
  ir::Value* operator()(ir::Value* x) const;

  ir::Value* weight() const { return weight_; }
  /// Null when the layer has no bias.
  ir::Value* bias() const { return bias_; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

 private:
  std::string name_;
  int64_t in_features_;
  int64_t out_features_;
  ir::Value* weight_;
  ir::Value* bias_ = nullptr;
};

/// Elementwise activations (thin names for the IR primitives, usable as Sequential layers).
ir::Value* sigmoid(ir::Value* x);
ir::Value* tanh(ir::Value* x);
ir::Value* relu(ir::Value* x);

/// softmax over `axis` (negative counts from the end), computed as exp(x - max) / sum so that
/// large logits do not overflow.
ir::Value* softmax(ir::Value* x, int64_t axis = -1);
/// log(softmax(x)) over `axis`, computed stably as (x - max) - log(sum(exp(x - max))).
ir::Value* log_softmax(ir::Value* x, int64_t axis = -1);

/// Layers applied one after another, as torch.nn.Sequential. A layer is anything callable on
/// a value: a Linear, an activation function, a lambda.
class Sequential {
 public:
  using Layer = std::function<ir::Value*(ir::Value*)>;

  Sequential() = default;
  /// The layers in the order they are applied.
  Sequential(std::vector<Layer> layers) : layers_(std::move(layers)) {}
  /// Appends a layer; returns *this for chaining.
  Sequential& then(Layer layer);
  /// Applies every layer in order.
  ir::Value* operator()(ir::Value* x) const;
  size_t size() const { return layers_.size(); }

 private:
  std::vector<Layer> layers_;
};

/// The axis `axis` of a value of rank `rank`, negative values counting from the end. Throws
/// rnnc::Error naming `what` when it is out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& what);

/// `reduced` (the result of reducing a value of shape `shape` over `axis`) broadcast back to
/// `shape`: the keep-dims form that softmax-like compositions subtract or divide by.
ir::Value* expand_reduced(ir::Value* reduced, const ir::Shape& shape, int64_t axis);

}  // namespace rnnc::nn
