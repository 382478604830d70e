#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "frontend/nn.h"

namespace rnnc::nn {

/// The recurrent cells rnnc builds from primitives and Scan (no cell is an IR op).
enum class CellKind {
  RnnTanh,      ///< h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)   (torch.nn.RNN)
  RnnRelu,      ///< the same with relu                              (nonlinearity='relu')
  Lstm,         ///< torch.nn.LSTM: gates i, f, g, o stacked in that order in [4H, *] weights
  LectureLstm,  ///< the lecture's LSTM: any subset of input/forget/output gates, peepholes
  Gru,          ///< torch.nn.GRU: r, z, n in [3H, *]; reset after the recurrent product
                ///< (ONNX linear_before_reset = 1)
  LectureGru,   ///< Cho et al. 2014 as the lecture writes it: reset before the product,
                ///< h' = (1 - u) * h + u * h~
};

/// Which gates the lecture's LSTM has, and whether they read the cell (peepholes):
///   c~ = tanh(W_xc x + W_hc h + b_c)
///   i = sigmoid(W_xi x + W_hi h + w_ci * c_{t-1} + b_i)      (1 without the input gate)
///   f = sigmoid(W_xf x + W_hf h + w_cf * c_{t-1} + b_f)      (1 without the forget gate)
///   c = f * c_{t-1} + i * c~
///   o = sigmoid(W_xo x + W_ho h + w_co * c + b_o)            (1 without the output gate)
///   h = o * tanh(c)
/// Peephole weights are diagonal (vectors [H]).
struct LstmGates {
  bool input = true;
  bool forget = true;
  bool output = true;
  bool peepholes = false;

  /// "none", "input", "forget", "output", "input+output", "input+forget", "forget+output",
  /// "all" (the lecture's eight variants). Throws rnnc::Error on anything else.
  static LstmGates parse(const std::string& variant);
  /// The variant's name as parse() reads it.
  std::string name() const;
};

/// A recurrent layer stack's shape and options.
struct RecurrentConfig {
  CellKind cell = CellKind::Lstm;
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bidirectional = false;
  /// Layers after the first add their input to their output (needs equal widths).
  bool residual = false;
  bool bias = true;
  /// For CellKind::LectureLstm only.
  LstmGates gates;
};

/// What a recurrent stack computes, time-major like PyTorch's default layout.
struct RecurrentResult {
  /// [T, B, D * H]: the last layer's hidden state at every step, directions concatenated
  /// (zero past each row's length).
  ir::Value* outputs = nullptr;
  /// [L * D, B, H]: every layer's and direction's final hidden state, ordered as PyTorch's
  /// h_n (layer-major, forward before reverse). With lengths, a row's final state is the one
  /// after its last valid step.
  ir::Value* h_n = nullptr;
  /// [L * D, B, H]: final cell states (LSTM cells only; null otherwise).
  ir::Value* c_n = nullptr;
};

/// A stack of recurrent layers, as torch.nn.RNN / LSTM / GRU, plus the lecture's cells.
/// Each layer and direction is one Scan whose body is the cell built from primitives; the
/// node count does not depend on the sequence length.
///
/// Parameters use PyTorch's names and layouts, prefixed by the layer's name, so that a
/// PyTorch state_dict saved as .npy files loads by name: "<name>.weight_ih_l{k}[_reverse]"
/// [G*H, in], "<name>.weight_hh_l{k}[_reverse]" [G*H, H], "<name>.bias_ih_l{k}[_reverse]",
/// "<name>.bias_hh_l{k}[_reverse]" [G*H] (G = 1, 4, 3 for RNN, LSTM, GRU). The lecture's
/// cells keep one matrix per gate and input ("<name>.W_xi_l{k}" [H, in], "<name>.W_hi_l{k}"
/// [H, H], "<name>.b_i_l{k}" [H], peepholes "<name>.w_ci_l{k}" [H], likewise c, f, o; for
/// the lecture's GRU W_u/U_u/b_u, W_r/U_r/b_r, W_h/U_h/b_h), as the lecture writes them, so
/// that the optimization passes, not the builder, fuse the gate products.
/// Initialization as PyTorch: uniform(-1/sqrt(H), 1/sqrt(H)) for every weight and bias.
class Recurrent {
 public:
  /// Creates the parameters in `model`. Throws rnnc::Error on a bad configuration (sizes
  /// < 1, residual with unequal widths, gates on a non-lecture cell).
  Recurrent(Model& model, const std::string& name, RecurrentConfig config);

  /// Appends the stack applied to `inputs` [T, B, input_size]. `lengths` (i32 [B], entries in
  /// [1, T]) makes each row stop at its own length, as a packed sequence does in PyTorch.
  /// `h0` and `c0` ([L * D, B, H]) default to zeros. Throws rnnc::Error naming the value on
  /// mismatched shapes.
  RecurrentResult operator()(ir::Value* inputs, ir::Value* lengths = nullptr,
                             ir::Value* h0 = nullptr, ir::Value* c0 = nullptr) const;

  const RecurrentConfig& config() const { return config_; }
  /// Every parameter of the stack, in creation order.
  const std::vector<ir::Value*>& parameters() const { return parameters_; }

 private:
  RecurrentConfig config_;
  std::string name_;
  std::vector<ir::Value*> parameters_;
};

/// [B, T, F] <-> [T, B, F] (PyTorch's batch_first layout to rnnc's time-major one and back).
ir::Value* batch_first_to_time_major(ir::Value* x);
ir::Value* time_major_to_batch_first(ir::Value* x);

/// A lookup table of `num_embeddings` vectors of `dim` ("<name>.weight" [num, dim],
/// normal(0, 1) as torch.nn.Embedding). Calling it on i32 indices of any shape gathers rows
/// (its gradient is a scatter-add).
class Embedding {
 public:
  Embedding(Model& model, const std::string& name, int64_t num_embeddings, int64_t dim);
  ir::Value* operator()(ir::Value* indices) const;
  ir::Value* weight() const { return weight_; }

 private:
  ir::Value* weight_;
};

}  // namespace rnnc::nn
