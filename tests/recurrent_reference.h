#pragma once
// A plain-loop reference of rnnc::nn::Recurrent (frontend/recurrent.h) in float64, written
// from the cell formulas alone (no IR): one batch row, one step at a time, as PyTorch's
// packed sequences process them. Used by tests/recurrent_test.cpp.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "frontend/recurrent.h"
#include "runtime/tensor.h"

namespace rnnc::reference {

using Vec = std::vector<double>;

/// 1 / (1 + e^-v).
inline double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

/// W v for W [rows, cols].
inline Vec matvec(const Tensor& w, const Vec& v) {
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  if (cols != static_cast<int64_t>(v.size())) throw std::runtime_error("matvec: width mismatch");
  Vec out(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[r] += w.get(r * cols + c) * v[c];
  return out;
}

/// a + b elementwise.
inline Vec plus(Vec a, const Vec& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

/// One layer-direction's parameter values, by short name ("weight_ih", "W_xi", ...).
class Params {
 public:
  Params(const Bindings& values, std::string layer_name, int64_t layer, bool reverse)
      : values_(values),
        suffix_("_l" + std::to_string(layer) + (reverse ? "_reverse" : "")),
        prefix_(std::move(layer_name) + ".") {}

  /// The parameter, or null when the layer has none of that name.
  const Tensor* find(const std::string& short_name) const {
    auto found = values_.find(prefix_ + short_name + suffix_);
    return found == values_.end() ? nullptr : &found->second;
  }
  /// The parameter; a missing one is a bug of the reference or of the layout.
  const Tensor& get(const std::string& short_name) const {
    const Tensor* tensor = find(short_name);
    if (!tensor) throw std::runtime_error("reference: no parameter " + short_name + suffix_);
    return *tensor;
  }
  /// The parameter's values, or `size` zeros when absent (a bias without bias, a peephole
  /// without peepholes).
  Vec values_or_zeros(const std::string& short_name, size_t size) const {
    const Tensor* tensor = find(short_name);
    return tensor ? tensor->to_doubles() : Vec(size, 0.0);
  }

 private:
  const Bindings& values_;
  std::string suffix_, prefix_;
};

/// The state of one batch row.
struct State {
  Vec h, c;
};

/// torch.nn.RNN: act(W_ih x + b_ih + W_hh h + b_hh).
inline State rnn(const Params& p, const Vec& x, const State& s, bool relu) {
  const size_t hidden = s.h.size();
  Vec pre = plus(plus(matvec(p.get("weight_ih"), x), p.values_or_zeros("bias_ih", hidden)),
                 plus(matvec(p.get("weight_hh"), s.h), p.values_or_zeros("bias_hh", hidden)));
  for (double& v : pre) v = relu ? std::max(v, 0.0) : std::tanh(v);
  return {pre, {}};
}

/// torch.nn.LSTM, gates i, f, g, o stacked in that order.
inline State lstm(const Params& p, const Vec& x, const State& s) {
  const size_t hidden = s.h.size();
  Vec pre = plus(plus(matvec(p.get("weight_ih"), x), p.values_or_zeros("bias_ih", 4 * hidden)),
                 plus(matvec(p.get("weight_hh"), s.h), p.values_or_zeros("bias_hh", 4 * hidden)));
  State next{Vec(hidden), Vec(hidden)};
  for (size_t j = 0; j < hidden; ++j) {
    double i = sigmoid(pre[j]), f = sigmoid(pre[hidden + j]), g = std::tanh(pre[2 * hidden + j]);
    double o = sigmoid(pre[3 * hidden + j]);
    next.c[j] = f * s.c[j] + i * g;
    next.h[j] = o * std::tanh(next.c[j]);
  }
  return next;
}

/// torch.nn.GRU, r, z, n; the reset gate multiplies W_hn h + b_hn.
inline State gru(const Params& p, const Vec& x, const State& s) {
  const size_t hidden = s.h.size();
  Vec gi = plus(matvec(p.get("weight_ih"), x), p.values_or_zeros("bias_ih", 3 * hidden));
  Vec gh = plus(matvec(p.get("weight_hh"), s.h), p.values_or_zeros("bias_hh", 3 * hidden));
  State next{Vec(hidden), {}};
  for (size_t j = 0; j < hidden; ++j) {
    double r = sigmoid(gi[j] + gh[j]);
    double z = sigmoid(gi[hidden + j] + gh[hidden + j]);
    double n = std::tanh(gi[2 * hidden + j] + r * gh[2 * hidden + j]);
    next.h[j] = (1 - z) * n + z * s.h[j];
  }
  return next;
}

/// The lecture's LSTM; an absent gate is 1, an absent peephole 0.
inline State lecture_lstm(const Params& p, const Vec& x, const State& s,
                          const nn::LstmGates& gates) {
  const size_t hidden = s.h.size();
  auto pre = [&](const std::string& g) {
    return plus(plus(matvec(p.get("W_x" + g), x), matvec(p.get("W_h" + g), s.h)),
                p.values_or_zeros("b_" + g, hidden));
  };
  Vec pre_c = pre("c");
  Vec pre_i = gates.input ? pre("i") : Vec(), pre_f = gates.forget ? pre("f") : Vec();
  Vec pre_o = gates.output ? pre("o") : Vec();
  Vec w_ci = p.values_or_zeros("w_ci", hidden), w_cf = p.values_or_zeros("w_cf", hidden);
  Vec w_co = p.values_or_zeros("w_co", hidden);
  State next{Vec(hidden), Vec(hidden)};
  for (size_t j = 0; j < hidden; ++j) {
    double i = gates.input ? sigmoid(pre_i[j] + w_ci[j] * s.c[j]) : 1.0;
    double f = gates.forget ? sigmoid(pre_f[j] + w_cf[j] * s.c[j]) : 1.0;
    next.c[j] = f * s.c[j] + i * std::tanh(pre_c[j]);
    double o = gates.output ? sigmoid(pre_o[j] + w_co[j] * next.c[j]) : 1.0;
    next.h[j] = o * std::tanh(next.c[j]);
  }
  return next;
}

/// The lecture's GRU: reset before the recurrent product.
inline State lecture_gru(const Params& p, const Vec& x, const State& s) {
  const size_t hidden = s.h.size();
  auto pre = [&](const std::string& g, const Vec& recurrent) {
    return plus(plus(matvec(p.get("W_" + g), recurrent), matvec(p.get("U_" + g), x)),
                p.values_or_zeros("b_" + g, hidden));
  };
  Vec pre_u = pre("u", s.h), pre_r = pre("r", s.h);
  Vec reset_h(hidden);
  for (size_t j = 0; j < hidden; ++j) reset_h[j] = sigmoid(pre_r[j]) * s.h[j];
  Vec pre_h = pre("h", reset_h);
  State next{Vec(hidden), {}};
  for (size_t j = 0; j < hidden; ++j) {
    double u = sigmoid(pre_u[j]);
    next.h[j] = (1 - u) * s.h[j] + u * std::tanh(pre_h[j]);
  }
  return next;
}

/// One step of `config.cell` for one batch row.
inline State step(const nn::RecurrentConfig& config, const Params& p, const Vec& x,
                  const State& s) {
  switch (config.cell) {
    case nn::CellKind::RnnTanh:
      return rnn(p, x, s, false);
    case nn::CellKind::RnnRelu:
      return rnn(p, x, s, true);
    case nn::CellKind::Lstm:
      return lstm(p, x, s);
    case nn::CellKind::Gru:
      return gru(p, x, s);
    case nn::CellKind::LectureLstm:
      return lecture_lstm(p, x, s, config.gates);
    case nn::CellKind::LectureGru:
      return lecture_gru(p, x, s);
  }
  return s;
}

/// What the reference computes: outputs [T, B, D*H], h_n and c_n [L*D, B, H].
struct Result {
  Tensor outputs, h_n, c_n;
};

/// The whole stack for inputs [T, B, in]; `lengths` empty means every row runs T steps;
/// h0 and c0 may be null (zeros).
inline Result run(const nn::RecurrentConfig& config, const std::string& name,
                  const Bindings& params, const Tensor& inputs, const std::vector<int>& lengths,
                  const Tensor* h0, const Tensor* c0) {
  const int64_t steps = inputs.shape()[0], batch = inputs.shape()[1];
  const int64_t hidden = config.hidden_size, directions = config.bidirectional ? 2 : 1;
  const int64_t slots = config.num_layers * directions;
  const bool has_c = config.cell == nn::CellKind::Lstm || config.cell == nn::CellKind::LectureLstm;
  // layer_in[t * batch + b]: the current layer's input vector.
  std::vector<Vec> layer_in(steps * batch);
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t k = 0; k < inputs.shape()[2]; ++k)
        layer_in[t * batch + b].push_back(inputs.get((t * batch + b) * inputs.shape()[2] + k));
  Result result{Tensor(DType::f64, {steps, batch, directions * hidden}),
                Tensor(DType::f64, {slots, batch, hidden}),
                Tensor(DType::f64, {slots, batch, hidden})};
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    std::vector<Vec> layer_out(steps * batch, Vec(directions * hidden, 0.0));
    for (int64_t d = 0; d < directions; ++d) {
      const int64_t slot = layer * directions + d;
      Params p(params, name, layer, d == 1);
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t length = lengths.empty() ? steps : lengths[b];
        State s{Vec(hidden, 0.0), Vec(hidden, 0.0)};
        for (int64_t j = 0; j < hidden; ++j) {
          if (h0) s.h[j] = h0->get((slot * batch + b) * hidden + j);
          if (c0) s.c[j] = c0->get((slot * batch + b) * hidden + j);
        }
        for (int64_t n = 0; n < length; ++n) {
          const int64_t t = d == 1 ? length - 1 - n : n;
          s = step(config, p, layer_in[t * batch + b], s);
          for (int64_t j = 0; j < hidden; ++j) layer_out[t * batch + b][d * hidden + j] = s.h[j];
        }
        for (int64_t j = 0; j < hidden; ++j) {
          result.h_n.set((slot * batch + b) * hidden + j, s.h[j]);
          if (has_c) result.c_n.set((slot * batch + b) * hidden + j, s.c[j]);
        }
      }
    }
    if (config.residual && layer > 0)
      for (size_t i = 0; i < layer_out.size(); ++i) layer_out[i] = plus(layer_out[i], layer_in[i]);
    layer_in = std::move(layer_out);
  }
  for (int64_t i = 0; i < steps * batch; ++i)
    for (int64_t k = 0; k < directions * hidden; ++k)
      result.outputs.set(i * directions * hidden + k, layer_in[i][k]);
  return result;
}

}  // namespace rnnc::reference
