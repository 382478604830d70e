#pragma once
#include <string>

#include "codegen/cuda/runtime/rnnc_cuda_runtime.h"

/// The CUDA driver as the C++ side sees it. The driver and cuBLAS themselves are loaded at run
/// time with dlopen by the host runtime (runtime/rnnc_cuda_runtime.c, the same C code the
/// ahead-of-time GPU libraries compile), so rnnc links neither, and runs, and says plainly
/// that there is no driver or device, on machines without a GPU.
namespace rnnc::cuda {

/// The compute capability of device 0 (90 for an H100/H200), loading the driver on first use.
/// Throws rnnc::Error "no CUDA driver (libcuda.so.1 not found)", "no CUDA device", or a
/// driver too old for rnnc.
int device_compute_capability();

/// Whether a CUDA driver and a device are usable here; else false with the reason in `why`.
bool cuda_usable(std::string* why = nullptr);

/// Throws rnnc::Error with the runtime's message for a failed call (`status`).
[[noreturn]] void throw_status(const rnnc_cuda_status& status);

}  // namespace rnnc::cuda
