#!/usr/bin/python3
"""Reference fixtures for rnnc's recurrent layers, written by PyTorch.

tests/pytorch_parity_test.cpp builds nn::Recurrent with the configuration of each case,
binds the weights below by name, runs the forward pass and the gradient graph in rnnc's
reference interpreter and compares every tensor with what torch.nn.RNN / LSTM / GRU
computed here. The fixtures are committed: the test suite does NOT need torch.

Regenerate (needs Debian's python3-torch and python3-numpy; deterministic, fixed seeds):

    /usr/bin/python3 tests/pytorch_parity/make_fixtures.py

This rewrites tests/data/pytorch_parity/ completely (one folder per case plus cases.txt,
the list of case names). A case folder holds:

  manifest.txt      key=value lines: cell (rnn_tanh, rnn_relu, lstm, gru), num_layers,
                    bidirectional, batch_first, packed, initial_state, seq_len, batch,
                    input_size, hidden_size, lengths (comma-separated, empty unless packed),
                    prefix (the layer name), parameters (state_dict names, in order),
                    torch_version
  input.npy         the module's input: [T, B, I], or [B, T, I] when batch_first
  lengths.npy       i32 [B] (packed cases only; unsorted, with a row of length 1 and a row
                    of full length; packed with enforce_sorted=False)
  h0.npy, c0.npy    initial states [L * D, B, H] (c0 for LSTM; both absent when
                    initial_state=0, where PyTorch starts from zeros)
  <prefix>.<name>.npy  every state_dict tensor under its PyTorch name
                    ("rnn.weight_ih_l0.npy", "rnn.bias_hh_l1_reverse.npy", ...)
  output.npy        the output, padded with zeros past each row's length (pad_packed_sequence
                    with total_length = T) in the input's layout
  h_n.npy, c_n.npy  final states [L * D, B, H]
  R_output.npy, R_h_n.npy, R_c_n.npy
                    fixed random weights of the scalar loss
                    loss = sum(output * R_output) + sum(h_n * R_h_n) (+ sum(c_n * R_c_n))
  grad_input.npy, grad_h0.npy, grad_c0.npy, grad_<prefix>.<name>.npy
                    the gradient of that loss w.r.t. the input, the initial states and every
                    parameter

Everything is computed in float64. The script also reruns every case in float32 and checks
that the float32 results stay within 2e-5 (relative, as the C++ test measures it) of the
float64 ones, so that the C++ test's float32 tolerance of 1e-4 is not at the mercy of
rounding (a relu pre-activation next to zero, say).
"""

import os
import shutil
import zlib

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "pytorch_parity")
PREFIX = "rnn"
SEQ_LEN, BATCH, INPUT_SIZE, HIDDEN_SIZE = 5, 3, 4, 5
# Unsorted, with a row of length 1 and a row of full length.
PACKED_LENGTHS = [3, SEQ_LEN, 1]
CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
F32_CHECK_TOLERANCE = 2e-5


def case_list():
    """(name, config) of every case, in a fixed order (tests/pytorch_parity_test.cpp builds
    the same names)."""
    cases = []

    def add(cell, layers, bidirectional, batch_first=False, packed=False, initial_state=True):
        name = "%s_l%d_%s" % (cell, layers, "bi" if bidirectional else "uni")
        if batch_first:
            name += "_batch_first"
        if packed:
            name += "_packed"
        if not initial_state:
            name += "_zero_state"
        cases.append((name, dict(cell=cell, num_layers=layers, bidirectional=bidirectional,
                                 batch_first=batch_first, packed=packed,
                                 initial_state=initial_state)))

    for cell in CELLS:
        for layers in (1, 2):
            for bidirectional in (False, True):
                add(cell, layers, bidirectional)
        add(cell, 2, True, batch_first=True)
        add(cell, 1, False, packed=True)
        add(cell, 2, True, packed=True)
    add("lstm", 2, True, batch_first=True, packed=True)
    add("gru", 2, True, batch_first=True, packed=True)
    add("lstm", 1, True, initial_state=False)
    add("rnn_tanh", 2, False, initial_state=False)
    add("gru", 2, True, packed=True, initial_state=False)
    return cases


def make_module(cell, num_layers, bidirectional, batch_first):
    kwargs = dict(input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE, num_layers=num_layers,
                  bidirectional=bidirectional, batch_first=batch_first)
    if cell == "rnn_tanh":
        return torch.nn.RNN(nonlinearity="tanh", **kwargs)
    if cell == "rnn_relu":
        return torch.nn.RNN(nonlinearity="relu", **kwargs)
    if cell == "lstm":
        return torch.nn.LSTM(**kwargs)
    if cell == "gru":
        return torch.nn.GRU(**kwargs)
    raise ValueError(cell)


def random_data(config):
    """Inputs, initial states, weights and loss weights (float64), from a seed fixed by the
    configuration."""
    cell, layers, bidirectional = config["cell"], config["num_layers"], config["bidirectional"]
    directions = 2 if bidirectional else 1
    key = "%s/%d/%d/%d/%d/%d" % (cell, layers, bidirectional, config["batch_first"],
                                 config["packed"], config["initial_state"])
    torch.manual_seed(zlib.crc32(key.encode()))
    module = make_module(cell, layers, bidirectional, config["batch_first"]).double()
    state = {name: t.detach().clone() for name, t in module.state_dict().items()}
    if config["batch_first"]:
        x = torch.randn(BATCH, SEQ_LEN, INPUT_SIZE)
    else:
        x = torch.randn(SEQ_LEN, BATCH, INPUT_SIZE)
    state_shape = (layers * directions, BATCH, HIDDEN_SIZE)
    data = {"input": x}
    if config["initial_state"]:
        data["h0"] = 0.5 * torch.randn(*state_shape)
        if cell == "lstm":
            data["c0"] = 0.5 * torch.randn(*state_shape)
    output_shape = x.shape[:2] + (directions * HIDDEN_SIZE,)
    data["R_output"] = torch.randn(*output_shape)
    data["R_h_n"] = torch.randn(*state_shape)
    if cell == "lstm":
        data["R_c_n"] = torch.randn(*state_shape)
    return state, data


def run_case(config, state, data, dtype):
    """Forward and backward in `dtype`; returns every tensor to save (as float64 numpy)."""
    cell = config["cell"]
    module = make_module(cell, config["num_layers"], config["bidirectional"],
                         config["batch_first"]).to(dtype)
    module.load_state_dict({k: v.to(dtype) for k, v in state.items()})
    leaves = {k: v.to(dtype).clone().requires_grad_(True) for k, v in data.items()
              if k in ("input", "h0", "c0")}
    x = leaves["input"]
    if config["packed"]:
        lengths = torch.tensor(PACKED_LENGTHS, dtype=torch.int64)
        x = pack_padded_sequence(x, lengths, batch_first=config["batch_first"],
                                 enforce_sorted=False)
    hx = None
    if "h0" in leaves:
        hx = (leaves["h0"], leaves["c0"]) if cell == "lstm" else leaves["h0"]
    output, final = module(x, hx)
    if config["packed"]:
        output, _ = pad_packed_sequence(output, batch_first=config["batch_first"],
                                        total_length=SEQ_LEN)
    h_n, c_n = final if cell == "lstm" else (final, None)
    loss = (output * data["R_output"].to(dtype)).sum() + (h_n * data["R_h_n"].to(dtype)).sum()
    if c_n is not None:
        loss = loss + (c_n * data["R_c_n"].to(dtype)).sum()
    params = dict(module.named_parameters())
    assert list(params) == list(state), "parameters and state_dict differ"
    grads = torch.autograd.grad(loss, list(leaves.values()) + list(params.values()))
    results = {"output": output, "h_n": h_n}
    if c_n is not None:
        results["c_n"] = c_n
    for name, grad in zip(list(leaves) + ["%s.%s" % (PREFIX, p) for p in params], grads):
        results["grad_" + name] = grad
    return {k: v.detach().double().numpy() for k, v in results.items()}


def relative_difference(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))) if a.size else 0.0


def write_case(name, config):
    state, data = random_data(config)
    results = run_case(config, state, data, torch.float64)
    results32 = run_case(config, state, data, torch.float32)
    for key, value in results.items():
        difference = relative_difference(results32[key], value)
        assert difference <= F32_CHECK_TOLERANCE, "%s: float32 %s differs by %g" % (
            name, key, difference)
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder)

    def save(file_name, array):
        np.save(os.path.join(folder, file_name + ".npy"), np.ascontiguousarray(array))

    for key, tensor in data.items():
        save(key, tensor.numpy())
    for key, tensor in state.items():
        save("%s.%s" % (PREFIX, key), tensor.numpy())
    for key, array in results.items():
        save(key, array)
    lengths = PACKED_LENGTHS if config["packed"] else []
    if config["packed"]:
        save("lengths", np.array(lengths, dtype=np.int32))
    manifest = [
        ("cell", config["cell"]),
        ("num_layers", config["num_layers"]),
        ("bidirectional", int(config["bidirectional"])),
        ("batch_first", int(config["batch_first"])),
        ("packed", int(config["packed"])),
        ("initial_state", int(config["initial_state"])),
        ("seq_len", SEQ_LEN),
        ("batch", BATCH),
        ("input_size", INPUT_SIZE),
        ("hidden_size", HIDDEN_SIZE),
        ("lengths", ",".join(str(n) for n in lengths)),
        ("prefix", PREFIX),
        ("parameters", ",".join("%s.%s" % (PREFIX, key) for key in state)),
        ("torch_version", torch.__version__),
    ]
    with open(os.path.join(folder, "manifest.txt"), "w") as f:
        for key, value in manifest:
            f.write("%s=%s\n" % (key, value))


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    out_dir = os.path.normpath(OUT_DIR)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    cases = case_list()
    for name, config in cases:
        write_case(name, config)
    with open(os.path.join(out_dir, "cases.txt"), "w") as f:
        for name, _ in cases:
            f.write(name + "\n")
    total = sum(os.path.getsize(os.path.join(root, f))
                for root, _, files in os.walk(out_dir) for f in files)
    print("wrote %d cases to %s (%d bytes)" % (len(cases), out_dir, total))


if __name__ == "__main__":
    main()
