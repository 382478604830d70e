#!/usr/bin/env python3
"""The table of scripts/gpu-check: checks passed, and per cell, size and mode rnnc's GPU
library beside PyTorch (cuDNN) with the ratio (PyTorch ms / rnnc ms: above 1, rnnc is faster)."""
import json
import sys


def read(path):
    try:
        with open(path) as file:
            return [json.loads(line) for line in file if line.startswith("{")]
    except OSError:
        return []


def main(rnnc_path, torch_path):
    rnnc, torch = read(rnnc_path), read(torch_path)
    checks = [r for r in rnnc if "check" in r]
    failed = [r for r in checks if not r.get("ok")]
    print(f"\nchecks: {len(checks) - len(failed)} of {len(checks)} passed")
    for r in failed:
        print("  FAILED:", r.get("check"), r.get("why", ""), "max_error", r.get("max_error", ""))
    for r in torch:
        if "info" in r:
            print("pytorch:", r["info"])
    ref = {(r["cell"], r["config"], r["mode"]): r["ms"] for r in torch if "ms" in r}
    print(f"\n{'cell':5} {'config':10} {'mode':7} {'rnnc ms':>10} {'pytorch ms':>11} {'ratio':>7}")
    for r in rnnc:
        if "ms" not in r:
            continue
        key = (r["cell"], r["config"], r["mode"])
        other = ref.get(key)
        ratio = f"{other / r['ms']:.2f}x" if other and r["ms"] > 0 else "-"
        print(f"{r['cell']:5} {r['config']:10} {r['mode']:7} {r['ms']:10.3f} "
              f"{(f'{other:.3f}' if other else '-'):>11} {ratio:>7}")
    print("\n(rnnc times include copying inputs to and outputs from the device per call;\n"
          " PyTorch's data stays on the device)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
