#pragma once
#include <cuda.h>

#include <string>

/// The CUDA driver API and the few cuBLAS functions the backend calls, loaded at run time with
/// dlopen (libcuda.so.1, libcublas.so.13): rnnc links neither, so it runs, and says plainly
/// that there is no driver or device, on machines without a GPU.
namespace rnnc::cuda {

// The driver functions used, as (member, declaration in cuda.h, exported symbol).
#define RNNC_CUDA_DRIVER_FUNCTIONS(X)                                             \
  X(Init, cuInit, "cuInit")                                                       \
  X(DriverGetVersion, cuDriverGetVersion, "cuDriverGetVersion")                   \
  X(DeviceGetCount, cuDeviceGetCount, "cuDeviceGetCount")                         \
  X(DeviceGet, cuDeviceGet, "cuDeviceGet")                                        \
  X(DeviceGetName, cuDeviceGetName, "cuDeviceGetName")                            \
  X(DeviceGetAttribute, cuDeviceGetAttribute, "cuDeviceGetAttribute")             \
  X(DevicePrimaryCtxRetain, cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") \
  X(CtxSetCurrent, cuCtxSetCurrent, "cuCtxSetCurrent")                            \
  X(ModuleLoadData, cuModuleLoadData, "cuModuleLoadData")                         \
  X(ModuleUnload, cuModuleUnload, "cuModuleUnload")                               \
  X(ModuleGetFunction, cuModuleGetFunction, "cuModuleGetFunction")                \
  X(LaunchKernel, cuLaunchKernel, "cuLaunchKernel")                               \
  X(MemAlloc, cuMemAlloc, "cuMemAlloc_v2")                                        \
  X(MemFree, cuMemFree, "cuMemFree_v2")                                           \
  X(MemcpyHtoD, cuMemcpyHtoD, "cuMemcpyHtoD_v2")                                  \
  X(MemcpyDtoH, cuMemcpyDtoH, "cuMemcpyDtoH_v2")                                  \
  X(MemcpyDtoDAsync, cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2")                   \
  X(MemsetD8, cuMemsetD8, "cuMemsetD8_v2")                                        \
  X(StreamCreate, cuStreamCreate, "cuStreamCreate")                               \
  X(StreamSynchronize, cuStreamSynchronize, "cuStreamSynchronize")                \
  X(GetErrorName, cuGetErrorName, "cuGetErrorName")                               \
  X(GetErrorString, cuGetErrorString, "cuGetErrorString")

/// The loaded driver: one function pointer per entry of RNNC_CUDA_DRIVER_FUNCTIONS, and the
/// device (ordinal 0) whose primary context the backend uses.
struct Driver {
#define RNNC_CUDA_MEMBER(member, function, symbol) decltype(&::function) member = nullptr;
  RNNC_CUDA_DRIVER_FUNCTIONS(RNNC_CUDA_MEMBER)
#undef RNNC_CUDA_MEMBER
  CUdevice device = 0;
  CUcontext context = nullptr;
  int version = 0;             ///< cuDriverGetVersion (13000 for CUDA 13.0)
  int compute_capability = 0;  ///< 90 for an H100/H200
  std::string device_name;

  /// Makes the primary context current on the calling thread.
  void make_current() const;
  /// Throws rnnc::Error "CUDA: WHAT failed: NAME (DESCRIPTION)" unless `result` is success;
  /// out of memory says so.
  void check(CUresult result, const std::string& what) const;
};

/// The driver, loaded and initialized on first use. Throws rnnc::Error: "no CUDA driver
/// (libcuda.so.1 not found)", "no CUDA device", or a driver older than NVRTC's CUDA version.
const Driver& driver();

/// cuBLAS, as far as the backend calls it (declared here so that its headers are not needed).
struct Cublas {
  using Handle = void*;
  /// cublasSgemmStridedBatched / cublasDgemmStridedBatched (column-major).
  using SgemmStridedBatched = int (*)(Handle, int, int, int, int, int, const float*, const float*,
                                      int, long long, const float*, int, long long, const float*,
                                      float*, int, long long, int);
  using DgemmStridedBatched = int (*)(Handle, int, int, int, int, int, const double*, const double*,
                                      int, long long, const double*, int, long long, const double*,
                                      double*, int, long long, int);
  Handle handle = nullptr;
  int (*SetStream)(Handle, CUstream) = nullptr;
  SgemmStridedBatched Sgemm = nullptr;
  DgemmStridedBatched Dgemm = nullptr;
};

/// cuBLAS, loaded (libcublas.so.13) with one handle on first use. Throws rnnc::Error when it
/// cannot be loaded.
const Cublas& cublas();

/// Whether the CUDA backend can run here (driver, device and cuBLAS); else false with the
/// reason in `why`. Cached after the first call.
bool cuda_usable(std::string* why = nullptr);

}  // namespace rnnc::cuda
