// The lecture's opening claim, measured: in a vanilla RNN the gradient of a loss on the last
// hidden state shrinks geometrically as it flows back in time (vanishing), or, with large
// recurrent weights, grows geometrically (exploding); the LSTM's additive cell update and the
// GRU's interpolation keep a path along which it decays far more slowly.
//
// For a tanh RNN, the lecture's LSTM (input, forget and output gates, peepholes) and the
// lecture's GRU, all of hidden size 16, on the same random input sequences (T = 100, B = 4),
// with loss L = sum(h_T), this computes ||dL/dh_t|| for every step t with rnnc's symbolic
// backward pass (passes/autodiff, a reverse Scan), in float64.
//
// How dL/dh_t becomes an ordinary gradient: the cells are written here with ir::ScanBuilder
// (rnnc::nn::Recurrent keeps h inside its loop), and each step adds a perturbation d_t, an
// input sequence of zeros, to the new hidden state: h_t = cell(h_{t-1}, x_t) + d_t. Since
// d_t enters exactly where h_t leaves the step, dL/dd_t = dL/dh_t (the total derivative,
// through every later step), and the gradient with respect to the input d is the whole
// curve at once. With d = 0 the forward values are those of the plain cell.
//
// Usage: vanishing_gradients [out.svg]   (default ./vanishing_gradients.svg)
// Prints the norms, then `RESULT rnn_ratio=... lstm_ratio=... gru_ratio=...
// exploding_ratio=... exploding_grad_norm=... clipped_grad_norm=... fd_error=...`, where a
// ratio is ||dL/dh_1|| / ||dL/dh_T|| and fd_error the largest relative difference between
// the symbolic gradient and central finite differences. See README.md for what they mean.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "codegen/interp/interpreter.h"
#include "frontend/nn.h"
#include "frontend/optimizers.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/scan_builder.h"
#include "passes/autodiff.h"
#include "runtime/initializers.h"
#include "runtime/random.h"
#include "runtime/svg_chart.h"
#include "runtime/text_file.h"

namespace {

namespace nn = rnnc::nn;
namespace build = rnnc::ir::build;
using rnnc::ir::DType;
using rnnc::ir::Value;

constexpr int64_t kSteps = 100;  // T
constexpr int64_t kBatch = 4;    // B
constexpr int64_t kInput = 8;    // E
constexpr int64_t kHidden = 16;  // H
/// The recurrent weight scale (times PyTorch's default range) of the exploding RNN.
constexpr double kExplodingScale = 6;
constexpr double kClipThreshold = 5;
/// The initial forget-gate bias of the LSTM (the GRU's update gate gets its negative).
constexpr double kGateBias = 1;

enum class Cell { rnn, lstm, gru };

const char* cell_name(Cell cell) {
  switch (cell) {
    case Cell::rnn:
      return "RNN (tanh)";
    case Cell::lstm:
      return "LSTM (i, f, o gates, peepholes)";
    case Cell::gru:
      return "GRU";
  }
  return "";
}

/// What one cell's backward pass gave.
struct Measurement {
  std::vector<double> norms;  ///< ||dL/dh_t|| for t = 1..T (index t - 1)
  double grad_norm = 0;       ///< global norm of the parameters' gradients
  double clipped_norm = 0;    ///< the same after clipping by global norm kClipThreshold
  rnnc::Tensor dh;            ///< dL/dh_t for every t, [T, B, H]
};

/// Builds the cell's parameters in `model` and its step in a scan body.
class CellBuilder {
 public:
  CellBuilder(nn::Model& model, rnnc::ir::ScanBuilder& scan, double recurrent_scale)
      : model_(model), scan_(scan), recurrent_scale_(recurrent_scale) {}

  /// x W_x + h W_h + b with fresh parameters "W_x<gate>" [E, H], "W_h<gate>" [H, H],
  /// "b_<gate>" [H] initialized as PyTorch does (uniform +-1/sqrt(H)); the recurrent matrix
  /// scaled by recurrent_scale, the bias `bias_shift` added.
  Value* affine(const std::string& gate, Value* x, Value* h, double bias_shift = 0) {
    Value* sum = build::add(build::matmul(x, weight("W_x" + gate, kInput, 1)),
                            build::matmul(h, weight("W_h" + gate, kHidden, recurrent_scale_)));
    double bound = 1 / std::sqrt(double(kHidden));
    Value* b = invariant("b_" + gate, {kHidden}, uniform(bias_shift - bound, bias_shift + bound));
    return build::add(sum, build::broadcast(b, {kBatch, kHidden}));
  }
  /// A peephole weight vector [H] times `c` (diagonal, as the lecture's w_c * c).
  Value* peephole(const std::string& gate, Value* c) {
    double bound = 1 / std::sqrt(double(kHidden));
    Value* w = invariant("w_c" + gate, {kHidden}, uniform(-bound, bound));
    return build::mul(build::broadcast(w, {kBatch, kHidden}), c);
  }

 private:
  static std::string uniform(double low, double high) {
    char text[96];
    std::snprintf(text, sizeof text, "uniform:%.17g,%.17g", low, high);
    return text;
  }
  Value* weight(const std::string& name, int64_t rows, double scale) {
    double bound = scale / std::sqrt(double(kHidden));
    return invariant(name, {rows, kHidden}, uniform(-bound, bound));
  }
  Value* invariant(const std::string& name, const rnnc::ir::Shape& shape, const std::string& init) {
    return scan_.invariant(model_.parameter(name, shape, init), name);
  }

  nn::Model& model_;
  rnnc::ir::ScanBuilder& scan_;
  double recurrent_scale_;
};

/// The graph of one cell over the sequence: inputs "x" [T, B, E] and the perturbation "d"
/// [T, B, H]; outputs "dh_norms" [T] (||dL/dd_t|| = ||dL/dh_t||), "grad_norm" and
/// "clipped_norm", and "loss" and "dh" (dL/dd) for the finite-difference check. `gate_bias` shifts
/// the initial bias of the LSTM's forget gate (+) and the GRU's update gate (-).
nn::Model build_graph(Cell cell, double recurrent_scale, double gate_bias) {
  nn::Model model(DType::f64, /*seed=*/5);
  Value* xs = model.input("x", {kSteps, kBatch, kInput});
  Value* ds = model.input("d", {kSteps, kBatch, kHidden});
  Value* zeros = build::full(model.graph(), {DType::f64, {kBatch, kHidden}}, 0);

  rnnc::ir::ScanBuilder scan(model.graph(), "step");
  Value* h = scan.carry(zeros, "h");
  Value* c = cell == Cell::lstm ? scan.carry(zeros, "c") : nullptr;
  Value* x = scan.sequence(xs, "x_t");
  Value* d = scan.sequence(ds, "d_t");
  CellBuilder p(model, scan, recurrent_scale);
  Value* next_h = nullptr;
  switch (cell) {
    case Cell::rnn:  // h' = tanh(W_x x + W_h h + b)
      next_h = build::tanh(p.affine("", x, h));
      break;
    case Cell::lstm: {  // the lecture's LSTM, all gates, peepholes
      // The forget gate's bias starts at +1 (Gers et al. 2000; Jozefowicz et al. 2015), so
      // that the cell begins by mostly keeping its state, as training would make it.
      Value* i = build::sigmoid(build::add(p.affine("i", x, h), p.peephole("i", c)));
      Value* f = build::sigmoid(build::add(p.affine("f", x, h, gate_bias), p.peephole("f", c)));
      Value* candidate = build::tanh(p.affine("c", x, h));
      Value* next_c = build::add(build::mul(f, c), build::mul(i, candidate));
      Value* o = build::sigmoid(build::add(p.affine("o", x, h), p.peephole("o", next_c)));
      next_h = build::mul(o, build::tanh(next_c));
      scan.set_next(c, next_c);
      break;
    }
    case Cell::gru: {  // Cho et al. 2014: h' = (1 - u) h + u h~
      // The update gate's bias starts at -1: the GRU's counterpart of the forget bias.
      Value* u = build::sigmoid(p.affine("u", x, h, -gate_bias));
      Value* r = build::sigmoid(p.affine("r", x, h));
      Value* candidate = build::tanh(p.affine("h", x, build::mul(r, h)));
      Value* keep = build::sub(build::full_like(u, 1), u);
      next_h = build::add(build::mul(keep, h), build::mul(u, candidate));
      break;
    }
  }
  scan.set_next(h, build::add(next_h, d));
  Value* h_last = scan.finish()[0];
  Value* loss = build::reduce_sum(h_last, {0, 1});

  std::vector<Value*> wrt = {ds};
  std::vector<Value*> params = model.weights();
  wrt.insert(wrt.end(), params.begin(), params.end());
  std::vector<Value*> grads = rnnc::passes::append_gradients(model.graph(), loss, wrt);
  Value* dh = grads[0];
  model.output("loss", loss);
  model.output("dh", dh);
  model.output("dh_norms", build::sqrt(build::reduce_sum(build::mul(dh, dh), {1, 2})));

  std::vector<Value*> param_grads(grads.begin() + 1, grads.end());
  nn::ClippedGradients clipped =
      nn::clip_by_global_norm(model.graph(), param_grads, kClipThreshold);
  Value* clipped_squares = nullptr;
  for (Value* g : clipped.grads) {
    std::vector<int64_t> axes(g->type().rank());
    for (size_t a = 0; a < axes.size(); ++a) axes[a] = static_cast<int64_t>(a);
    Value* sum = build::reduce_sum(build::mul(g, g), axes);
    clipped_squares = clipped_squares ? build::add(clipped_squares, sum) : sum;
  }
  model.output("grad_norm", clipped.norm);
  model.output("clipped_norm", build::sqrt(clipped_squares));
  return model;
}

/// The graph's outputs for the inputs `xs` and the perturbation `d` (zeros when empty).
rnnc::Bindings run(Cell cell, const rnnc::Tensor& xs, double recurrent_scale, double gate_bias,
                   rnnc::Tensor d = {}) {
  nn::Model model = build_graph(cell, recurrent_scale, gate_bias);
  rnnc::Bindings state = rnnc::initialize_parameters(model.graph());
  if (d.num_elements() == 0 || d.shape().empty())
    d = rnnc::Tensor(DType::f64, {kSteps, kBatch, kHidden});
  rnnc::Bindings inputs{{"x", xs}, {"d", d}};
  return rnnc::interp::run_graph(model.graph(), inputs, state);
}

Measurement measure(Cell cell, const rnnc::Tensor& xs, double recurrent_scale = 1,
                    double gate_bias = kGateBias) {
  rnnc::Bindings out = run(cell, xs, recurrent_scale, gate_bias);
  Measurement m;
  m.norms = out.at("dh_norms").to_doubles();
  m.grad_norm = out.at("grad_norm").get(0);
  m.clipped_norm = out.at("clipped_norm").get(0);
  m.dh = out.at("dh");
  return m;
}

/// An independent check of the symbolic gradient: the central difference of the loss along
/// the unit direction u = dL/dh_t / ||dL/dh_t|| (a perturbation d of step t only) must equal
/// ||dL/dh_t||. Returns the relative error.
double finite_difference_error(Cell cell, const rnnc::Tensor& xs, const Measurement& m, int64_t t) {
  const double eps = 1e-4;
  const int64_t size = kBatch * kHidden;
  const double norm = m.norms[t - 1];
  double loss[2];
  for (int side = 0; side < 2; ++side) {
    rnnc::Tensor d(DType::f64, {kSteps, kBatch, kHidden});
    for (int64_t i = 0; i < size; ++i)
      d.set((t - 1) * size + i, (side ? -eps : eps) * m.dh.get((t - 1) * size + i) / norm);
    loss[side] = run(cell, xs, 1, kGateBias, d).at("loss").get(0);
  }
  double slope = (loss[0] - loss[1]) / (2 * eps);
  return std::abs(slope - norm) / norm;
}

double ratio(const Measurement& m) { return m.norms.front() / m.norms.back(); }

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 2) throw rnnc::Error("usage: vanishing_gradients [out.svg]");
    std::string svg_path = argc > 1 ? argv[1] : "vanishing_gradients.svg";

    // The same random input sequences for every cell: x ~ N(0, 1).
    rnnc::Tensor xs(DType::f64, {kSteps, kBatch, kInput});
    rnnc::Rng rng(2024);
    for (int64_t i = 0; i < xs.num_elements(); ++i) xs.set(i, rng.normal());

    std::vector<Cell> cells = {Cell::rnn, Cell::lstm, Cell::gru};
    std::vector<Measurement> results;
    for (Cell cell : cells) results.push_back(measure(cell, xs));
    Measurement exploding = measure(Cell::rnn, xs, kExplodingScale);
    // The gated cells with every bias drawn as PyTorch does (no gate starts open).
    Measurement lstm_unbiased = measure(Cell::lstm, xs, 1, 0);
    Measurement gru_unbiased = measure(Cell::gru, xs, 1, 0);

    std::printf("||dL/dh_t|| for L = sum(h_T), T = %lld, B = %lld, H = %lld:\n",
                static_cast<long long>(kSteps), static_cast<long long>(kBatch),
                static_cast<long long>(kHidden));
    std::printf("%5s %12s %12s %12s %14s\n", "t", "RNN", "LSTM", "GRU", "RNN (scale 6)");
    for (int64_t t : {1, 2, 5, 10, 25, 50, 75, 90, 95, 99, 100})
      std::printf("%5lld %12.3e %12.3e %12.3e %14.3e\n", static_cast<long long>(t),
                  results[0].norms[t - 1], results[1].norms[t - 1], results[2].norms[t - 1],
                  exploding.norms[t - 1]);
    for (size_t i = 0; i < cells.size(); ++i)
      std::printf("%-32s ||dL/dh_1|| / ||dL/dh_T|| = %.3e\n", cell_name(cells[i]),
                  ratio(results[i]));
    std::printf(
        "the same with the gate biases unshifted (PyTorch's default init): LSTM %.3e, "
        "GRU %.3e\n",
        ratio(lstm_unbiased), ratio(gru_unbiased));
    std::printf(
        "exploding RNN (recurrent weights x%g): ratio %.3e; global gradient norm %.3e, "
        "after clipping at %g: %.3e\n",
        kExplodingScale, ratio(exploding), exploding.grad_norm, kClipThreshold,
        exploding.clipped_norm);

    // Check the backward pass against finite differences where each curve is well above the
    // rounding noise of the loss.
    double fd_error = std::max({finite_difference_error(Cell::rnn, xs, results[0], 90),
                                finite_difference_error(Cell::lstm, xs, results[1], 50),
                                finite_difference_error(Cell::gru, xs, results[2], 50)});
    std::printf("finite differences agree with the symbolic gradient to a relative %.2e\n",
                fd_error);

    rnnc::svg::LineChart chart;
    chart.title = "||dL/dh_t|| for a loss on h_T (T = 100)";
    chart.x_label = "time step t";
    chart.y_label = "norm (log scale)";
    chart.log_y = true;
    chart.min_x_step = 1;
    const char* colors[] = {"#d62728", "#1f77b4", "#2ca02c"};
    for (size_t i = 0; i < cells.size(); ++i) {
      rnnc::svg::Series series{cell_name(cells[i]), colors[i], {}};
      for (size_t t = 0; t < results[i].norms.size(); ++t)
        series.points.emplace_back(static_cast<double>(t + 1), results[i].norms[t]);
      chart.series.push_back(std::move(series));
    }
    rnnc::write_file_bytes(svg_path, rnnc::svg::line_chart(chart));
    std::printf("wrote %s\n", svg_path.c_str());

    std::printf(
        "RESULT rnn_ratio=%.4e lstm_ratio=%.4e gru_ratio=%.4e exploding_ratio=%.4e "
        "exploding_grad_norm=%.4e clipped_grad_norm=%.4e fd_error=%.2e\n",
        ratio(results[0]), ratio(results[1]), ratio(results[2]), ratio(exploding),
        exploding.grad_norm, exploding.clipped_norm, fd_error);
    return 0;
  } catch (const rnnc::Error& error) {
    std::fprintf(stderr, "vanishing_gradients: %s\n", error.what());
    return 1;
  }
}
