#include "codegen/cuda/driver_api.h"

#include <dlfcn.h>

#include <mutex>

#include "codegen/cuda/nvrtc_compiler.h"
#include "ir/error.h"

namespace rnnc::cuda {
namespace {

/// Loads the driver; throws the user-facing reason when it cannot.
Driver load_driver() {
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) throw Error("no CUDA driver (libcuda.so.1 not found)");
  Driver d;
#define RNNC_CUDA_LOAD(member, function, symbol)                                \
  d.member = reinterpret_cast<decltype(d.member)>(dlsym(library, symbol));      \
  if (!d.member)                                                                \
    throw Error(std::string("the CUDA driver (libcuda.so.1) lacks ") + symbol + \
                ": it is too old for rnnc (CUDA " + nvrtc_version() + " or newer needed)");
  RNNC_CUDA_DRIVER_FUNCTIONS(RNNC_CUDA_LOAD)
#undef RNNC_CUDA_LOAD
  CUresult result = d.Init(0);
  if (result == CUDA_ERROR_NO_DEVICE) throw Error("no CUDA device");
  d.check(result, "cuInit");
  d.check(d.DriverGetVersion(&d.version), "cuDriverGetVersion");
  const std::string toolkit = nvrtc_version();
  const int needed = std::stoi(toolkit) * 1000;
  if (d.version < needed)
    throw Error("the CUDA driver is too old: it supports CUDA " + std::to_string(d.version / 1000) +
                "." + std::to_string(d.version % 1000 / 10) + ", rnnc's NVRTC is CUDA " + toolkit +
                " (update the NVIDIA driver)");
  int count = 0;
  d.check(d.DeviceGetCount(&count), "cuDeviceGetCount");
  if (count == 0) throw Error("no CUDA device");
  d.check(d.DeviceGet(&d.device, 0), "cuDeviceGet");
  char name[256] = {};
  d.check(d.DeviceGetName(name, sizeof name - 1, d.device), "cuDeviceGetName");
  d.device_name = name;
  int major = 0, minor = 0;
  d.check(d.DeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d.device),
          "cuDeviceGetAttribute");
  d.check(d.DeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d.device),
          "cuDeviceGetAttribute");
  d.compute_capability = major * 10 + minor;
  d.check(d.DevicePrimaryCtxRetain(&d.context, d.device), "cuDevicePrimaryCtxRetain");
  d.make_current();
  return d;
}

Cublas load_cublas() {
  void* library = dlopen("libcublas.so.13", RTLD_NOW | RTLD_LOCAL);
  if (!library)
    throw Error("cuBLAS not found (libcublas.so.13): the CUDA backend needs it for matmuls");
  auto symbol = [&](const char* name) {
    void* address = dlsym(library, name);
    if (!address) throw Error(std::string("libcublas.so.13 lacks ") + name);
    return address;
  };
  Cublas c;
  auto create = reinterpret_cast<int (*)(Cublas::Handle*)>(symbol("cublasCreate_v2"));
  c.SetStream = reinterpret_cast<decltype(c.SetStream)>(symbol("cublasSetStream_v2"));
  c.Sgemm = reinterpret_cast<Cublas::SgemmStridedBatched>(symbol("cublasSgemmStridedBatched"));
  c.Dgemm = reinterpret_cast<Cublas::DgemmStridedBatched>(symbol("cublasDgemmStridedBatched"));
  driver().make_current();
  int status = create(&c.handle);
  if (status != 0) throw Error("cublasCreate failed (status " + std::to_string(status) + ")");
  return c;
}

}  // namespace

void Driver::make_current() const { check(CtxSetCurrent(context), "cuCtxSetCurrent"); }

void Driver::check(CUresult result, const std::string& what) const {
  if (result == CUDA_SUCCESS) return;
  const char* name = "unknown CUDA error";
  const char* description = "";
  if (GetErrorName) GetErrorName(result, &name);
  if (GetErrorString) GetErrorString(result, &description);
  if (result == CUDA_ERROR_OUT_OF_MEMORY)
    throw Error("GPU out of memory: " + what + " (" + name + ")");
  throw Error("CUDA: " + what + " failed: " + name + " (" + description + ")");
}

const Driver& driver() {
  // Loaded once; a failure is remembered and reported again.
  static std::once_flag once;
  static Driver loaded;
  static std::string failure;
  std::call_once(once, [] {
    try {
      loaded = load_driver();
    } catch (const Error& error) {
      failure = error.what();
    }
  });
  if (!failure.empty()) throw Error(failure);
  return loaded;
}

const Cublas& cublas() {
  static std::once_flag once;
  static Cublas loaded;
  static std::string failure;
  std::call_once(once, [] {
    try {
      loaded = load_cublas();
    } catch (const Error& error) {
      failure = error.what();
    }
  });
  if (!failure.empty()) throw Error(failure);
  return loaded;
}

bool cuda_usable(std::string* why) {
  try {
    driver();
    cublas();
    return true;
  } catch (const Error& error) {
    if (why) *why = error.what();
    return false;
  }
}

}  // namespace rnnc::cuda
