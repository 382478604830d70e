#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "frontend/recurrent.h"
#include "ir/graph.h"

/// One step of each recurrent cell, built from primitives inside a Scan body, and the
/// parameter layout of one layer and direction. Recurrent (frontend/recurrent.cpp) creates the
/// parameters and the Scans; this file knows the cell formulas and nothing of stacking.
namespace rnnc::nn::cells {

/// The state a cell carries from step to step (both [B, H]).
struct CellState {
  ir::Value* h = nullptr;
  ir::Value* c = nullptr;  ///< the cell state of the LSTM kinds; null for the others
};

/// One layer-direction's parameters as the scan body sees them, by short name ("weight_ih",
/// "bias_hh", "W_xi", "w_ci", "U_u", ...): the step functions look them up by these names.
using CellParameters = std::map<std::string, ir::Value*>;

/// The short name and shape of one parameter of a layer-direction.
struct ParameterSpec {
  std::string short_name;
  ir::Shape shape;
};

/// True for the cells that carry a cell state c besides h (Lstm, LectureLstm).
bool has_cell_state(CellKind kind);

/// The parameters one layer-direction of `config`'s cell needs when its input is
/// `input_width` wide, in creation order. PyTorch layouts (G = 1, 4, 3 gate blocks):
/// weight_ih [G*H, in], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H]. The lecture's LSTM,
/// per present gate in the order i, f, c, o: W_x* [H, in], W_h* [H, H], b_* [H], and with
/// peepholes w_c* [H] (gates i, f, o only). The lecture's GRU, per gate u, r, h: W_* [H, H]
/// (recurrent), U_* [H, in] (input), b_* [H]. Biases only when config.bias.
std::vector<ParameterSpec> parameter_specs(const RecurrentConfig& config, int64_t input_width);

/// The full parameter name: "<layer_name>.<short_name>_l<layer>[_reverse]", as PyTorch's
/// state_dict names them.
std::string parameter_name(const std::string& layer_name, const std::string& short_name,
                           int64_t layer, bool reverse);

/// h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu (torch.nn.RNN).
CellState rnn_step(ir::Value* x, const CellState& state, const CellParameters& params, bool relu);
/// torch.nn.LSTM: gates i, f, g, o from one [B, 4H] pre-activation; c' = f c + i g,
/// h' = o tanh(c').
CellState lstm_step(ir::Value* x, const CellState& state, const CellParameters& params);
/// torch.nn.GRU: r, z from x and h; n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
/// h' = (1 - z) * n + z * h.
CellState gru_step(ir::Value* x, const CellState& state, const CellParameters& params);
/// The lecture's LSTM with the gates and peepholes of `gates` (see LstmGates), each gate its
/// own products so that the optimizer, not the builder, fuses them.
CellState lecture_lstm_step(ir::Value* x, const CellState& state, const CellParameters& params,
                            const LstmGates& gates);
/// The lecture's GRU: u, r gates; h~ = tanh(W_h (r * h) + U_h x + b_h);
/// h' = (1 - u) * h + u * h~.
CellState lecture_gru_step(ir::Value* x, const CellState& state, const CellParameters& params);

/// One step of `config.cell` (dispatches to the functions above). x [B, in]; the state and
/// parameters are values of the scan body that x belongs to.
CellState step(const RecurrentConfig& config, ir::Value* x, const CellState& state,
               const CellParameters& params);

}  // namespace rnnc::nn::cells
