#!/usr/bin/env bash
# run: checks and times rnnc's GPU libraries on this machine (written by
# `scripts/gpu-check prepare`; needs cc, the CUDA driver, cuBLAS, xz or python3, and for the
# comparison PyTorch with CUDA). Unpacks libs.tar.xz, builds every library with cc, checks each
# against the interpreter's reference outputs (f32: 1e-4 relative, cuBLAS with TF32 off), times
# inference, layer forward+backward and the training step beside PyTorch (cuDNN), prints ratios.
# Usage: ./run [--min-time S] [--check-only] [--no-pytorch] [--jobs N]
set -u
cd "$(dirname "$0")" || exit 1
MIN_TIME=0.5
CHECK_ONLY=0
PYTORCH=1
JOBS=$(nproc 2>/dev/null || echo 4)
while [ $# -gt 0 ]; do
  case "$1" in
    --min-time) MIN_TIME="$2"; shift 2 ;;
    --check-only) CHECK_ONLY=1; shift ;;
    --no-pytorch) PYTORCH=0; shift ;;
    --jobs) JOBS="$2"; shift 2 ;;
    *) echo "usage: ./run [--min-time S] [--check-only] [--no-pytorch] [--jobs N]" >&2; exit 2 ;;
  esac
done
CC=${CC:-cc}
START=$(date +%s)

# cuBLAS: the toolkit's, or PyTorch's wheel's (nvidia-cublas), on the library path.
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           "$(dirname "$(command -v nvcc 2>/dev/null || echo /nonexistent/bin/nvcc)")/../lib64"; do
  [ -d "$dir" ] && LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
done
if command -v python3 >/dev/null; then
  wheel=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)
  [ -n "$wheel" ] && [ -d "$wheel" ] && LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$wheel"
fi
export LD_LIBRARY_PATH
# The checks run cuBLAS in full f32 (TF32 off), as the library does unless RNNC_CUDA_TF32=1.
export RNNC_CUDA_TF32=${RNNC_CUDA_TF32:-0}
echo "gpu-check: cuBLAS math mode for the checks: $([ "$RNNC_CUDA_TF32" = 1 ] && echo 'TF32 ON (RNNC_CUDA_TF32=1)' || echo 'full f32, TF32 off (RNNC_CUDA_TF32=0)')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader

# Unpack libs/ (every library's sources and references, one xz archive: the libraries share
# most of their text) unless a previous run did.
if [ ! -d libs ]; then
  echo "gpu-check: unpacking libs.tar.xz"
  rm -rf .unpack && mkdir .unpack || exit 1
  if command -v xz >/dev/null && xz -dc libs.tar.xz | tar -xf - -C .unpack; then :
  elif python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))' libs.tar.xz .unpack; then :
  else echo "gpu-check: cannot unpack libs.tar.xz (needs xz, or python3 with lzma)" >&2; exit 1; fi
  mv .unpack/libs libs && rmdir .unpack || exit 1
  echo "gpu-check: unpacked in $(( $(date +%s) - START )) s"
fi

# Build: every library's NAME.c (with its check) into one checker, in parallel.
echo "gpu-check: building $(wc -l < libraries.txt) libraries with $CC (-j$JOBS)"
mkdir -p build
build_one() {
  name=$1
  dir=libs/$name
  $CC -std=c99 -O2 -c "$dir/$name.c" -o "build/$name.o" -I"$dir" &&
    $CC -std=c99 -O2 -c "$dir/check_$name.c" -o "build/check_$name.o" -I"$dir"
}
export -f build_one
export CC
cut -d' ' -f1 libraries.txt | xargs -P "$JOBS" -I{} bash -c 'build_one {} || { echo "gpu-check: building {} FAILED" >&2; exit 255; }' || exit 1
$CC -std=c99 -O2 -c gpu_check_common.c -o build/gpu_check_common.o &&
  $CC -std=c99 -O2 -c gpu_check_main.c -o build/gpu_check_main.o &&
  $CC -std=c99 -O2 -I. -c checks.c -o build/checks.o &&
  $CC -o checker build/*.o -ldl -lpthread -lm || { echo "gpu-check: linking the checker FAILED" >&2; exit 1; }
echo "gpu-check: built in $(( $(date +%s) - START )) s"

# Check (and time unless --check-only).
if [ "$CHECK_ONLY" = 1 ]; then ./checker --check-only | tee results.rnnc.jsonl; status=${PIPESTATUS[0]}
else ./checker --min-time "$MIN_TIME" | tee results.rnnc.jsonl; status=${PIPESTATUS[0]}; fi
[ "$status" = 2 ] && exit 2
# A driver older than the NVRTC that compiled the embedded code (error 9): compile the CUDA C
# with this machine's nvcc instead and check again (RNNC_CUDA_IMAGE_DIR).
if grep -q '"code": 9' results.rnnc.jsonl && command -v nvcc >/dev/null; then
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
  echo "gpu-check: the driver cannot load the embedded code: compiling it with $(command -v nvcc) for sm_${arch:-90}"
  mkdir -p images
  ls libs/*/*.cu | xargs -P "$JOBS" -I{} sh -c \
    'nvcc -cubin -std=c++17 -arch=sm_'"${arch:-90}"' -o images/$(basename {} .cu).cubin {}' || exit 1
  export RNNC_CUDA_IMAGE_DIR=$PWD/images
  if [ "$CHECK_ONLY" = 1 ]; then ./checker --check-only | tee results.rnnc.jsonl; status=${PIPESTATUS[0]}
  else ./checker --min-time "$MIN_TIME" | tee results.rnnc.jsonl; status=${PIPESTATUS[0]}; fi
fi
echo "gpu-check: checks and rnnc timing done at $(( $(date +%s) - START )) s (status $status)"

# PyTorch (cuDNN) on the same shapes and modes, then the table of ratios.
if [ "$CHECK_ONLY" = 0 ] && [ "$PYTORCH" = 1 ]; then
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    timeout 240 python3 gpu_check_pytorch.py --min-time "$MIN_TIME" | tee results.pytorch.jsonl
  else
    echo "gpu-check: PyTorch with CUDA not found: no comparison"
  fi
fi
python3 gpu_check_report.py results.rnnc.jsonl results.pytorch.jsonl 2>/dev/null ||
  echo "gpu-check: (python3 missing: see results.*.jsonl)"
echo "gpu-check: finished in $(( $(date +%s) - START )) s"
exit "$status"
