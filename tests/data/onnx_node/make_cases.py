#!/usr/bin/python3
"""Conformance cases for rnnc's ONNX importer (tests/onnx_node_test.cpp).

Two sources, both written in the ONNX backend test layout (CASE/model.onnx,
CASE/test_data_set_N/input_K.pb and output_K.pb, serialized TensorProtos named as the graph's
inputs and outputs):

1. ONNX's own backend node tests, generated from Debian's python3-onnx (1.12) with
   `python3 -m onnx.backend.test.cmd_tools generate-data`, keeping the cases whose every node
   is an op rnnc supports (SUPPORTED_OPS) and whose tensors rnnc's IR can hold (float,
   double, int32, int64 within the i32 range), less the few listed in EXCLUDED with the
   reason.
2. rnnc_* cases for what those tests leave out of RNN, LSTM and GRU (bidirectional,
   sequence_lens, initial states, clip, activations with alpha and beta, peepholes,
   input_forget, linear_before_reset, layout 1, every output), with expected outputs from
   the NumPy reference below, written from the ONNX operator specification (clip applies
   to the gates' pre-activations, as onnxruntime does).

Regenerate (needs python3-onnx and python3-numpy; deterministic):

    /usr/bin/python3 tests/data/onnx_node/make_cases.py

This rewrites every case folder here and cases.txt (the case names).
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

# onnx 1.12's test generators use aliases NumPy removed in 1.24.
np.float, np.int, np.bool, np.object = float, int, bool, object

import onnx  # noqa: E402
from onnx import helper, numpy_helper, TensorProto  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

SUPPORTED_OPS = {
    "RNN", "LSTM", "GRU", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Sigmoid", "Tanh",
    "Relu", "Softmax", "LogSoftmax", "Gather", "Concat", "Slice", "Split", "Squeeze",
    "Unsqueeze", "Transpose", "Reshape", "Flatten", "Expand", "ConstantOfShape", "Identity",
    "Constant", "Shape",
}
SUPPORTED_TYPES = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT32, TensorProto.INT64}
EXCLUDED = {
    # Zero-sized tensors: rnnc's IR has no empty tensors.
    "test_split_zero_size_splits": "a split of size 0",
    "test_constantofshape_int_shape_zero": "a tensor with a dimension of size 0",
    "test_slice_start_out_of_bounds": "the slice is empty",
}


def generate_onnx_cases(out_dir):
    """Runs ONNX's generator (in a child process, with NumPy's aliases restored)."""
    code = ("import numpy as np\n"
            "np.float, np.int, np.bool, np.object = float, int, bool, object\n"
            "import sys\n"
            "from onnx.backend.test import cmd_tools\n"
            "sys.argv = ['cmd_tools', 'generate-data', '-o', %r]\n"
            "cmd_tools.main()\n" % out_dir)
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)


def tensor_ok(tensor):
    if tensor.data_type not in SUPPORTED_TYPES:
        return False
    array = numpy_helper.to_array(tensor)
    if array.size == 0:
        return False
    if tensor.data_type == TensorProto.INT64:
        return bool(np.all(np.abs(array) < 2 ** 31))
    return True


def value_info_ok(info):
    return info.type.HasField("tensor_type") and info.type.tensor_type.elem_type in SUPPORTED_TYPES


def supported(case_dir):
    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    if any(node.op_type not in SUPPORTED_OPS or node.domain not in ("", "ai.onnx")
           for node in model.graph.node):
        return False
    if not all(value_info_ok(v) for v in list(model.graph.input) + list(model.graph.output)):
        return False
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and not tensor_ok(attr.t):
                return False
    for data_set in sorted(os.listdir(case_dir)):
        folder = os.path.join(case_dir, data_set)
        if not os.path.isdir(folder):
            continue
        for file_name in os.listdir(folder):
            tensor = TensorProto()
            with open(os.path.join(folder, file_name), "rb") as f:
                tensor.ParseFromString(f.read())
            if not tensor_ok(tensor):
                return False
    return True


# ---- The NumPy reference of ONNX's RNN, LSTM and GRU -------------------------------------

ACTIVATION_DEFAULTS = {  # name: (uses alpha, uses beta, alpha, beta), as onnxruntime
    "relu": (False, False, 0, 0), "tanh": (False, False, 0, 0),
    "sigmoid": (False, False, 0, 0), "affine": (True, True, 1.0, 0.0),
    "leakyrelu": (True, False, 0.01, 0), "thresholdedrelu": (True, False, 1.0, 0),
    "scaledtanh": (True, True, 1.0, 1.0), "hardsigmoid": (True, True, 0.2, 0.5),
    "elu": (True, False, 1.0, 0), "softsign": (False, False, 0, 0),
    "softplus": (False, False, 0, 0),
}


def activation(name, alpha, beta):
    name = name.lower()
    return {
        "relu": lambda x: np.maximum(x, 0),
        "tanh": np.tanh,
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "affine": lambda x: alpha * x + beta,
        "leakyrelu": lambda x: np.where(x >= 0, x, alpha * x),
        "thresholdedrelu": lambda x: np.where(x > alpha, x, 0.0),
        "scaledtanh": lambda x: alpha * np.tanh(beta * x),
        "hardsigmoid": lambda x: np.clip(alpha * x + beta, 0, 1),
        "elu": lambda x: np.where(x >= 0, x, alpha * (np.exp(x) - 1)),
        "softsign": lambda x: x / (1 + np.abs(x)),
        "softplus": lambda x: np.log(1 + np.exp(x)),
    }[name]


def activation_functions(names, alphas, betas):
    alphas, betas = list(alphas), list(betas)
    functions = []
    for name in names:
        uses_alpha, uses_beta, alpha, beta = ACTIVATION_DEFAULTS[name.lower()]
        if uses_alpha and alphas:
            alpha = alphas.pop(0)
        if uses_beta and betas:
            beta = betas.pop(0)
        functions.append(activation(name, alpha, beta))
    return functions


def reference(cell, X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None,
              P=None, direction="forward", layout=0, clip=None, activations=None,
              activation_alpha=(), activation_beta=(), input_forget=0, linear_before_reset=0):
    """Y, Y_h (and Y_c for LSTM) of one ONNX recurrent node, in float64."""
    X = X.astype(np.float64)
    if layout == 1:
        X = X.swapaxes(0, 1)
        initial_h = None if initial_h is None else initial_h.swapaxes(0, 1)
        initial_c = None if initial_c is None else initial_c.swapaxes(0, 1)
    T, batch, _ = X.shape
    D, H = W.shape[0], R.shape[2]
    per_direction = {"rnn": 1, "lstm": 3, "gru": 2}[cell]
    default = {"rnn": ["Tanh"], "lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"]}
    names = activations or default[cell] * D
    if len(names) == per_direction and D == 2:
        names = names * 2
    functions = activation_functions(names, activation_alpha, activation_beta)
    cl = (lambda v: np.clip(v, -clip, clip)) if clip else (lambda v: v)
    Y = np.zeros((T, D, batch, H))
    Y_h = np.zeros((D, batch, H))
    Y_c = np.zeros((D, batch, H))
    for d in range(D):
        f = functions[d * per_direction:(d + 1) * per_direction]
        reverse = direction == "reverse" or d == 1
        Wd, Rd = W[d].astype(np.float64), R[d].astype(np.float64)
        G = Wd.shape[0]
        Wb = B[d][:G].astype(np.float64) if B is not None else np.zeros(G)
        Rb = B[d][G:].astype(np.float64) if B is not None else np.zeros(G)
        for b in range(batch):
            length = int(sequence_lens[b]) if sequence_lens is not None else T
            h = initial_h[d, b].astype(np.float64) if initial_h is not None else np.zeros(H)
            c = initial_c[d, b].astype(np.float64) if initial_c is not None else np.zeros(H)
            steps = range(length - 1, -1, -1) if reverse else range(length)
            for t in steps:
                x = X[t, b]
                gx, gh = Wd @ x + Wb, Rd @ h + Rb
                if cell == "rnn":
                    h = f[0](cl(gx + gh))
                elif cell == "lstm":
                    g = gx + gh
                    pi, po, pf = (np.split(P[d].astype(np.float64), 3) if P is not None
                                  else (0, 0, 0))
                    i = f[0](cl(g[0:H] + pi * c))
                    forget = 1 - i if input_forget else f[0](cl(g[2 * H:3 * H] + pf * c))
                    c = forget * c + i * f[1](cl(g[3 * H:4 * H]))
                    o = f[0](cl(g[H:2 * H] + po * c))
                    h = o * f[2](c)
                else:
                    z = f[0](cl(gx[0:H] + gh[0:H]))
                    r = f[0](cl(gx[H:2 * H] + gh[H:2 * H]))
                    if linear_before_reset:
                        recurrent = r * gh[2 * H:]
                    else:
                        recurrent = Rd[2 * H:] @ (r * h) + Rb[2 * H:]
                    h = (1 - z) * f[1](cl(gx[2 * H:] + recurrent)) + z * h
                Y[t, d, b] = h
            Y_h[d, b], Y_c[d, b] = h, c
    if layout == 1:
        Y = Y.transpose(2, 0, 1, 3)
        Y_h, Y_c = Y_h.swapaxes(0, 1), Y_c.swapaxes(0, 1)
    return (Y, Y_h, Y_c) if cell == "lstm" else (Y, Y_h)


def recurrent_case(name, cell, seed, T=4, batch=3, I=3, H=4, direction="forward", layout=0,
                   bias=True, lengths=None, initial=False, peepholes=False, outputs=None,
                   **attrs):
    rng = np.random.RandomState(seed)
    D = 2 if direction == "bidirectional" else 1
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    x_shape = (batch, T, I) if layout else (T, batch, I)
    state_shape = (batch, D, H) if layout else (D, batch, H)
    data = {"X": rng.randn(*x_shape), "W": 0.6 * rng.randn(D, G * H, I),
            "R": 0.6 * rng.randn(D, G * H, H)}
    if bias:
        data["B"] = 0.3 * rng.randn(D, 2 * G * H)
    if lengths is not None:
        data["sequence_lens"] = np.array(lengths, dtype=np.int32)
    if initial:
        data["initial_h"] = 0.5 * rng.randn(*state_shape)
        if cell == "lstm":
            data["initial_c"] = 0.5 * rng.randn(*state_shape)
    if peepholes:
        data["P"] = 0.5 * rng.randn(D, 3 * H)
    data = {k: v if v.dtype == np.int32 else v.astype(np.float32) for k, v in data.items()}
    order = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
    order = order[:8] if cell == "lstm" else order[:6]
    input_names = [n if n in data else "" for n in order]
    while input_names and not input_names[-1]:
        input_names.pop()
    all_outputs = ["Y", "Y_h", "Y_c"] if cell == "lstm" else ["Y", "Y_h"]
    outputs = outputs or all_outputs
    node_attrs = dict(hidden_size=H, direction=direction, **attrs)
    if layout:
        node_attrs["layout"] = layout
    node = helper.make_node(cell.upper(), input_names,
                            [n if n in outputs else "" for n in all_outputs], **node_attrs)
    expected = reference(cell, **{k: v for k, v in data.items()}, direction=direction,
                         layout=layout, **attrs)
    expected = dict(zip(all_outputs, expected))
    graph_inputs = [helper.make_tensor_value_info(
        n, TensorProto.INT32 if data[n].dtype == np.int32 else TensorProto.FLOAT,
        data[n].shape) for n in input_names if n]
    graph_outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, expected[n].shape)
                     for n in outputs]
    graph = helper.make_graph([node], name, graph_inputs, graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    folder = os.path.join(HERE, name)
    data_dir = os.path.join(folder, "test_data_set_0")
    os.makedirs(data_dir)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    for k, n in enumerate(n for n in input_names if n):
        onnx.save_tensor(numpy_helper.from_array(data[n], n),
                         os.path.join(data_dir, "input_%d.pb" % k))
    for k, n in enumerate(outputs):
        onnx.save_tensor(numpy_helper.from_array(expected[n].astype(np.float32), n),
                         os.path.join(data_dir, "output_%d.pb" % k))
    return name


def rnnc_cases():
    names = []
    add = names.append
    add(recurrent_case("rnnc_rnn_bidirectional_lengths_initial", "rnn", 1,
                       direction="bidirectional", lengths=[2, 4, 1], initial=True))
    add(recurrent_case("rnnc_rnn_reverse_layout1", "rnn", 2, direction="reverse", layout=1,
                       initial=True))
    add(recurrent_case("rnnc_rnn_clip_no_bias", "rnn", 3, bias=False, clip=0.5))
    add(recurrent_case("rnnc_rnn_activations_alpha_beta", "rnn", 4, direction="bidirectional",
                       activations=["LeakyRelu", "ScaledTanh"], activation_alpha=[0.2, 0.7],
                       activation_beta=[1.5]))
    add(recurrent_case("rnnc_rnn_relu_only_y_h", "rnn", 5, activations=["Relu"],
                       outputs=["Y_h"]))
    add(recurrent_case("rnnc_lstm_bidirectional_everything", "lstm", 6,
                       direction="bidirectional", lengths=[3, 1, 4], initial=True,
                       peepholes=True))
    add(recurrent_case("rnnc_lstm_reverse_layout1_peepholes", "lstm", 7, direction="reverse",
                       layout=1, initial=True, peepholes=True, lengths=[4, 2, 3]))
    add(recurrent_case("rnnc_lstm_input_forget_clip", "lstm", 8, input_forget=1, clip=0.8))
    add(recurrent_case("rnnc_lstm_activations", "lstm", 9, direction="bidirectional",
                       activations=["HardSigmoid", "Softsign", "Softplus",
                                    "Sigmoid", "Elu", "Affine"],
                       activation_alpha=[0.3, 0.9, 0.5], activation_beta=[0.4, 0.1]))
    add(recurrent_case("rnnc_lstm_thresholded_relu_only_y_c", "lstm", 10,
                       activations=["Sigmoid", "ThresholdedRelu", "Tanh"],
                       activation_alpha=[0.1], outputs=["Y_c"]))
    add(recurrent_case("rnnc_lstm_layout1_bidirectional", "lstm", 11, direction="bidirectional",
                       layout=1, initial=True, T=3, batch=2))
    add(recurrent_case("rnnc_gru_bidirectional_lengths", "gru", 12, direction="bidirectional",
                       lengths=[1, 3, 4], initial=True))
    add(recurrent_case("rnnc_gru_linear_before_reset_layout1", "gru", 13, layout=1,
                       linear_before_reset=1, initial=True, direction="bidirectional"))
    add(recurrent_case("rnnc_gru_reverse_clip_activations", "gru", 14, direction="reverse",
                       clip=0.7, activations=["HardSigmoid", "Tanh"],
                       activation_alpha=[0.25], activation_beta=[0.45], lengths=[4, 2, 3]))
    add(recurrent_case("rnnc_gru_no_bias", "gru", 15, bias=False, linear_before_reset=1))
    return names


def main():
    for entry in os.listdir(HERE):
        if os.path.isdir(os.path.join(HERE, entry)):
            shutil.rmtree(os.path.join(HERE, entry))
    names = []
    with tempfile.TemporaryDirectory() as scratch:
        generate_onnx_cases(scratch)
        node_dir = os.path.join(scratch, "node")
        for case in sorted(os.listdir(node_dir)):
            case_dir = os.path.join(node_dir, case)
            if case in EXCLUDED or not supported(case_dir):
                continue
            shutil.copytree(case_dir, os.path.join(HERE, case))
            names.append(case)
    names += rnnc_cases()
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    print("%d cases" % len(names))


if __name__ == "__main__":
    main()
