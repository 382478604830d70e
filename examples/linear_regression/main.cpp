// The lecture's first PyTorch program: linear regression by hand. Hours studied x = 1, 2, 3
// gave points y = 2, 4, 6; the model y = x * w starts at w = 1.0 and learns w -> 2 by
// stochastic gradient descent on the squared error, one example at a time. Here the gradient
// is derived by the compiler (the training step is one graph) instead of by hand.
//
// Prints each epoch's w and loss, then `RESULT prediction_4h=... w=...`.
#include <cstdio>

#include "codegen/interp/interpreter.h"
#include "frontend/nn.h"
#include "frontend/training.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "runtime/initializers.h"

namespace {

using rnnc::Bindings;
using rnnc::Tensor;
using rnnc::ir::DType;

/// y = x * w for a batch of `batch` examples of one feature; w starts at 1.0.
rnnc::nn::Model build_model(int64_t batch, rnnc::ir::Value** prediction) {
  rnnc::nn::Model model(DType::f32);
  rnnc::ir::Value* x = model.input("x", {batch, 1});
  rnnc::ir::Value* w = model.parameter("w", {1, 1}, "constant:1");
  *prediction = rnnc::ir::build::matmul(x, w);
  return model;
}

Tensor column(float value) { return Tensor::from_floats({1, 1}, {value}); }

}  // namespace

int main() {
  try {
    const float hours[] = {1, 2, 3};
    const float points[] = {2, 4, 6};

    rnnc::ir::Value* prediction = nullptr;
    rnnc::nn::Model train = build_model(1, &prediction);
    rnnc::ir::Value* loss = rnnc::nn::mse(prediction, train.input("y", {1, 1}));
    rnnc::nn::TrainingConfig config;
    config.optimizer = rnnc::nn::OptimizerConfig::parse("sgd:lr=0.01");
    rnnc::nn::make_training_step(train.graph(), loss, config);

    rnnc::nn::Model forward = build_model(1, &prediction);
    forward.output("prediction", prediction);

    rnnc::interp::Interpreter train_step(train.graph());
    rnnc::interp::Interpreter predict(forward.graph());
    Bindings state = rnnc::initialize_parameters(train.graph());
    auto predict_4h = [&] {
      return predict.run({{"x", column(4)}}, state).at("prediction").get(0);
    };
    std::printf("predict (before training) 4 hours: %.4f\n", predict_4h());

    for (int epoch = 0; epoch < 20; ++epoch) {
      double last_loss = 0;
      for (int i = 0; i < 3; ++i)
        last_loss = train_step.run({{"x", column(hours[i])}, {"y", column(points[i])}}, state)
                        .at("loss")
                        .get(0);
      std::printf("epoch %2d: w = %.6f, loss = %.8f\n", epoch, state.at("w").get(0), last_loss);
    }
    std::printf("predict (after training) 4 hours: %.4f\n", predict_4h());
    std::printf("RESULT prediction_4h=%.6f w=%.6f\n", predict_4h(), state.at("w").get(0));
    return 0;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "linear_regression: %s\n", error.what());
    return 1;
  }
}
