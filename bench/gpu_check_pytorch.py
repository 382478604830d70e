#!/usr/bin/env python3
"""PyTorch on the GPU (nn.LSTM / nn.GRU through cuDNN) for scripts/gpu-check: the modes of
bench/pytorch_rnn.py (infer, fwdbwd, train) on CUDA, data resident on the device, timed with
torch.cuda.synchronize() after every call (warm-up, then repetitions for --min-time, median).
TF32 is off for cuDNN and cuBLAS unless --tf32, as in rnnc's checks. Prints JSON lines like
bench/pytorch_rnn.py."""
import argparse
import json
import statistics
import time

CONFIGS = ["tiny:25:50:10:20", "medium:256:256:32:50", "large:512:512:64:50",
           "deepbench:1024:1024:16:25"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--config", action="append", default=[])
    args = parser.parse_args()
    import torch
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    device = torch.device("cuda")
    print(json.dumps({"impl": "pytorch-cuda", "info": f"torch {torch.__version__}, cuDNN "
                      f"{torch.backends.cudnn.version()}, {torch.cuda.get_device_name()}, "
                      f"TF32 {'on' if args.tf32 else 'off'}"}), flush=True)
    for text in args.config or CONFIGS:
        name, e, h, b, t = text.split(":")
        e, h, b, t = int(e), int(h), int(b), int(t)
        for cell in ("lstm", "gru"):
            for mode in ("infer", "fwdbwd", "train"):
                call = make_call(torch, device, cell, e, h, b, t, mode)
                ms, min_ms, reps = time_calls(torch, call, args.min_time)
                print(json.dumps({"impl": "pytorch-cuda", "cell": cell, "config": name, "E": e,
                                  "H": h, "B": b, "T": t, "mode": mode, "ms": round(ms, 6),
                                  "min_ms": round(min_ms, 6), "reps": reps}), flush=True)


def time_calls(torch, call, min_time):
    for _ in range(3):
        call()
    torch.cuda.synchronize()
    times = []
    while len(times) < 5 or sum(times) < min_time:
        t0 = time.perf_counter()
        call()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3, len(times)


def make_call(torch, device, cell, e, h, b, t, mode):
    nn = torch.nn
    layer = (nn.LSTM if cell == "lstm" else nn.GRU)(e, h).to(device)
    if mode == "infer":
        x = torch.rand(t, b, e, device=device) * 2 - 1

        def infer():
            with torch.inference_mode():
                layer(x)
        return infer
    if mode == "fwdbwd":
        x = (torch.rand(t, b, e, device=device) * 2 - 1).requires_grad_()
        dy = torch.rand(t, b, h, device=device) * 2 - 1
        params = list(layer.parameters())

        def forward_backward():
            x.grad = None
            for p in params:
                p.grad = None
            y, _ = layer(x)
            y.backward(dy)
        return forward_backward
    embedding = nn.Embedding(16000, e).to(device)
    head = nn.Linear(h, 2).to(device)
    params = [p for m in (embedding, layer, head) for p in m.parameters()]
    optimizer = torch.optim.Adagrad(params, lr=0.01)
    tokens = torch.randint(0, 16000, (t, b), device=device)
    labels = torch.randint(0, 2, (b,), device=device)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        _, state = layer(embedding(tokens))
        h_n = state[0] if cell == "lstm" else state
        loss = nn.functional.cross_entropy(head(h_n[-1]), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
    return train_step


if __name__ == "__main__":
    main()
