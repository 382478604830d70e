#pragma once
// Shared by the Scan gradient tests (scan_autodiff_test.cpp, scan_autodiff_structure_test.cpp):
// a problem under test with seeded random values, and hand-built recurrent cells whose
// bodies the ScanBuilder makes (a running sum, a vanilla RNN, an LSTM and a GRU).
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "codegen/interp/interpreter.h"
#include "ir/builder.h"
#include "ir/scan_builder.h"

namespace rnnc::scan_test {

using namespace ir;

/// Seeded random values, never zero.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  /// Magnitude in [low, high], either sign.
  std::vector<double> signed_values(int64_t n, double low = 0.2, double high = 1.0) {
    std::vector<double> values(n);
    for (double& v : values) {
      double magnitude = std::uniform_real_distribution<double>(low, high)(engine_);
      v = std::bernoulli_distribution(0.5)(engine_) ? magnitude : -magnitude;
    }
    return values;
  }

 private:
  std::mt19937_64 engine_;
};

inline uint64_t seed_of(const std::string& text) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: stable across platforms
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

/// A graph under test, its input and parameter values, and the values to differentiate.
struct Problem {
  Graph graph;
  Bindings inputs;
  Bindings state;
  std::vector<Value*> wrt;
  Random random{1};

  /// An f64 input that gradients are taken with respect to, with random values.
  Value* wrt_input(const std::string& name, const Shape& shape, double scale = 1.0) {
    std::vector<double> values = random.signed_values(num_elements(shape), 0.2 * scale, scale);
    inputs[name] = Tensor::from_doubles(DType::f64, shape, values);
    Value* value = graph.add_input(name, {DType::f64, shape});
    wrt.push_back(value);
    return value;
  }
  /// An f64 parameter (a weight) that gradients are taken with respect to.
  Value* wrt_parameter(const std::string& name, const Shape& shape, double scale = 0.6) {
    std::vector<double> values = random.signed_values(num_elements(shape), 0.2 * scale, scale);
    state[name] = Tensor::from_doubles(DType::f64, shape, values);
    Value* value = graph.add_parameter(name, {DType::f64, shape}, "zeros");
    wrt.push_back(value);
    return value;
  }
  /// Per-row lengths, an input held fixed.
  Value* lengths(const std::vector<double>& values, const std::string& name = "lengths") {
    Shape shape{static_cast<int64_t>(values.size())};
    inputs[name] = Tensor::from_doubles(DType::i32, shape, values);
    return graph.add_input(name, {DType::i32, shape});
  }
  /// reduce_sum(value * fixed random weights): every element matters, each differently.
  Value* weighted_sum(Value* value) {
    Value* weights = graph.add_constant(
        value->type(), random.signed_values(value->type().num_elements(), 0.5, 1.5));
    std::vector<int64_t> axes(value->shape().size());
    for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
    return build::reduce_sum(build::mul(value, weights), axes);
  }
  double loss_at(const Bindings& inputs_now, const Bindings& state_now) const {
    Bindings state_copy = state_now;
    return interp::run_graph(graph, inputs_now, state_copy).at("loss").get(0);
  }
};

// ---- Cells: each builds its body in the ScanBuilder and returns the per-step output. ----

/// Sizes of a test problem.
struct Sizes {
  int64_t steps = 4, batch = 3, input = 2, hidden = 3;
};

/// What a cell's scan gives the loss: final carries and the stacked per-step output.
struct CellResults {
  std::vector<Value*> finals;
  Value* outputs = nullptr;
};

using Cell =
    std::function<CellResults(Problem&, Value* xs, const Sizes&, bool reverse, Value* lengths)>;

inline Value* row_broadcast(Value* vector, int64_t batch) {
  return build::broadcast(vector, {batch, vector->shape()[0]});
}

inline void finish_scan(ScanBuilder& scan, bool reverse, Value* lengths) {
  scan.set_reverse(reverse);
  if (lengths) scan.set_lengths(lengths);
}

/// s' = s * d + x (elementwise, d invariant), y = s'.
inline CellResults running_sum(Problem& p, Value* xs, const Sizes& n, bool reverse,
                               Value* lengths) {
  Value* s0 = p.wrt_input("s0", {n.batch, n.input});
  Value* decay = p.wrt_parameter("decay", {n.batch, n.input}, 1.0);
  ScanBuilder scan(p.graph, "sum_step");
  Value* s = scan.carry(s0, "s");
  Value* x = scan.sequence(xs, "x");
  Value* d = scan.invariant(decay, "d");
  Value* next = build::add(build::mul(s, d), x);
  scan.set_next(s, next);
  scan.add_output("y", next);
  finish_scan(scan, reverse, lengths);
  std::vector<Value*> results = scan.finish();
  return {{results[0]}, results[1]};
}

/// h' = tanh(x W_x + h W_h + b), y = h'; its values named with `prefix`.
inline CellResults rnn_layer(Problem& p, Value* xs, const Sizes& n, bool reverse, Value* lengths,
                             const std::string& prefix) {
  Value* h0 = p.wrt_input(prefix + "h0", {n.batch, n.hidden});
  Value* w_x = p.wrt_parameter(prefix + "w_x", {n.input, n.hidden});
  Value* w_h = p.wrt_parameter(prefix + "w_h", {n.hidden, n.hidden});
  Value* bias = p.wrt_parameter(prefix + "b", {n.hidden});
  ScanBuilder scan(p.graph, prefix + "rnn_step");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  Value* wx = scan.invariant(w_x, "w_x");
  Value* wh = scan.invariant(w_h, "w_h");
  Value* b = scan.invariant(bias, "b");
  Value* next = build::tanh(build::add(build::add(build::matmul(x, wx), build::matmul(h, wh)),
                                       row_broadcast(b, n.batch)));
  scan.set_next(h, next);
  scan.add_output("y", next);
  finish_scan(scan, reverse, lengths);
  std::vector<Value*> results = scan.finish();
  return {{results[0]}, results[1]};
}

inline CellResults vanilla_rnn(Problem& p, Value* xs, const Sizes& n, bool reverse,
                               Value* lengths) {
  return rnn_layer(p, xs, n, reverse, lengths, "");
}

/// The lecture's LSTM with all gates and peepholes, gates stacked in one [*, 4H] product:
/// i = sigmoid(a_i + w_ci c), f = sigmoid(a_f + w_cf c), c' = f c + i tanh(a_g),
/// o = sigmoid(a_o + w_co c'), h' = o tanh(c'); y = h'.
inline CellResults lstm(Problem& p, Value* xs, const Sizes& n, bool reverse, Value* lengths) {
  const int64_t hid = n.hidden, batch = n.batch;
  Value* h0 = p.wrt_input("h0", {batch, hid});
  Value* c0 = p.wrt_input("c0", {batch, hid});
  Value* w_x = p.wrt_parameter("w_x", {n.input, 4 * hid});
  Value* w_h = p.wrt_parameter("w_h", {hid, 4 * hid});
  Value* bias = p.wrt_parameter("b", {4 * hid});
  Value* w_ci = p.wrt_parameter("w_ci", {hid});
  Value* w_cf = p.wrt_parameter("w_cf", {hid});
  Value* w_co = p.wrt_parameter("w_co", {hid});
  ScanBuilder scan(p.graph, "lstm_step");
  Value* h = scan.carry(h0, "h");
  Value* c = scan.carry(c0, "c");
  Value* x = scan.sequence(xs, "x");
  Value* wx = scan.invariant(w_x, "w_x");
  Value* wh = scan.invariant(w_h, "w_h");
  Value* b = scan.invariant(bias, "b");
  Value* ci = row_broadcast(scan.invariant(w_ci, "w_ci"), batch);
  Value* cf = row_broadcast(scan.invariant(w_cf, "w_cf"), batch);
  Value* co = row_broadcast(scan.invariant(w_co, "w_co"), batch);
  Value* gates =
      build::add(build::add(build::matmul(x, wx), build::matmul(h, wh)), row_broadcast(b, batch));
  auto gate = [&](int64_t k) { return build::slice(gates, {0, k * hid}, {batch, (k + 1) * hid}); };
  Value* i = build::sigmoid(build::add(gate(0), build::mul(ci, c)));
  Value* f = build::sigmoid(build::add(gate(1), build::mul(cf, c)));
  Value* c_next = build::add(build::mul(f, c), build::mul(i, build::tanh(gate(2))));
  Value* o = build::sigmoid(build::add(gate(3), build::mul(co, c_next)));
  Value* h_next = build::mul(o, build::tanh(c_next));
  scan.set_next(h, h_next);
  scan.set_next(c, c_next);
  scan.add_output("y", h_next);
  finish_scan(scan, reverse, lengths);
  std::vector<Value*> results = scan.finish();
  return {{results[0], results[1]}, results[2]};
}

/// The lecture's GRU, the reset gate multiplying h before the product:
/// u = sigmoid(h W_u + x U_u + b_u), r = sigmoid(h W_r + x U_r + b_r),
/// h~ = tanh((r h) W + x U + b), h' = (1 - u) h + u h~; y = h'.
inline CellResults gru(Problem& p, Value* xs, const Sizes& n, bool reverse, Value* lengths) {
  const int64_t hid = n.hidden, batch = n.batch;
  Value* h0 = p.wrt_input("h0", {batch, hid});
  ScanBuilder scan(p.graph, "gru_step");
  Value* h = scan.carry(h0, "h");
  Value* x = scan.sequence(xs, "x");
  auto affine = [&](const std::string& gate, Value* hidden_part) {
    Value* w = scan.invariant(p.wrt_parameter("W_" + gate, {hid, hid}), "W_" + gate);
    Value* u = scan.invariant(p.wrt_parameter("U_" + gate, {n.input, hid}), "U_" + gate);
    Value* b = scan.invariant(p.wrt_parameter("b_" + gate, {hid}), "b_" + gate);
    return build::add(build::add(build::matmul(hidden_part, w), build::matmul(x, u)),
                      row_broadcast(b, batch));
  };
  Value* u = build::sigmoid(affine("u", h));
  Value* r = build::sigmoid(affine("r", h));
  Value* candidate = build::tanh(affine("h", build::mul(r, h)));
  Value* one = build::full_like(u, 1.0);
  Value* next = build::add(build::mul(build::sub(one, u), h), build::mul(u, candidate));
  scan.set_next(h, next);
  scan.add_output("y", next);
  finish_scan(scan, reverse, lengths);
  std::vector<Value*> results = scan.finish();
  return {{results[0]}, results[1]};
}

enum class Loss { FinalCarry, Outputs, Both };

/// Lengths with a row of length 1 and a row of the full length T.
inline std::vector<double> test_lengths(const Sizes& n) {
  std::vector<double> lengths(n.batch);
  for (int64_t b = 0; b < n.batch; ++b)
    lengths[b] = b == 0 ? 1 : b == 1 ? n.steps : std::max<int64_t>(1, (n.steps + 1) / 2);
  return lengths;
}

inline Value* loss_of(Problem& p, const CellResults& results, Loss loss) {
  Value* total = nullptr;
  auto add = [&](Value* term) { total = total ? build::add(total, term) : term; };
  if (loss != Loss::Outputs)
    for (Value* final : results.finals) add(p.weighted_sum(final));
  if (loss != Loss::FinalCarry) add(p.weighted_sum(results.outputs));
  return total;
}

}  // namespace rnnc::scan_test
