#!/usr/bin/python3
"""Exported-model fixtures for rnnc's ONNX importer, written by PyTorch.

tests/onnx_pytorch_test.cpp imports each case's model.onnx, binds the inputs below, runs
the graph on every available backend and compares every output with what PyTorch computed
here: max |a - b| / max(1, |b|) <= 1e-5. The fixtures are committed: the test suite does NOT
need torch.

Regenerate (needs Debian's python3-torch, python3-onnx and python3-numpy; deterministic):

    /usr/bin/python3 tests/onnx_pytorch/make_fixtures.py

This rewrites tests/data/onnx_pytorch/ completely: one folder per case plus cases.txt (the
case names). A case folder holds

  model.onnx         torch.onnx.export of the module (opset 14, static shapes)
  manifest.txt       key=value lines: inputs and outputs (comma-separated names, in order),
                     description, torch_version
  input_<name>.npy   each input (token ids are int64, as PyTorch exports them)
  output_<name>.npy  each output as PyTorch computed it

The cases are the lecture's models (hihell's character RNN over one-hot vectors and over
embeddings, the names classifier's GRU over character embeddings with a linear head, the
sentiment LSTM's classifier on the final hidden state, the diabetes MLP) and random variants
of RNN, LSTM and GRU: 1 and 2 layers, bidirectional, batch_first, with initial states, with an
embedding and a linear head.
"""

import os
import random
import shutil

import numpy as np
import onnx
import torch

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "onnx_pytorch")
OPSET = 14


class RecurrentModel(torch.nn.Module):
    """[embedding] -> RNN/LSTM/GRU stack -> [linear head on every step or on the final
    hidden state] -> [log_softmax]; returns the head's result and the final states."""

    def __init__(self, cell, input_size, hidden, layers, bidirectional, batch_first,
                 vocab=0, head=0, head_on="steps", log_softmax=False, nonlinearity="tanh"):
        super().__init__()
        self.cell, self.head_on, self.log_softmax = cell, head_on, log_softmax
        self.embedding = torch.nn.Embedding(vocab, input_size) if vocab else None
        kwargs = dict(input_size=input_size, hidden_size=hidden, num_layers=layers,
                      bidirectional=bidirectional, batch_first=batch_first)
        if cell == "rnn":
            self.rnn = torch.nn.RNN(nonlinearity=nonlinearity, **kwargs)
        elif cell == "lstm":
            self.rnn = torch.nn.LSTM(**kwargs)
        else:
            self.rnn = torch.nn.GRU(**kwargs)
        width = hidden * (2 if bidirectional else 1)
        self.head = torch.nn.Linear(width if head_on == "steps" else hidden, head) if head else None

    def forward(self, x, *state):
        if self.embedding is not None:
            x = self.embedding(x)
        if state:
            state = state if self.cell == "lstm" else state[0]
            outputs, final = self.rnn(x, state)
        else:
            outputs, final = self.rnn(x)
        h_n = final[0] if self.cell == "lstm" else final
        if self.head is not None:
            features = outputs if self.head_on == "steps" else h_n[-1]
            outputs = self.head(features)
            if self.log_softmax:
                outputs = torch.log_softmax(outputs, dim=-1)
        if self.cell == "lstm":
            return outputs, final[0], final[1]
        return outputs, final


class Diabetes(torch.nn.Module):
    """The lecture's diabetes classifier: 8 -> 6 -> 4 -> 1 with sigmoids."""

    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = (torch.nn.Linear(8, 6), torch.nn.Linear(6, 4),
                                     torch.nn.Linear(4, 1))

    def forward(self, x):
        return torch.sigmoid(self.l3(torch.sigmoid(self.l2(torch.sigmoid(self.l1(x))))))


def recurrent_case(name, cell, seq, batch, input_size, hidden, layers=1, bidirectional=False,
                   batch_first=False, vocab=0, head=0, head_on="steps", log_softmax=False,
                   initial_state=False, nonlinearity="tanh", dtype=torch.float32):
    config = dict(cell=cell, input_size=input_size, hidden=hidden, layers=layers,
                  bidirectional=bidirectional, batch_first=batch_first, vocab=vocab, head=head,
                  head_on=head_on, log_softmax=log_softmax, nonlinearity=nonlinearity)
    model = RecurrentModel(**config).to(dtype)
    shape = (batch, seq) if batch_first else (seq, batch)
    if vocab:
        x = torch.randint(0, vocab, shape, dtype=torch.int64)
    else:
        x = torch.randn(*shape, input_size, dtype=dtype)
    inputs = [("x", x)]
    if initial_state:
        state_shape = (layers * (2 if bidirectional else 1), batch, hidden)
        inputs.append(("h0", 0.5 * torch.randn(*state_shape, dtype=dtype)))
        if cell == "lstm":
            inputs.append(("c0", 0.5 * torch.randn(*state_shape, dtype=dtype)))
    outputs = ["y", "h_n", "c_n"] if cell == "lstm" else ["y", "h_n"]
    description = " ".join("%s=%s" % (k, v) for k, v in sorted(config.items()))
    return name, model, inputs, outputs, description + " initial_state=%d dtype=%s" % (
        initial_state, str(dtype).replace("torch.", ""))


def case_list():
    cases = []
    # The lecture's models.
    cases.append(recurrent_case("hihell_onehot_rnn", "rnn", 6, 1, 5, 5, batch_first=True))
    cases.append(recurrent_case("hihell_embedding_rnn", "rnn", 6, 1, 10, 5, batch_first=True,
                                vocab=5, head=5))
    cases.append(recurrent_case("names_gru_classifier", "gru", 7, 3, 8, 12, batch_first=True,
                                vocab=30, head=18, head_on="final", log_softmax=True))
    cases.append(recurrent_case("sentiment_lstm_classifier", "lstm", 6, 2, 25, 10, vocab=40,
                                head=2, head_on="final", log_softmax=True))
    # Every cell: 1 and 2 layers, bidirectional, batch_first, initial states.
    for cell in ("rnn", "lstm", "gru"):
        cases.append(recurrent_case(cell + "_l1_uni", cell, 5, 3, 4, 5))
        cases.append(recurrent_case(cell + "_l1_uni_state", cell, 5, 3, 4, 5, initial_state=True))
        cases.append(recurrent_case(cell + "_l2_uni", cell, 5, 2, 4, 6, layers=2))
        cases.append(recurrent_case(cell + "_l1_bi", cell, 4, 3, 3, 5, bidirectional=True))
        cases.append(recurrent_case(cell + "_l2_bi_batch_first_state", cell, 5, 2, 4, 5,
                                    layers=2, bidirectional=True, batch_first=True,
                                    initial_state=True))
        cases.append(recurrent_case(cell + "_l2_bi_embedding_head", cell, 6, 3, 6, 7, layers=2,
                                    bidirectional=True, batch_first=True, vocab=20, head=4,
                                    log_softmax=True))
    cases.append(recurrent_case("rnn_relu_l2_bi", "rnn", 5, 2, 4, 5, layers=2,
                                bidirectional=True, nonlinearity="relu"))
    cases.append(recurrent_case("lstm_l2_bi_f64", "lstm", 5, 2, 4, 5, layers=2,
                                bidirectional=True, initial_state=True, dtype=torch.float64))
    # Random variants.
    rng = random.Random(20240611)
    for i in range(6):
        cell = rng.choice(["rnn", "lstm", "gru"])
        vocab = rng.choice([0, 17])
        head = rng.choice([0, 3])
        cases.append(recurrent_case(
            "random_%d_%s" % (i, cell), cell, seq=rng.randint(1, 6), batch=rng.randint(1, 4),
            input_size=rng.randint(1, 6), hidden=rng.randint(1, 7), layers=rng.randint(1, 2),
            bidirectional=rng.random() < 0.5, batch_first=rng.random() < 0.5, vocab=vocab,
            head=head, head_on=rng.choice(["steps", "final"]),
            log_softmax=bool(head) and rng.random() < 0.5, initial_state=rng.random() < 0.5))
    diabetes = ("diabetes_mlp", Diabetes(), [("x", torch.randn(5, 8))], ["y"],
                "the lecture's 8 -> 6 -> 4 -> 1 sigmoid classifier")
    cases.append(diabetes)
    return cases


def write_case(index, case):
    name, model, inputs, outputs, description = case
    torch.manual_seed(1000 + index)
    for parameter in model.parameters():
        with torch.no_grad():
            parameter.uniform_(-0.6, 0.6)
    model.eval()
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder)
    args = tuple(value for _, value in inputs)
    with torch.no_grad():
        expected = model(*args)
    if isinstance(expected, torch.Tensor):
        expected = (expected,)
    path = os.path.join(folder, "model.onnx")
    torch.onnx.export(model, args, path, opset_version=OPSET,
                      input_names=[n for n, _ in inputs], output_names=outputs)
    onnx.checker.check_model(onnx.load(path))
    for input_name, value in inputs:
        np.save(os.path.join(folder, "input_%s.npy" % input_name), value.numpy())
    for output_name, value in zip(outputs, expected):
        np.save(os.path.join(folder, "output_%s.npy" % output_name), value.numpy())
    with open(os.path.join(folder, "manifest.txt"), "w") as f:
        f.write("inputs=%s\n" % ",".join(n for n, _ in inputs))
        f.write("outputs=%s\n" % ",".join(outputs))
        f.write("description=%s\n" % description)
        f.write("torch_version=%s\n" % torch.__version__)


def main():
    torch.manual_seed(0)
    if os.path.exists(OUT_DIR):
        shutil.rmtree(OUT_DIR)
    os.makedirs(OUT_DIR)
    cases = case_list()
    names = []
    for index, case in enumerate(cases):
        write_case(index, case)
        names.append(case[0])
    with open(os.path.join(OUT_DIR, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main()
