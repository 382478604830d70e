#!/usr/bin/python3
"""PyTorch (Debian's python3-torch 1.13) as a benchmark anchor for bench/run.

Times torch.nn.LSTM / torch.nn.GRU (one unidirectional layer, f32, time-major) per
(cell, configuration, mode) the way the C++ harnesses do (bench/harness.h): warm-up, then
repetitions for at least --min-time seconds, median. Modes:

  infer   the layer over x [T, B, E] under torch.inference_mode().
  fwdbwd  the layer forward, then backward of an upstream gradient dy [T, B, H] on every
          output: gradients of x, the weights and the biases (set to None before each call).
  train   one training step: an embedding of a 16000-word vocabulary on token ids [T, B]
          (or, with --train-input dense, x [T, B, E]), the layer, a linear head on h_T,
          cross entropy, backward, clip_grad_norm_(5), Adagrad (lr 0.01).

The thread setting is one per process, and the environment variables that make PyTorch and
its OpenBLAS honest on these machines (see ANCHORS.md) must be set before torch is
imported, some before the process starts (GLIBC_TUNABLES): unless --no-reexec is given, the
script re-executes itself with that environment when it is not already in place.

Prints one JSON line per figure:
  {"impl": "pytorch", "cell": ..., "config": ..., "E": ..., "H": ..., "B": ..., "T": ...,
   "mode": ..., "threads": ..., "ms": median, "min_ms": ..., "reps": ...}
"""
import argparse
import json
import os
import statistics
import sys
import time

MODES = ("infer", "fwdbwd", "train")
TINY = "tiny:25:50:10:20"


def parse_config(text):
    """NAME:E:H:B:T -> (name, E, H, B, T)."""
    parts = text.split(":")
    if len(parts) != 5:
        raise ValueError(f"bad configuration '{text}' (expected NAME:E:H:B:T)")
    sizes = [int(p) for p in parts[1:]]
    if min(sizes) < 1:
        raise ValueError(f"bad configuration '{text}' (sizes must be positive)")
    return (parts[0], *sizes)


def split_list(values):
    return [piece for value in values for piece in value.split(",") if piece]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=[],
                        help="NAME:E:H:B:T, repeatable or comma-separated (default tiny)")
    parser.add_argument("--cell", action="append", default=[], help="lstm, gru")
    parser.add_argument("--mode", action="append", default=[], help=", ".join(MODES))
    parser.add_argument("--min-time", type=float, default=2.0,
                        help="seconds of timed repetitions per figure")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument("--min-reps", type=int, default=3, help="timed calls at least")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch.set_num_threads and OMP_NUM_THREADS")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OPENBLAS_NUM_THREADS (default: --torch-threads)")
    parser.add_argument("--threads", default=None,
                        help="label of the thread setting in the output")
    parser.add_argument("--train-input", choices=("embed", "dense"), default="embed")
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=16000)
    parser.add_argument("--openblas-core", default=None,
                        help="OPENBLAS_CORETYPE, for a CPU OpenBLAS does not recognize "
                             "(default: unset, OpenBLAS's own choice)")
    parser.add_argument("--no-reexec", action="store_true",
                        help="run in the current environment as it is")
    args = parser.parse_args(argv)
    args.configs = [parse_config(c) for c in split_list(args.config or [TINY])]
    args.cells = split_list(args.cell) or ["lstm", "gru"]
    args.modes = split_list(args.mode) or list(MODES)
    for cell in args.cells:
        if cell not in ("lstm", "gru"):
            parser.error(f"unknown cell '{cell}' (lstm, gru)")
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"unknown mode '{mode}' ({', '.join(MODES)})")
    if args.blas_threads is None:
        args.blas_threads = args.torch_threads
    if args.threads is None:
        args.threads = (str(args.torch_threads) if args.blas_threads == args.torch_threads
                        else f"{args.torch_threads}+blas{args.blas_threads}")
    return args


def anchor_environment(base, torch_threads, blas_threads, openblas_core):
    """The environment ANCHORS.md prescribes for PyTorch on these machines; OPENBLAS_CORETYPE
    is openblas_core when given."""
    env = dict(base)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_PROC_BIND", "OMP_PLACES"):
        env.pop(name, None)  # AVX2 kernels; pinning makes OpenBLAS see one CPU
    if openblas_core:
        env["OPENBLAS_CORETYPE"] = openblas_core
    env.update({
        "OMP_WAIT_POLICY": "passive",  # idle OpenMP workers must not spin on OpenBLAS's core
        "OMP_NUM_THREADS": str(torch_threads),
        "OPENBLAS_NUM_THREADS": str(blas_threads),  # torch.set_num_threads does not limit it
        # Keep freed gradient buffers instead of returning them to the kernel each step, and
        # give the heap transparent huge pages (as rnnc's tensors have; DeepBench-like LSTM
        # forward+backward 257-289 -> 245-253 ms, training 355-357 -> 313-321).
        "GLIBC_TUNABLES": "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
                          ":glibc.malloc.hugetlb=1",
        "ATEN_CPU_CAPABILITY": "avx512",
    })
    return env


def time_calls(call, args, synchronize=None):
    """Warm-up (--warmup calls and a tenth of --min-time), then timed calls until at least
    --min-reps were made and --min-time seconds passed; returns (median ms, fastest ms,
    repetitions). `synchronize` (a GPU's: torch.cuda.synchronize) runs after every call and
    is timed with it."""
    def run():
        call()
        if synchronize:
            synchronize()
    start = time.perf_counter()
    calls = 0
    while calls < args.warmup or time.perf_counter() - start < 0.1 * args.min_time:
        run()
        calls += 1
    times = []
    while len(times) < max(1, args.min_reps) or sum(times) < args.min_time:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3, len(times)


def make_call(torch, cell, config, mode, args, device=None):
    """The function one timed call runs, its data and modules on `device` (None: the CPU)."""
    _, e, h, b, t = config
    nn = torch.nn

    def place(module):
        return module.to(device) if device is not None else module
    layer = place((nn.LSTM if cell == "lstm" else nn.GRU)(e, h))
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
    embedding = place(nn.Embedding(args.vocab, e)) if args.train_input == "embed" else None
    head = place(nn.Linear(h, args.classes))
    modules = [m for m in (embedding, layer, head) if m is not None]
    params = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.Adagrad(params, lr=0.01)
    if embedding is not None:
        inputs = torch.randint(0, args.vocab, (t, b), device=device)
    else:
        inputs = torch.rand(t, b, e, device=device) * 2 - 1
    labels = torch.randint(0, args.classes, (b,), device=device)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        x = embedding(inputs) if embedding is not None else inputs
        _, state = layer(x)
        h_n = state[0] if cell == "lstm" else state
        loss = nn.functional.cross_entropy(head(h_n[-1]), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
    return train_step


def main(argv):
    args = parse_args(argv)
    current = dict(os.environ)
    reexecuted = current.pop("RNNC_BENCH_REEXEC", None)
    wanted = anchor_environment(current, args.torch_threads, args.blas_threads,
                                args.openblas_core)
    if not args.no_reexec and wanted != current:
        if reexecuted:
            print("pytorch_rnn.py: the environment did not take; running as it is",
                  file=sys.stderr)
        else:
            sys.stdout.flush()
            os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv],
                      {**wanted, "RNNC_BENCH_REEXEC": "1"})
    import torch  # after the environment is in place
    torch.set_num_threads(args.torch_threads)
    # As rnnc computes by default: denormals flushed to zero (this thread and the threads
    # started after it), which spares Intel cores a microcode assist per denormal operation.
    torch.set_flush_denormal(True)
    torch.manual_seed(1)
    for config in args.configs:
        for cell in args.cells:
            for mode in args.modes:
                call = make_call(torch, cell, config, mode, args)
                ms, min_ms, reps = time_calls(call, args)
                name, e, h, b, t = config
                print(json.dumps({"impl": "pytorch", "cell": cell, "config": name, "E": e,
                                  "H": h, "B": b, "T": t, "mode": mode,
                                  "threads": args.threads, "ms": round(ms, 6),
                                  "min_ms": round(min_ms, 6), "reps": reps}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
