#!/usr/bin/python3
"""The names classifier that tests/onnx_train_names_test.cpp trains after importing it.

A PyTorch model, untrained, exported with torch.onnx.export:

    Embedding(56, 16) -> GRU(16, 32, 1 layer, batch_first) -> Linear(32, 18) on h_n[-1]

Input "x": int64 [64, 19] character ids, one name per row, LEFT-padded with id 0 (names are
right-aligned, so the final hidden state is the one after the name's last character; no
packed sequences, which torch.onnx exports awkwardly). Output "logits": float32 [64, 18].

The data layout both the script and the test derive from data/names/names_train.csv.gz
("Name","Country" rows):
  - characters: every distinct character (Unicode code point) of the training names,
    sorted by code point, take ids 1..55; id 0 is padding (rnnc::CharVocabulary::from_texts);
  - countries: the distinct countries of the training file, sorted, are labels 0..17;
  - 19 steps: the longest name of the training and test files.

Written next to this script (the suite does NOT need python or torch; the files are
committed):
  names_gru.onnx       the model (opset 14, static shapes, PyTorch's initial weights)
  check_x.npy          int64 [64, 19]: the first 64 test names, encoded as above
  check_logits.npy     float32 [64, 18]: PyTorch's logits for check_x

Regenerate (needs Debian's python3-torch, python3-onnx and python3-numpy; deterministic):

    /usr/bin/python3 tests/onnx_names/make_model.py [--seed S]
"""

import argparse
import csv
import gzip
import os

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data", "names")
OPSET = 14
BATCH, STEPS, EMBEDDING, HIDDEN = 64, 19, 16, 32


class NamesGru(torch.nn.Module):
    """Character embedding, one GRU layer, a linear head on the final hidden state."""

    def __init__(self, characters, countries):
        super().__init__()
        self.embedding = torch.nn.Embedding(characters, EMBEDDING)
        self.gru = torch.nn.GRU(EMBEDDING, HIDDEN, num_layers=1, batch_first=True)
        self.fc = torch.nn.Linear(HIDDEN, countries)

    def forward(self, x):
        _, h_n = self.gru(self.embedding(x))
        return self.fc(h_n[-1])


def read_names(split):
    with gzip.open(os.path.join(DATA, "names_%s.csv.gz" % split), "rt", encoding="utf-8") as f:
        return [(row[0], row[1]) for row in csv.reader(f)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=HERE)
    args = parser.parse_args()

    train, test = read_names("train"), read_names("test")
    characters = sorted(set("".join(name for name, _ in train)))
    ids = {c: i + 1 for i, c in enumerate(characters)}
    countries = sorted(set(country for _, country in train))
    steps = max(len(name) for name, _ in train + test)
    assert steps == STEPS, steps

    torch.manual_seed(args.seed)
    model = NamesGru(len(characters) + 1, len(countries)).eval()

    x = np.zeros((BATCH, STEPS), dtype=np.int64)
    for row, (name, _) in enumerate(test[:BATCH]):
        x[row, STEPS - len(name):] = [ids[c] for c in name]
    x_tensor = torch.from_numpy(x)
    with torch.no_grad():
        logits = model(x_tensor).numpy().astype(np.float32)

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "names_gru.onnx")
    torch.onnx.export(model, (x_tensor,), path, input_names=["x"], output_names=["logits"],
                      opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    np.save(os.path.join(args.out, "check_x.npy"), x)
    np.save(os.path.join(args.out, "check_logits.npy"), logits)
    print("wrote %s: %d characters, %d countries, %d steps, torch %s" %
          (path, len(characters) + 1, len(countries), STEPS, torch.__version__))


if __name__ == "__main__":
    main()
