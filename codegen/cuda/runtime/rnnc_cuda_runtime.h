/* rnnc_cuda_runtime.h: the host runtime that replays a rendered CUDA program (plain C99).
 *
 * One implementation serves both the JIT backend (codegen/cuda/cuda_backend.cpp links it as C)
 * and every ahead-of-time GPU library (`rnnc compile --target cuda` copies it next to NAME.c,
 * which includes it with RNNC_RT_API defined as `static`, so two libraries in one program do
 * not clash). It loads the CUDA driver (libcuda.so.1) and cuBLAS with dlopen, loads a
 * program's CUBIN (or its PTX on other devices), allocates its device memory, and replays its
 * launch plan from static tables: kernels, cuBLAS gemms, device copies, loops, persistent
 * (cooperative) kernels. The first run of a program is captured into a CUDA graph, which
 * later runs replay. Every failure comes back as a code and a message, never an abort.
 *
 * Environment: RNNC_CUDA_GRAPHS=0 replays launch by launch instead of through a graph;
 * RNNC_CUDA_PERSISTENT=0 runs persistent loops as ordinary loops; RNNC_CUDA_TF32=1 lets
 * cuBLAS use TF32 tensor cores for f32 products (off by default: full f32); RNNC_CUBLAS names
 * the cuBLAS library to load; RNNC_CUDA_IMAGE_DIR names a folder holding PROGRAM.cubin or
 * PROGRAM.ptx to load instead of the embedded code (a rebuild with the local nvcc). */
#ifndef RNNC_CUDA_RUNTIME_H
#define RNNC_CUDA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifndef RNNC_RT_API
#define RNNC_RT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Where a buffer lives (ir::Placement). */
enum {
  RNNC_PLACE_EXTERNAL = 0, /* the external table's slot external_index */
  RNNC_PLACE_CONSTANT = 1, /* the constant pool, at offset */
  RNNC_PLACE_ARENA = 2,    /* the arena, at offset */
  RNNC_PLACE_VIEW = 3      /* buffer base + offset (+ loop counter loop_id x step_stride) */
};

/* The kinds of launch (cuda::Launch::Kind). */
enum {
  RNNC_LAUNCH_KERNEL = 0,
  RNNC_LAUNCH_GEMM = 1,
  RNNC_LAUNCH_COPY = 2,
  RNNC_LAUNCH_LOOP = 3,
  RNNC_LAUNCH_PERSISTENT = 4
};

/* Result codes of the runtime's functions. */
enum {
  RNNC_CUDA_OK = 0,
  RNNC_CUDA_NO_DRIVER = 1,      /* libcuda.so.1 missing, or lacking a function */
  RNNC_CUDA_NO_DEVICE = 2,      /* a driver but no device */
  RNNC_CUDA_DRIVER_TOO_OLD = 3, /* the driver cannot load the compiled code */
  RNNC_CUDA_NO_CUBLAS = 4,      /* cuBLAS missing (a program with products needs it) */
  RNNC_CUDA_OUT_OF_MEMORY = 5,  /* host or device memory */
  RNNC_CUDA_DEVICE_ERROR = 6,   /* a CUDA or cuBLAS call failed, or a kernel faulted */
  RNNC_CUDA_PROGRAM_ERROR = 7,  /* bad data found by a kernel: see program_error */
  RNNC_CUDA_INVALID = 8         /* a bad argument or table */
};

/* A device address. */
typedef unsigned long long rnnc_devptr;

/* One buffer of a program (ir::Buffer). */
typedef struct {
  int32_t placement;      /* RNNC_PLACE_* */
  int32_t external_index; /* external */
  int32_t base;           /* view: the buffer viewed */
  int32_t loop_id;        /* view: the loop whose counter moves it, or -1 */
  int64_t offset;         /* arena, constant, view: byte offset */
  int64_t step_stride;    /* view: bytes per step of loop_id */
} rnnc_cuda_buffer;

/* buffer's address + extra + counter of loop_id x t_stride (cuda::DeviceAddress). */
typedef struct {
  int32_t buffer;
  int32_t loop_id;
  int64_t extra;
  int64_t t_stride;
} rnnc_cuda_address;

/* One launch (cuda::Launch). Loops and persistent launches own body_count launches from
 * index body of the program's launch table. */
typedef struct {
  int32_t kind;   /* RNNC_LAUNCH_* */
  int32_t kernel; /* kernel, persistent: index into the kernel names */
  int64_t threads;
  /* gemm: c[p] = op(a[p]) x op(b[p]), row-major, p < batch */
  int32_t f64, transpose_a, transpose_b, a, b, c;
  int64_t m, n, k, batch;
  /* copy */
  rnnc_cuda_address from, to;
  int64_t bytes;
  /* persistent; shared_bytes also for kernels (a generated product kernel's tiles) */
  int64_t blocks, block_threads, shared_bytes;
  /* loop, persistent */
  int32_t loop_id, reverse, body, body_count;
  int64_t trip_count;
  const char* node; /* the node computed, for messages ("" for none) */
} rnnc_cuda_launch;

/* A rendered, compiled program, as static tables. */
typedef struct {
  const char* name; /* for messages and RNNC_CUDA_IMAGE_DIR/NAME.cubin */
  const char* const* kernels;
  int32_t num_kernels;
  const rnnc_cuda_launch* launches;
  int32_t num_launches;
  int32_t num_top; /* the plan: launches [0, num_top) */
  const rnnc_cuda_buffer* buffers;
  int32_t num_buffers;
  int32_t num_externals;
  int32_t num_loops;
  int64_t arena_bytes;
  const unsigned char* constants; /* the constant pool's bytes */
  int64_t constant_bytes;
  const char* const* errors; /* the message of a kernel's error code c is errors[c - 1] */
  int32_t num_errors;
  const unsigned char* cubin; /* for compute capability cubin_arch (90: sm_90), or none */
  int64_t cubin_bytes;
  int32_t cubin_arch;
  const char* ptx;         /* NUL-terminated PTX (JIT-compiled by the driver elsewhere) */
  int32_t toolkit_version; /* CUDA version of the compiler (13000 for 13.0) */
} rnnc_cuda_program;

/* The outcome of a call that failed: a code and a sentence. */
typedef struct {
  int code;          /* RNNC_CUDA_* */
  int program_error; /* RNNC_CUDA_PROGRAM_ERROR: the kernel's code (1-based) */
  char message[1024];
} rnnc_cuda_status;

/* A device, its stream, cuBLAS handle and error flag: what one context uses. */
typedef struct rnnc_cuda_session rnnc_cuda_session;
/* One program loaded in a session: its module, arena, constants, graph. */
typedef struct rnnc_cuda_instance rnnc_cuda_instance;

/* Loads the driver (once per process) and checks for a device: RNNC_CUDA_OK, or
 * NO_DRIVER / NO_DEVICE with the reason. Fills compute_capability (90) when not null. */
RNNC_RT_API int rnnc_cuda_probe(int* compute_capability, rnnc_cuda_status* status);
/* A session on device 0: the primary context, a stream, the error flag. */
RNNC_RT_API int rnnc_cuda_session_create(rnnc_cuda_session** out, rnnc_cuda_status* status);
/* Frees a session (null allowed); its instances must be destroyed first. */
RNNC_RT_API void rnnc_cuda_session_destroy(rnnc_cuda_session* session);
/* Device memory of `bytes` bytes (at least 1), zeroed; `what` names it in messages. */
RNNC_RT_API int rnnc_cuda_alloc(rnnc_cuda_session* session, rnnc_devptr* out, int64_t bytes,
                                const char* what, rnnc_cuda_status* status);
/* Frees device memory (0 allowed). */
RNNC_RT_API void rnnc_cuda_free(rnnc_cuda_session* session, rnnc_devptr memory);
/* Host to device, queued on the session's stream (the host array may change on return). */
RNNC_RT_API int rnnc_cuda_upload(rnnc_cuda_session* session, rnnc_devptr to, const void* from,
                                 int64_t bytes, const char* what, rnnc_cuda_status* status);
/* Device to host; complete on return. */
RNNC_RT_API int rnnc_cuda_download(rnnc_cuda_session* session, void* to, rnnc_devptr from,
                                   int64_t bytes, const char* what, rnnc_cuda_status* status);
/* Loads `program` into `session`: module, kernels, cuBLAS when it has products, arena,
 * constants, and the table of its externals (num_externals device addresses, copied). */
RNNC_RT_API int rnnc_cuda_instance_create(rnnc_cuda_instance** out, rnnc_cuda_session* session,
                                          const rnnc_cuda_program* program,
                                          const rnnc_devptr* externals, rnnc_cuda_status* status);
/* Frees an instance (null allowed). */
RNNC_RT_API void rnnc_cuda_instance_destroy(rnnc_cuda_instance* instance);
/* Runs the program once and waits for it: through its CUDA graph (captured on the first run)
 * unless graphs are off. Bad data gives RNNC_CUDA_PROGRAM_ERROR with the kernel's message. */
RNNC_RT_API int rnnc_cuda_instance_run(rnnc_cuda_instance* instance, rnnc_cuda_status* status);
/* How the instance runs: "graph", "launches" (and why), persistent kernels used. */
RNNC_RT_API const char* rnnc_cuda_instance_mode(const rnnc_cuda_instance* instance);
/* The device and settings: "NVIDIA H200 (sm_90), driver 13.0, cuBLAS math: f32 (TF32 off)". */
RNNC_RT_API const char* rnnc_cuda_session_describe(const rnnc_cuda_session* session);
/* The plan as text, exactly as cuda::print_plan prints it; returns the length it needs (like
 * snprintf: the text is cut at capacity - 1 characters). */
RNNC_RT_API size_t rnnc_cuda_print_plan(const rnnc_cuda_program* program, char* out,
                                        size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* RNNC_CUDA_RUNTIME_H */
