/* rnnc_cuda_runtime.c: see rnnc_cuda_runtime.h. Plain C99 with POSIX dlopen and
 * pthread_once; needs no CUDA header: the few driver and cuBLAS types and constants it uses are
 * declared below (tests/cuda_aot_test.cpp checks them against cuda.h and cublas_api.h). */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "rnnc_cuda_runtime.h"

/* rnnc_cuda_replay.c, included at the end, is the second half of this file. */
#define RNNC_CUDA_RUNTIME_C 1

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define RNNC_RT_UNUSED __attribute__((unused))
#else
#define RNNC_RT_UNUSED
#endif

/* ---- The driver and cuBLAS, as far as used (values as in cuda.h and cublas_api.h) -------- */

#define RNNC_CU_SUCCESS 0
#define RNNC_CU_ERROR_OUT_OF_MEMORY 2
#define RNNC_CU_ERROR_NO_DEVICE 100
#define RNNC_CU_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE 804
#define RNNC_CU_ERROR_INVALID_IMAGE 200
#define RNNC_CU_ERROR_NO_BINARY_FOR_GPU 209
#define RNNC_CU_ERROR_INVALID_PTX 218
#define RNNC_CU_ERROR_JIT_COMPILER_NOT_FOUND 221
#define RNNC_CU_ERROR_UNSUPPORTED_PTX_VERSION 222
#define RNNC_CU_ERROR_SYSTEM_DRIVER_MISMATCH 803
#define RNNC_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT 16
#define RNNC_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75
#define RNNC_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76
#define RNNC_CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH 95
#define RNNC_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES 8
#define RNNC_CU_STREAM_NON_BLOCKING 1
#define RNNC_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL 1
#define RNNC_CUBLAS_OP_N 0
#define RNNC_CUBLAS_OP_T 1
#define RNNC_CUBLAS_DEFAULT_MATH 0
#define RNNC_CUBLAS_TF32_TENSOR_OP_MATH 3

/* Threads per block of an ordinary kernel and the most blocks (kernels loop grid-stride). */
#define RNNC_BLOCK 256
#define RNNC_MAX_BLOCKS 65536
/* The cuBLAS workspace given before graph capture (what cuBLAS recommends on Hopper). */
#define RNNC_CUBLAS_WORKSPACE (32u << 20)

typedef struct {
  int (*Init)(unsigned);
  int (*DriverGetVersion)(int*);
  int (*DeviceGetCount)(int*);
  int (*DeviceGet)(int*, int);
  int (*DeviceGetName)(char*, int, int);
  int (*DeviceGetAttribute)(int*, int, int);
  int (*DevicePrimaryCtxRetain)(void**, int);
  int (*DevicePrimaryCtxRelease)(int);
  int (*CtxSetCurrent)(void*);
  int (*ModuleLoadData)(void**, const void*);
  int (*ModuleUnload)(void*);
  int (*ModuleGetFunction)(void**, void*, const char*);
  int (*FuncSetAttribute)(void*, int, int);
  int (*OccupancyMaxActiveBlocksPerMultiprocessor)(int*, void*, int, size_t);
  int (*LaunchKernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                      void*, void**, void**);
  int (*LaunchCooperativeKernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                 unsigned, void*, void**);
  int (*MemAlloc)(rnnc_devptr*, size_t);
  int (*MemFree)(rnnc_devptr);
  int (*MemcpyHtoDAsync)(rnnc_devptr, const void*, size_t, void*);
  int (*MemcpyDtoHAsync)(void*, rnnc_devptr, size_t, void*);
  int (*MemcpyDtoDAsync)(rnnc_devptr, rnnc_devptr, size_t, void*);
  int (*MemsetD8Async)(rnnc_devptr, unsigned char, size_t, void*);
  int (*StreamCreate)(void**, unsigned);
  int (*StreamDestroy)(void*);
  int (*StreamSynchronize)(void*);
  int (*StreamBeginCapture)(void*, int);
  int (*StreamEndCapture)(void*, void**);
  int (*GraphInstantiateWithFlags)(void**, void*, unsigned long long);
  int (*GraphLaunch)(void*, void*);
  int (*GraphExecDestroy)(void*);
  int (*GraphDestroy)(void*);
  int (*GetErrorName)(int, const char**);
  int (*GetErrorString)(int, const char**);
} rnnc_driver;

/* The exported symbol of each member, in member order (cuda.h's #defines say which). */
static const char* const rnnc_driver_symbols[] = {"cuInit",
                                                  "cuDriverGetVersion",
                                                  "cuDeviceGetCount",
                                                  "cuDeviceGet",
                                                  "cuDeviceGetName",
                                                  "cuDeviceGetAttribute",
                                                  "cuDevicePrimaryCtxRetain",
                                                  "cuDevicePrimaryCtxRelease_v2",
                                                  "cuCtxSetCurrent",
                                                  "cuModuleLoadData",
                                                  "cuModuleUnload",
                                                  "cuModuleGetFunction",
                                                  "cuFuncSetAttribute",
                                                  "cuOccupancyMaxActiveBlocksPerMultiprocessor",
                                                  "cuLaunchKernel",
                                                  "cuLaunchCooperativeKernel",
                                                  "cuMemAlloc_v2",
                                                  "cuMemFree_v2",
                                                  "cuMemcpyHtoDAsync_v2",
                                                  "cuMemcpyDtoHAsync_v2",
                                                  "cuMemcpyDtoDAsync_v2",
                                                  "cuMemsetD8Async",
                                                  "cuStreamCreate",
                                                  "cuStreamDestroy_v2",
                                                  "cuStreamSynchronize",
                                                  "cuStreamBeginCapture_v2",
                                                  "cuStreamEndCapture",
                                                  "cuGraphInstantiateWithFlags",
                                                  "cuGraphLaunch",
                                                  "cuGraphExecDestroy",
                                                  "cuGraphDestroy",
                                                  "cuGetErrorName",
                                                  "cuGetErrorString"};

typedef int (*rnnc_sgemm_fn)(void*, int, int, int, int, int, const float*, const float*, int,
                             long long, const float*, int, long long, const float*, float*, int,
                             long long, int);
typedef int (*rnnc_dgemm_fn)(void*, int, int, int, int, int, const double*, const double*, int,
                             long long, const double*, int, long long, const double*, double*, int,
                             long long, int);
typedef struct {
  int (*Create)(void**);
  int (*Destroy)(void*);
  int (*SetStream)(void*, void*);
  int (*SetWorkspace)(void*, void*, size_t);
  int (*SetMathMode)(void*, int);
  rnnc_sgemm_fn Sgemm;
  rnnc_dgemm_fn Dgemm;
} rnnc_cublas;

static const char* const rnnc_cublas_symbols[] = {
    "cublasCreate_v2",          "cublasDestroy_v2",  "cublasSetStream_v2",
    "cublasSetWorkspace_v2",    "cublasSetMathMode", "cublasSgemmStridedBatched",
    "cublasDgemmStridedBatched"};

/* Each table of symbols names every member of its struct, in order. */
typedef char rnnc_driver_symbols_complete[sizeof(rnnc_driver) / sizeof(void (*)(void)) ==
                                                  sizeof rnnc_driver_symbols / sizeof(char*)
                                              ? 1
                                              : -1];
typedef char rnnc_cublas_symbols_complete[sizeof(rnnc_cublas) / sizeof(void (*)(void)) ==
                                                  sizeof rnnc_cublas_symbols / sizeof(char*)
                                              ? 1
                                              : -1];

/* Loaded once per process; a failure is remembered with its message. */
static pthread_once_t rnnc_driver_once = PTHREAD_ONCE_INIT;
static pthread_once_t rnnc_cublas_once = PTHREAD_ONCE_INIT;
static struct {
  rnnc_driver driver;
  int driver_code;
  char driver_message[512];
  int driver_version, device, compute_capability, multiprocessors, cooperative;
  char device_name[256];
  rnnc_cublas cublas;
  int cublas_code;
  char cublas_message[512];
  char cublas_library[256];
} rnnc_rt;

/* ---- Statuses -------------------------------------------------------------------------- */

static int rnnc_fail(rnnc_cuda_status* status, int code, const char* format, ...) {
  va_list arguments;
  if (!status) return code;
  status->code = code;
  status->program_error = 0;
  va_start(arguments, format);
  vsnprintf(status->message, sizeof status->message, format, arguments);
  va_end(arguments);
  return code;
}

static const char* rnnc_cu_name(int result) {
  const char* name = NULL;
  if (rnnc_rt.driver.GetErrorName) rnnc_rt.driver.GetErrorName(result, &name);
  return name ? name : "unknown CUDA error";
}

static const char* rnnc_cu_text(int result) {
  const char* text = NULL;
  if (rnnc_rt.driver.GetErrorString) rnnc_rt.driver.GetErrorString(result, &text);
  return text ? text : "";
}

/* Maps a failed driver call to a status: out of memory, the driver too old for the code, a
 * device fault, or another failure, each said plainly. */
static int rnnc_cu_fail(rnnc_cuda_status* status, int result, const char* what) {
  switch (result) {
    case RNNC_CU_ERROR_OUT_OF_MEMORY:
      return rnnc_fail(status, RNNC_CUDA_OUT_OF_MEMORY, "GPU out of memory: %s (%s)", what,
                       rnnc_cu_name(result));
    case RNNC_CU_ERROR_NO_DEVICE:
      return rnnc_fail(status, RNNC_CUDA_NO_DEVICE, "no CUDA device (%s)", what);
    case RNNC_CU_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE:
    case RNNC_CU_ERROR_UNSUPPORTED_PTX_VERSION:
    case RNNC_CU_ERROR_SYSTEM_DRIVER_MISMATCH:
      return rnnc_fail(status, RNNC_CUDA_DRIVER_TOO_OLD,
                       "the CUDA driver (CUDA %d.%d) is too old: %s failed: %s (%s); update the "
                       "NVIDIA driver",
                       rnnc_rt.driver_version / 1000, rnnc_rt.driver_version % 1000 / 10, what,
                       rnnc_cu_name(result), rnnc_cu_text(result));
    default:
      if (result >= 700 && result <= 720)
        return rnnc_fail(status, RNNC_CUDA_DEVICE_ERROR,
                         "a kernel faulted on the device while %s: %s (%s); the CUDA context "
                         "cannot be used further",
                         what, rnnc_cu_name(result), rnnc_cu_text(result));
      return rnnc_fail(status, RNNC_CUDA_DEVICE_ERROR, "CUDA: %s failed: %s (%s)", what,
                       rnnc_cu_name(result), rnnc_cu_text(result));
  }
}

#define RNNC_CU(call, what)                                                               \
  do {                                                                                    \
    int rnnc_result_ = (call);                                                            \
    if (rnnc_result_ != RNNC_CU_SUCCESS) return rnnc_cu_fail(status, rnnc_result_, what); \
  } while (0)

static int rnnc_env_off(const char* name) {
  const char* value = getenv(name);
  return value && strcmp(value, "0") == 0;
}

static int rnnc_env_on(const char* name) {
  const char* value = getenv(name);
  return value && *value && strcmp(value, "0") != 0;
}

/* ---- Loading ----------------------------------------------------------------------------- */

static void rnnc_load_driver(void) {
  rnnc_driver* d = &rnnc_rt.driver;
  void** members = (void**)d;
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  size_t i;
  int result, count = 0, major = 0, minor = 0;
  rnnc_cuda_status status;
  if (!library) {
    rnnc_rt.driver_code = RNNC_CUDA_NO_DRIVER;
    snprintf(rnnc_rt.driver_message, sizeof rnnc_rt.driver_message,
             "no CUDA driver (libcuda.so.1 not found)");
    return;
  }
  for (i = 0; i < sizeof rnnc_driver_symbols / sizeof *rnnc_driver_symbols; ++i) {
    void* symbol = dlsym(library, rnnc_driver_symbols[i]);
    if (!symbol) {
      memset(d, 0, sizeof *d);
      rnnc_rt.driver_code = RNNC_CUDA_DRIVER_TOO_OLD;
      snprintf(rnnc_rt.driver_message, sizeof rnnc_rt.driver_message,
               "the CUDA driver (libcuda.so.1) lacks %s: it is too old (update the NVIDIA "
               "driver)",
               rnnc_driver_symbols[i]);
      return;
    }
    memcpy(&members[i], &symbol, sizeof symbol);
  }
  status.code = 0;
  result = d->Init(0);
  if (result == RNNC_CU_SUCCESS) result = d->DriverGetVersion(&rnnc_rt.driver_version);
  if (result == RNNC_CU_SUCCESS) result = d->DeviceGetCount(&count);
  if (result == RNNC_CU_SUCCESS && count == 0) result = RNNC_CU_ERROR_NO_DEVICE;
  if (result == RNNC_CU_SUCCESS) result = d->DeviceGet(&rnnc_rt.device, 0);
  if (result == RNNC_CU_SUCCESS)
    result =
        d->DeviceGetName(rnnc_rt.device_name, (int)sizeof rnnc_rt.device_name - 1, rnnc_rt.device);
  if (result == RNNC_CU_SUCCESS)
    result = d->DeviceGetAttribute(&major, RNNC_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                   rnnc_rt.device);
  if (result == RNNC_CU_SUCCESS)
    result = d->DeviceGetAttribute(&minor, RNNC_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                   rnnc_rt.device);
  if (result == RNNC_CU_SUCCESS)
    result = d->DeviceGetAttribute(&rnnc_rt.multiprocessors,
                                   RNNC_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, rnnc_rt.device);
  if (result == RNNC_CU_SUCCESS)
    result = d->DeviceGetAttribute(&rnnc_rt.cooperative,
                                   RNNC_CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, rnnc_rt.device);
  if (result != RNNC_CU_SUCCESS) {
    if (result == RNNC_CU_ERROR_NO_DEVICE)
      rnnc_fail(&status, RNNC_CUDA_NO_DEVICE, "no CUDA device");
    else
      rnnc_cu_fail(&status, result, "initializing the CUDA driver");
    rnnc_rt.driver_code = status.code;
    memcpy(rnnc_rt.driver_message, status.message, sizeof rnnc_rt.driver_message - 1);
    return;
  }
  rnnc_rt.compute_capability = major * 10 + minor;
}

static void rnnc_load_cublas(void) {
  static const char* const names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
  const char* chosen = getenv("RNNC_CUBLAS");
  void* library = NULL;
  void** members = (void**)&rnnc_rt.cublas;
  size_t i;
  if (chosen && *chosen) {
    library = dlopen(chosen, RTLD_NOW | RTLD_LOCAL);
  } else {
    for (i = 0; !library && i < sizeof names / sizeof *names; ++i)
      if ((library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL)) != NULL) chosen = names[i];
  }
  if (!library) {
    rnnc_rt.cublas_code = RNNC_CUDA_NO_CUBLAS;
    snprintf(rnnc_rt.cublas_message, sizeof rnnc_rt.cublas_message,
             "cuBLAS not found (%s): the program's matrix products need it (add its folder to "
             "LD_LIBRARY_PATH, or set RNNC_CUBLAS to the library's path)",
             chosen && *chosen ? chosen : "libcublas.so.13, .so.12 or .so");
    return;
  }
  snprintf(rnnc_rt.cublas_library, sizeof rnnc_rt.cublas_library, "%s", chosen);
  for (i = 0; i < sizeof rnnc_cublas_symbols / sizeof *rnnc_cublas_symbols; ++i) {
    void* symbol = dlsym(library, rnnc_cublas_symbols[i]);
    if (!symbol) {
      rnnc_rt.cublas_code = RNNC_CUDA_NO_CUBLAS;
      snprintf(rnnc_rt.cublas_message, sizeof rnnc_rt.cublas_message, "%s lacks %s", chosen,
               rnnc_cublas_symbols[i]);
      return;
    }
    memcpy(&members[i], &symbol, sizeof symbol);
  }
}

RNNC_RT_API RNNC_RT_UNUSED int rnnc_cuda_probe(int* compute_capability, rnnc_cuda_status* status) {
  pthread_once(&rnnc_driver_once, rnnc_load_driver);
  if (rnnc_rt.driver_code != RNNC_CUDA_OK)
    return rnnc_fail(status, rnnc_rt.driver_code, "%s", rnnc_rt.driver_message);
  if (compute_capability) *compute_capability = rnnc_rt.compute_capability;
  return RNNC_CUDA_OK;
}

/* ---- Sessions ---------------------------------------------------------------------------- */

struct rnnc_cuda_session {
  void* context;
  void* stream;
  rnnc_devptr error_flag;
  void* blas; /* the cuBLAS handle, made when a program needs it */
  rnnc_devptr blas_workspace;
  int tf32;
  char description[512];
};

RNNC_RT_API RNNC_RT_UNUSED void rnnc_cuda_session_destroy(rnnc_cuda_session* session) {
  const rnnc_driver* d = &rnnc_rt.driver;
  if (!session) return;
  if (session->context) d->CtxSetCurrent(session->context);
  if (session->blas) rnnc_rt.cublas.Destroy(session->blas);
  if (session->blas_workspace) d->MemFree(session->blas_workspace);
  if (session->error_flag) d->MemFree(session->error_flag);
  if (session->stream) d->StreamDestroy(session->stream);
  if (session->context) d->DevicePrimaryCtxRelease(rnnc_rt.device);
  free(session);
}

static int rnnc_session_open(rnnc_cuda_session* session, rnnc_cuda_status* status) {
  const rnnc_driver* d = &rnnc_rt.driver;
  RNNC_CU(d->DevicePrimaryCtxRetain(&session->context, rnnc_rt.device),
          "retaining the device's primary context");
  RNNC_CU(d->CtxSetCurrent(session->context), "making the CUDA context current");
  RNNC_CU(d->StreamCreate(&session->stream, RNNC_CU_STREAM_NON_BLOCKING), "creating a stream");
  RNNC_CU(d->MemAlloc(&session->error_flag, 4), "allocating the error flag");
  session->tf32 = rnnc_env_on("RNNC_CUDA_TF32");
  snprintf(session->description, sizeof session->description,
           "%s (sm_%d, %d SMs, cooperative launch %s), driver CUDA %d.%d, cuBLAS math: %s",
           rnnc_rt.device_name, rnnc_rt.compute_capability, rnnc_rt.multiprocessors,
           rnnc_rt.cooperative ? "yes" : "no", rnnc_rt.driver_version / 1000,
           rnnc_rt.driver_version % 1000 / 10,
           session->tf32 ? "TF32 tensor cores for f32 (RNNC_CUDA_TF32=1)"
                         : "full f32, TF32 off (RNNC_CUDA_TF32=1 turns it on)");
  return RNNC_CUDA_OK;
}

RNNC_RT_API RNNC_RT_UNUSED int rnnc_cuda_session_create(rnnc_cuda_session** out,
                                                        rnnc_cuda_status* status) {
  rnnc_cuda_session* session;
  int code = rnnc_cuda_probe(NULL, status);
  *out = NULL;
  if (code != RNNC_CUDA_OK) return code;
  session = (rnnc_cuda_session*)calloc(1, sizeof *session);
  if (!session) return rnnc_fail(status, RNNC_CUDA_OUT_OF_MEMORY, "out of host memory");
  code = rnnc_session_open(session, status);
  if (code != RNNC_CUDA_OK) {
    rnnc_cuda_session_destroy(session);
    return code;
  }
  *out = session;
  return RNNC_CUDA_OK;
}

RNNC_RT_API RNNC_RT_UNUSED const char* rnnc_cuda_session_describe(
    const rnnc_cuda_session* session) {
  return session ? session->description : "";
}

/* cuBLAS for the session: loaded, a handle on the session's stream with a fixed workspace (so
 * that it allocates nothing while a graph is captured) and the chosen math mode. */
static int rnnc_session_blas(rnnc_cuda_session* session, rnnc_cuda_status* status) {
  const rnnc_cublas* b = &rnnc_rt.cublas;
  int result;
  if (session->blas) return RNNC_CUDA_OK;
  pthread_once(&rnnc_cublas_once, rnnc_load_cublas);
  if (rnnc_rt.cublas_code != RNNC_CUDA_OK)
    return rnnc_fail(status, rnnc_rt.cublas_code, "%s", rnnc_rt.cublas_message);
  RNNC_CU(rnnc_rt.driver.MemAlloc(&session->blas_workspace, RNNC_CUBLAS_WORKSPACE),
          "allocating cuBLAS's workspace");
  if ((result = b->Create(&session->blas)) != 0) {
    session->blas = NULL;
    return rnnc_fail(status, result == 3 ? RNNC_CUDA_OUT_OF_MEMORY : RNNC_CUDA_DEVICE_ERROR,
                     "cublasCreate failed (cuBLAS status %d, %s)", result, rnnc_rt.cublas_library);
  }
  if ((result = b->SetStream(session->blas, session->stream)) != 0 ||
      (result = b->SetWorkspace(session->blas, (void*)(uintptr_t)session->blas_workspace,
                                RNNC_CUBLAS_WORKSPACE)) != 0 ||
      (result = b->SetMathMode(session->blas, session->tf32 ? RNNC_CUBLAS_TF32_TENSOR_OP_MATH
                                                            : RNNC_CUBLAS_DEFAULT_MATH)) != 0)
    return rnnc_fail(status, RNNC_CUDA_DEVICE_ERROR,
                     "setting up cuBLAS (stream, workspace, math mode) failed (status %d)", result);
  return RNNC_CUDA_OK;
}

RNNC_RT_API RNNC_RT_UNUSED int rnnc_cuda_alloc(rnnc_cuda_session* session, rnnc_devptr* out,
                                               int64_t bytes, const char* what,
                                               rnnc_cuda_status* status) {
  const rnnc_driver* d = &rnnc_rt.driver;
  char text[400];
  size_t size = (size_t)(bytes > 0 ? bytes : 1);
  *out = 0;
  snprintf(text, sizeof text, "allocating %lld bytes for %s", (long long)size, what);
  RNNC_CU(d->CtxSetCurrent(session->context), "making the CUDA context current");
  RNNC_CU(d->MemAlloc(out, size), text);
  RNNC_CU(d->MemsetD8Async(*out, 0, size, session->stream), text);
  return RNNC_CUDA_OK;
}

RNNC_RT_API RNNC_RT_UNUSED void rnnc_cuda_free(rnnc_cuda_session* session, rnnc_devptr memory) {
  if (!session || !memory) return;
  rnnc_rt.driver.CtxSetCurrent(session->context);
  rnnc_rt.driver.MemFree(memory);
}

RNNC_RT_API RNNC_RT_UNUSED int rnnc_cuda_upload(rnnc_cuda_session* session, rnnc_devptr to,
                                                const void* from, int64_t bytes, const char* what,
                                                rnnc_cuda_status* status) {
  char text[400];
  if (bytes <= 0) return RNNC_CUDA_OK;
  snprintf(text, sizeof text, "copying %s to the device", what);
  RNNC_CU(rnnc_rt.driver.CtxSetCurrent(session->context), "making the CUDA context current");
  RNNC_CU(rnnc_rt.driver.MemcpyHtoDAsync(to, from, (size_t)bytes, session->stream), text);
  return RNNC_CUDA_OK;
}

RNNC_RT_API RNNC_RT_UNUSED int rnnc_cuda_download(rnnc_cuda_session* session, void* to,
                                                  rnnc_devptr from, int64_t bytes, const char* what,
                                                  rnnc_cuda_status* status) {
  char text[400];
  if (bytes <= 0) return RNNC_CUDA_OK;
  snprintf(text, sizeof text, "copying %s from the device", what);
  RNNC_CU(rnnc_rt.driver.CtxSetCurrent(session->context), "making the CUDA context current");
  RNNC_CU(rnnc_rt.driver.MemcpyDtoHAsync(to, from, (size_t)bytes, session->stream), text);
  RNNC_CU(rnnc_rt.driver.StreamSynchronize(session->stream), text);
  return RNNC_CUDA_OK;
}

/* ---- Instances, replay, CUDA graphs, the plan as text -------------------------------------- */

#include "rnnc_cuda_replay.c"
