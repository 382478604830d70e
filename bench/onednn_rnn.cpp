// oneDNN's fused recurrent primitives as a benchmark anchor: vanilla_lstm (PyTorch's LSTM)
// and lbr_gru (PyTorch's GRU), one unidirectional layer, f32, zero initial state.
//
// Modes:
//   infer   forward_inference over the whole sequence (weights reordered once, outside the
//           timed call, as a deployed model holds them).
//   fwdbwd  forward_training then backward of an upstream gradient on every output: the
//           gradients of the input, the weights and the biases. Each call reorders the user's
//           weights (ldigo) into the primitives' formats, zeroes the weight gradients (oneDNN
//           accumulates into them) and reorders them back to ldigo, as a training framework
//           holding plain weights must.
//
// Before timing, the harness checks both primitives once on a small configuration against a
// naive double-precision cell (forward outputs) and central finite differences of it
// (every gradient), and prints the result as a JSON "check" line; a failed check exits 1.
//
// Usage: onednn_rnn [--config NAME:E:H:B:T]... [--cell lstm,gru] [--mode infer,fwdbwd]
//                   [--min-time S] [--threads LABEL] [--check-only]
// Threads come from OMP_NUM_THREADS (bench/run sets it with OMP_PROC_BIND=close and
// OMP_PLACES=cores). Prints one JSON line per figure (bench/harness.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>
#include <stdexcept>
#include <vector>
#include <xmmintrin.h>

#include "bench/harness.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace {

using namespace rnnc::bench;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

/// Gates in the weights (4 for the LSTM's i, f, c~, o; 3 for the GRU's u, r, o) and in the
/// bias (the linear-before-reset GRU has a fourth: the recurrent bias of the candidate).
struct CellShape {
  bool lstm;
  int64_t gates;
  int64_t bias_gates;
};

CellShape cell_shape(const std::string& cell) {
  return cell == "lstm" ? CellShape{true, 4, 4} : CellShape{false, 3, 4};
}

memory::desc plain(const memory::dims& dims, tag format) { return {dims, dt::f32, format}; }

/// The forward and backward primitives of one cell and configuration, with their memories.
/// User-facing tensors are plain: src/dst [T, B, *] (tnc), weights [1, 1, in, G, H] (ldigo),
/// bias [1, 1, Gb, H] (ldgo).
class Layer {
 public:
  Layer(dnnl::engine& engine, const std::string& cell, const Config& config)
      : engine_(engine), stream_(engine), shape_(cell_shape(cell)) {
    const int64_t T = config.steps, B = config.batch, E = config.input, H = config.hidden;
    const memory::desc none;
    // Zero initial states (and their gradients) are passed explicitly: without src_iter,
    // oneDNN 2.6.3's LSTM backward gave a wrong weights_iter gradient (nonzero even for
    // T = 1), which the check below caught.
    const memory::desc iter_md = plain({1, 1, B, H}, tag::ldnc);
    initial_h_ = memory(iter_md, engine_);
    initial_c_ = memory(iter_md, engine_);
    diff_initial_h_ = memory(iter_md, engine_);
    diff_initial_c_ = memory(iter_md, engine_);
    for (memory* m : {&initial_h_, &initial_c_})
      std::memset(m->get_data_handle(), 0, iter_md.get_size());
    src_md_ = plain({T, B, E}, tag::tnc);
    dst_md_ = plain({T, B, H}, tag::tnc);
    wl_md_ = plain({1, 1, E, shape_.gates, H}, tag::ldigo);
    wi_md_ = plain({1, 1, H, shape_.gates, H}, tag::ldigo);
    bias_md_ = plain({1, 1, shape_.bias_gates, H}, tag::ldgo);
    const memory::desc wl_any = memory::desc({1, 1, E, shape_.gates, H}, dt::f32, tag::any);
    const memory::desc wi_any = memory::desc({1, 1, H, shape_.gates, H}, dt::f32, tag::any);
    const auto direction = dnnl::rnn_direction::unidirectional_left2right;
    const auto inference = dnnl::prop_kind::forward_inference;
    const auto training = dnnl::prop_kind::forward_training;
    const auto backward = dnnl::prop_kind::backward;
    if (shape_.lstm) {
      using fwd = dnnl::lstm_forward;
      using bwd = dnnl::lstm_backward;
      fwd::primitive_desc infer_pd(fwd::desc(inference, direction, src_md_, iter_md, iter_md,
                                             wl_any, wi_any, bias_md_, dst_md_, none, none),
                                   engine_);
      fwd::primitive_desc train_pd(fwd::desc(training, direction, src_md_, iter_md, iter_md, wl_any,
                                             wi_any, bias_md_, dst_md_, none, none),
                                   engine_);
      bwd::primitive_desc back_pd(bwd::desc(backward, direction, src_md_, iter_md, iter_md, wl_any,
                                            wi_any, bias_md_, dst_md_, none, none, src_md_, iter_md,
                                            iter_md, wl_any, wi_any, bias_md_, dst_md_, none, none),
                                  engine_, train_pd);
      infer_ = fwd(infer_pd), train_ = fwd(train_pd), back_ = bwd(back_pd);
      infer_pd_ = infer_pd, train_pd_ = train_pd, back_pd_ = back_pd;
    } else {
      using fwd = dnnl::lbr_gru_forward;
      using bwd = dnnl::lbr_gru_backward;
      fwd::primitive_desc infer_pd(fwd::desc(inference, direction, src_md_, iter_md, wl_any, wi_any,
                                             bias_md_, dst_md_, none),
                                   engine_);
      fwd::primitive_desc train_pd(
          fwd::desc(training, direction, src_md_, iter_md, wl_any, wi_any, bias_md_, dst_md_, none),
          engine_);
      bwd::primitive_desc back_pd(
          bwd::desc(backward, direction, src_md_, iter_md, wl_any, wi_any, bias_md_, dst_md_, none,
                    src_md_, iter_md, wl_any, wi_any, bias_md_, dst_md_, none),
          engine_, train_pd);
      infer_ = fwd(infer_pd), train_ = fwd(train_pd), back_ = bwd(back_pd);
      infer_pd_ = infer_pd, train_pd_ = train_pd, back_pd_ = back_pd;
    }
    for (memory::desc md :
         {src_md_, wl_md_, wi_md_, bias_md_, dst_md_, dst_md_, src_md_, wl_md_, wi_md_, bias_md_})
      user_.emplace_back(md, engine_);
    infer_wl_ = memory(infer_pd_.weights_layer_desc(), engine_);
    infer_wi_ = memory(infer_pd_.weights_iter_desc(), engine_);
    train_wl_ = memory(train_pd_.weights_layer_desc(), engine_);
    train_wi_ = memory(train_pd_.weights_iter_desc(), engine_);
    back_wl_ = memory(back_pd_.weights_layer_desc(), engine_);
    back_wi_ = memory(back_pd_.weights_iter_desc(), engine_);
    diff_wl_ = memory(back_pd_.diff_weights_layer_desc(), engine_);
    diff_wi_ = memory(back_pd_.diff_weights_iter_desc(), engine_);
    workspace_ = memory(train_pd_.workspace_desc(), engine_);
  }

  /// The plain user tensors, by role.
  enum Role {
    kSrc,
    kWeightsLayer,
    kWeightsIter,
    kBias,
    kDst,
    kDiffDst,
    kDiffSrc,
    kDiffWeightsLayer,
    kDiffWeightsIter,
    kDiffBias,
    kRoles
  };
  float* data(Role role) { return static_cast<float*>(user_[role].get_data_handle()); }
  size_t size(Role role) const { return user_[role].get_desc().get_size() / sizeof(float); }

  /// Reorders the user's weights into the inference primitive's format (once).
  void prepare_inference() {
    copy(user_[kWeightsLayer], infer_wl_);
    copy(user_[kWeightsIter], infer_wi_);
    stream_.wait();
  }

  /// One inference call over the sequence: src -> dst.
  void infer() {
    infer_.execute(stream_, {{DNNL_ARG_SRC_LAYER, user_[kSrc]},
                             {DNNL_ARG_SRC_ITER, initial_h_},
                             {DNNL_ARG_SRC_ITER_C, initial_c_},
                             {DNNL_ARG_WEIGHTS_LAYER, infer_wl_},
                             {DNNL_ARG_WEIGHTS_ITER, infer_wi_},
                             {DNNL_ARG_BIAS, user_[kBias]},
                             {DNNL_ARG_DST_LAYER, user_[kDst]}});
    stream_.wait();
  }

  /// One forward-training plus backward call: src, diff_dst -> dst, diff_src, diff weights
  /// and diff bias (plain formats).
  void forward_backward() {
    copy(user_[kWeightsLayer], train_wl_);
    copy(user_[kWeightsIter], train_wi_);
    train_.execute(stream_, {{DNNL_ARG_SRC_LAYER, user_[kSrc]},
                             {DNNL_ARG_SRC_ITER, initial_h_},
                             {DNNL_ARG_SRC_ITER_C, initial_c_},
                             {DNNL_ARG_WEIGHTS_LAYER, train_wl_},
                             {DNNL_ARG_WEIGHTS_ITER, train_wi_},
                             {DNNL_ARG_BIAS, user_[kBias]},
                             {DNNL_ARG_DST_LAYER, user_[kDst]},
                             {DNNL_ARG_WORKSPACE, workspace_}});
    copy(user_[kWeightsLayer], back_wl_);
    copy(user_[kWeightsIter], back_wi_);
    stream_.wait();
    for (memory* m : {&diff_wl_, &diff_wi_, &user_[kDiffBias]})
      std::memset(m->get_data_handle(), 0, m->get_desc().get_size());
    back_.execute(stream_, {{DNNL_ARG_SRC_LAYER, user_[kSrc]},
                            {DNNL_ARG_SRC_ITER, initial_h_},
                            {DNNL_ARG_SRC_ITER_C, initial_c_},
                            {DNNL_ARG_WEIGHTS_LAYER, back_wl_},
                            {DNNL_ARG_WEIGHTS_ITER, back_wi_},
                            {DNNL_ARG_BIAS, user_[kBias]},
                            {DNNL_ARG_DST_LAYER, user_[kDst]},
                            {DNNL_ARG_DIFF_DST_LAYER, user_[kDiffDst]},
                            {DNNL_ARG_WORKSPACE, workspace_},
                            {DNNL_ARG_DIFF_SRC_LAYER, user_[kDiffSrc]},
                            {DNNL_ARG_DIFF_SRC_ITER, diff_initial_h_},
                            {DNNL_ARG_DIFF_SRC_ITER_C, diff_initial_c_},
                            {DNNL_ARG_DIFF_WEIGHTS_LAYER, diff_wl_},
                            {DNNL_ARG_DIFF_WEIGHTS_ITER, diff_wi_},
                            {DNNL_ARG_DIFF_BIAS, user_[kDiffBias]}});
    copy(diff_wl_, user_[kDiffWeightsLayer]);
    copy(diff_wi_, user_[kDiffWeightsIter]);
    stream_.wait();
  }

 private:
  /// Reorders `from` into `to`, or copies when the formats agree (both in this engine).
  void copy(memory& from, memory& to) {
    if (from.get_desc() == to.get_desc()) {
      if (from.get_data_handle() != to.get_data_handle())
        std::memcpy(to.get_data_handle(), from.get_data_handle(), from.get_desc().get_size());
      return;
    }
    dnnl::reorder(from, to).execute(stream_, from, to);
  }

  dnnl::engine& engine_;
  dnnl::stream stream_;
  CellShape shape_;
  memory::desc src_md_, dst_md_, wl_md_, wi_md_, bias_md_;
  dnnl::primitive infer_, train_, back_;
  dnnl::rnn_primitive_desc_base infer_pd_, train_pd_, back_pd_;
  std::vector<memory> user_;
  memory infer_wl_, infer_wi_, train_wl_, train_wi_, back_wl_, back_wi_, diff_wl_, diff_wi_;
  memory workspace_;
  /// Zero initial hidden and (LSTM) cell states.
  memory initial_h_, initial_c_;
  /// Their gradients (computed by the backward primitive, unused).
  memory diff_initial_h_, diff_initial_c_;
};

/// Fills `values` uniformly in [-scale, scale].
void fill(float* values, size_t count, std::mt19937_64& engine, float scale) {
  std::uniform_real_distribution<float> uniform(-scale, scale);
  for (size_t i = 0; i < count; ++i) values[i] = uniform(engine);
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

/// The naive cell in double precision, in oneDNN's layouts and gate orders (LSTM: i, f, c~, o;
/// linear-before-reset GRU: u, r, o with the candidate's recurrent bias as fourth bias gate).
/// Returns dst [T, B, H] for src [T, B, E], zero initial state.
std::vector<double> reference_forward(const CellShape& cell, const Config& c,
                                      const std::vector<double>& src, const std::vector<double>& wl,
                                      const std::vector<double>& wi,
                                      const std::vector<double>& bias) {
  const int64_t E = c.input, H = c.hidden, B = c.batch, G = cell.gates;
  std::vector<double> h(B * H, 0.0), cstate(B * H, 0.0), dst(c.steps * B * H);
  std::vector<double> ax(G * H), ah(G * H);
  for (int64_t t = 0; t < c.steps; ++t) {
    std::vector<double> next(B * H);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t gh = 0; gh < G * H; ++gh) {
        ax[gh] = 0, ah[gh] = 0;
        for (int64_t e = 0; e < E; ++e) ax[gh] += src[(t * B + b) * E + e] * wl[e * G * H + gh];
        for (int64_t k = 0; k < H; ++k) ah[gh] += h[b * H + k] * wi[k * G * H + gh];
      }
      for (int64_t j = 0; j < H; ++j) {
        auto pre = [&](int64_t g) { return ax[g * H + j] + ah[g * H + j] + bias[g * H + j]; };
        const double hp = h[b * H + j];
        double out;
        if (cell.lstm) {
          const double cn =
              sigmoid(pre(1)) * cstate[b * H + j] + sigmoid(pre(0)) * std::tanh(pre(2));
          cstate[b * H + j] = cn;
          out = sigmoid(pre(3)) * std::tanh(cn);
        } else {
          const double u = sigmoid(pre(0)), r = sigmoid(pre(1));
          const double o =
              std::tanh(ax[2 * H + j] + bias[2 * H + j] + r * (ah[2 * H + j] + bias[3 * H + j]));
          out = u * hp + (1 - u) * o;
        }
        next[b * H + j] = out;
        dst[(t * B + b) * H + j] = out;
      }
    }
    h = next;
  }
  return dst;
}

/// Checks oneDNN's inference output, training output and every gradient of one cell against
/// the naive cell and its central finite differences; returns true when all agree.
bool check_cell(dnnl::engine& engine, const std::string& cell) {
  const Config config{"check", 5, 4, 3, 4};
  const CellShape shape = cell_shape(cell);
  Layer layer(engine, cell, config);
  std::mt19937_64 random(7);
  for (Layer::Role role :
       {Layer::kSrc, Layer::kWeightsLayer, Layer::kWeightsIter, Layer::kBias, Layer::kDiffDst})
    fill(layer.data(role), layer.size(role), random, 0.8f);
  auto as_doubles = [&](Layer::Role role) {
    return std::vector<double>(layer.data(role), layer.data(role) + layer.size(role));
  };
  std::vector<double> src = as_doubles(Layer::kSrc), wl = as_doubles(Layer::kWeightsLayer);
  std::vector<double> wi = as_doubles(Layer::kWeightsIter), bias = as_doubles(Layer::kBias);
  const std::vector<double> diff_dst = as_doubles(Layer::kDiffDst);
  const std::vector<double> expected = reference_forward(shape, config, src, wl, wi, bias);

  auto max_error = [](const float* got, const std::vector<double>& want) {
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i])));
    return worst;
  };
  const double tolerance = 1e-4;
  bool ok = true;
  auto report = [&](const std::string& what, double error) {
    print_check("onednn", cell + " " + what, error <= tolerance, error);
    ok = ok && error <= tolerance;
  };
  layer.prepare_inference();
  layer.infer();
  report("inference output", max_error(layer.data(Layer::kDst), expected));
  layer.forward_backward();
  report("training output", max_error(layer.data(Layer::kDst), expected));

  // d(sum(dst * diff_dst)) / d(each element), by central differences of the reference.
  auto loss = [&]() {
    const std::vector<double> dst = reference_forward(shape, config, src, wl, wi, bias);
    double sum = 0;
    for (size_t i = 0; i < dst.size(); ++i) sum += dst[i] * diff_dst[i];
    return sum;
  };
  auto numeric_gradient = [&](std::vector<double>& values) {
    std::vector<double> gradient(values.size());
    const double step = 1e-6;
    for (size_t i = 0; i < values.size(); ++i) {
      const double saved = values[i];
      values[i] = saved + step;
      const double up = loss();
      values[i] = saved - step;
      const double down = loss();
      values[i] = saved;
      gradient[i] = (up - down) / (2 * step);
    }
    return gradient;
  };
  report("gradient of src", max_error(layer.data(Layer::kDiffSrc), numeric_gradient(src)));
  report("gradient of weights_layer",
         max_error(layer.data(Layer::kDiffWeightsLayer), numeric_gradient(wl)));
  report("gradient of weights_iter",
         max_error(layer.data(Layer::kDiffWeightsIter), numeric_gradient(wi)));
  report("gradient of bias", max_error(layer.data(Layer::kDiffBias), numeric_gradient(bias)));
  return ok;
}

int run(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  bool check_only = false;
  for (const std::string& flag : options.rest) {
    if (flag == "--check-only")
      check_only = true;
    else
      throw std::runtime_error("unknown option '" + flag + "'");
  }
  if (options.modes.empty()) options.modes = {"infer", "fwdbwd"};
  for (const std::string& mode : options.modes)
    if (mode != "infer" && mode != "fwdbwd")
      throw std::runtime_error("unknown mode '" + mode + "' for oneDNN (infer, fwdbwd)");

  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  bool ok = true;
  for (const char* cell : {"lstm", "gru"}) ok = check_cell(engine, cell) && ok;
  if (!ok) return 1;
  if (check_only) return 0;

  std::mt19937_64 random(1);
  for (const Config& config : options.configs) {
    for (const std::string& cell : options.cells) {
      Layer layer(engine, cell, config);
      for (Layer::Role role :
           {Layer::kSrc, Layer::kWeightsLayer, Layer::kWeightsIter, Layer::kBias, Layer::kDiffDst})
        fill(layer.data(role), layer.size(role), random,
             role == Layer::kSrc || role == Layer::kDiffDst
                 ? 1.0f
                 : static_cast<float>(1 / std::sqrt(static_cast<double>(config.hidden))));
      for (const std::string& mode : options.modes) {
        Timing timing;
        if (mode == "infer") {
          layer.prepare_inference();
          timing = time_calls([&] { layer.infer(); }, options.timing);
        } else {
          timing = time_calls([&] { layer.forward_backward(); }, options.timing);
        }
        print_result("onednn", cell, config, mode, options.threads, timing);
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // As rnnc computes by default: denormals flushed to zero (FTZ, DAZ), in this thread and the
  // OpenMP threads it starts later, which spares Intel cores a microcode assist per operation.
  _mm_setcsr(_mm_getcsr() | 0x8040);
  try {
    return run(argc, argv);
  } catch (const dnnl::error& error) {
    std::fprintf(stderr, "onednn_rnn: oneDNN error: %s (status %d)\n", error.what(),
                 static_cast<int>(error.status));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "onednn_rnn: %s\n", error.what());
  }
  return 1;
}
