#!/usr/bin/env python3
"""PyTorch on the GPU (nn.LSTM / nn.GRU through cuDNN) for scripts/gpu-check: the calls of
bench/pytorch_rnn.py (modes infer, fwdbwd, train; a copy ships in the gpu-check folder) on
CUDA, data resident on the device, timed with torch.cuda.synchronize() after every call
(warm-up, then repetitions for --min-time, median). TF32 is off for cuDNN and cuBLAS unless
--tf32, as in rnnc's checks. Prints JSON lines like bench/pytorch_rnn.py."""
import argparse
import json

from pytorch_rnn import make_call, parse_config, time_calls

CONFIGS = ["tiny:25:50:10:20", "medium:256:256:32:50", "large:512:512:64:50",
           "deepbench:1024:1024:16:25"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--config", action="append", default=[])
    args = parser.parse_args()
    # What pytorch_rnn.make_call and time_calls read besides --min-time.
    args.warmup, args.min_reps, args.vocab, args.classes = 3, 5, 16000, 2
    args.train_input = "embed"
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
        config = parse_config(text)
        name, e, h, b, t = config
        for cell in ("lstm", "gru"):
            for mode in ("infer", "fwdbwd", "train"):
                call = make_call(torch, cell, config, mode, args, device)
                ms, min_ms, reps = time_calls(call, args, torch.cuda.synchronize)
                print(json.dumps({"impl": "pytorch-cuda", "cell": cell, "config": name, "E": e,
                                  "H": h, "B": b, "T": t, "mode": mode, "ms": round(ms, 6),
                                  "min_ms": round(min_ms, 6), "reps": reps}), flush=True)


if __name__ == "__main__":
    main()
