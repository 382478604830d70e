/* rnnc_cuda_replay.c: the second half of the host runtime (rnnc_cuda_runtime.h), included by
 * rnnc_cuda_runtime.c and compiled only as part of it: instances (module, arena, constants,
 * persistent launches), the replay of a plan, CUDA graph capture, runs, and the plan as text. */
#ifndef RNNC_CUDA_RUNTIME_C
#error "rnnc_cuda_replay.c is compiled as part of rnnc_cuda_runtime.c, which includes it"
#endif

/* ---- Instances --------------------------------------------------------------------------- */

struct rnnc_cuda_instance {
  rnnc_cuda_session* session;
  const rnnc_cuda_program* program;
  void* module;
  void** functions;
  rnnc_devptr arena, constants, table;
  rnnc_devptr* externals;
  long long* counters;
  unsigned char* args; /* RnncArgs: arena, externals, constants, error, t[num_loops] */
  size_t args_bytes;
  unsigned char* cooperative; /* per launch: run this persistent launch as one kernel */
  int graphs;                 /* capture a graph (RNNC_CUDA_GRAPHS is not 0, capture works) */
  void* graph_exec;
  char mode[512];
};

RNNC_RT_API RNNC_RT_UNUSED void rnnc_cuda_instance_destroy(rnnc_cuda_instance* instance) {
  const rnnc_driver* d = &rnnc_rt.driver;
  if (!instance) return;
  d->CtxSetCurrent(instance->session->context);
  if (instance->graph_exec) d->GraphExecDestroy(instance->graph_exec);
  if (instance->module) d->ModuleUnload(instance->module);
  if (instance->arena) d->MemFree(instance->arena);
  if (instance->constants) d->MemFree(instance->constants);
  if (instance->table) d->MemFree(instance->table);
  free(instance->functions);
  free(instance->externals);
  free(instance->counters);
  free(instance->args);
  free(instance->cooperative);
  free(instance);
}

/* RNNC_CUDA_IMAGE_DIR/NAME.cubin, else .ptx (NUL-terminated), or NULL. */
static unsigned char* rnnc_read_image(const char* name, int* is_cubin) {
  const char* folder = getenv("RNNC_CUDA_IMAGE_DIR");
  static const char* const extensions[] = {".cubin", ".ptx"};
  int e;
  if (!folder || !*folder) return NULL;
  for (e = 0; e < 2; ++e) {
    char path[4096];
    FILE* file;
    long size;
    unsigned char* data;
    snprintf(path, sizeof path, "%s/%s%s", folder, name, extensions[e]);
    if (!(file = fopen(path, "rb"))) continue;
    if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 0 ||
        fseek(file, 0, SEEK_SET) != 0 || !(data = (unsigned char*)malloc((size_t)size + 1))) {
      fclose(file);
      continue;
    }
    if (fread(data, 1, (size_t)size, file) != (size_t)size) {
      free(data);
      fclose(file);
      continue;
    }
    data[size] = 0;
    fclose(file);
    *is_cubin = e == 0;
    return data;
  }
  return NULL;
}

/* The module: a CUBIN for this device when there is one, else the PTX (JIT-compiled by the
 * driver for this device). A driver that cannot load either is named too old. */
static int rnnc_load_module(rnnc_cuda_instance* instance, rnnc_cuda_status* status) {
  const rnnc_cuda_program* p = instance->program;
  const rnnc_driver* d = &rnnc_rt.driver;
  int cc = rnnc_rt.compute_capability, result = -1, is_cubin = 0;
  const char* loaded = "";
  unsigned char* image = rnnc_read_image(p->name, &is_cubin);
  if (image) {
    result = d->ModuleLoadData(&instance->module, image);
    loaded = is_cubin ? "the CUBIN from RNNC_CUDA_IMAGE_DIR" : "the PTX from RNNC_CUDA_IMAGE_DIR";
    free(image);
  } else {
    if (p->cubin_bytes > 0 && cc / 10 == p->cubin_arch / 10 && cc % 10 >= p->cubin_arch % 10) {
      result = d->ModuleLoadData(&instance->module, p->cubin);
      loaded = "the embedded CUBIN";
    }
    if (result != RNNC_CU_SUCCESS && p->ptx && *p->ptx) {
      int first = result;
      result = d->ModuleLoadData(&instance->module, p->ptx);
      loaded = "the embedded PTX";
      if (result != RNNC_CU_SUCCESS && first != -1 && first != RNNC_CU_SUCCESS) result = first;
    }
  }
  if (result == RNNC_CU_SUCCESS) {
    snprintf(instance->mode, sizeof instance->mode, "%s", loaded);
    return RNNC_CUDA_OK;
  }
  instance->module = NULL;
  if (result == -1) return rnnc_fail(status, RNNC_CUDA_INVALID, "%s: no GPU code to load", p->name);
  switch (result) {
    case RNNC_CU_ERROR_UNSUPPORTED_PTX_VERSION:
    case RNNC_CU_ERROR_INVALID_IMAGE:
    case RNNC_CU_ERROR_INVALID_PTX:
    case RNNC_CU_ERROR_NO_BINARY_FOR_GPU:
    case RNNC_CU_ERROR_JIT_COMPILER_NOT_FOUND:
    case RNNC_CU_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE:
    case RNNC_CU_ERROR_SYSTEM_DRIVER_MISMATCH:
      if (result == RNNC_CU_ERROR_NO_BINARY_FOR_GPU && cc < p->cubin_arch)
        return rnnc_fail(status, RNNC_CUDA_DRIVER_TOO_OLD,
                         "%s: the GPU code is for compute capability %d.%d or newer; this "
                         "device (%s) is sm_%d (%s)",
                         p->name, p->cubin_arch / 10, p->cubin_arch % 10, rnnc_rt.device_name, cc,
                         rnnc_cu_name(result));
      return rnnc_fail(status, RNNC_CUDA_DRIVER_TOO_OLD,
                       "%s: the CUDA driver (CUDA %d.%d) cannot load the GPU code, compiled by "
                       "CUDA %d.%d: %s (%s); update the NVIDIA driver, or compile the code with "
                       "this machine's nvcc and set RNNC_CUDA_IMAGE_DIR",
                       p->name, rnnc_rt.driver_version / 1000, rnnc_rt.driver_version % 1000 / 10,
                       p->toolkit_version / 1000, p->toolkit_version % 1000 / 10,
                       rnnc_cu_name(result), rnnc_cu_text(result));
    default:
      return rnnc_cu_fail(status, result, "loading the GPU code");
  }
}

static rnnc_devptr rnnc_buffer_address(const rnnc_cuda_instance* instance, int32_t id) {
  const rnnc_cuda_buffer* buffer = &instance->program->buffers[id];
  rnnc_devptr at = 0;
  switch (buffer->placement) {
    case RNNC_PLACE_EXTERNAL:
      return instance->externals[buffer->external_index];
    case RNNC_PLACE_CONSTANT:
      return instance->constants + (rnnc_devptr)buffer->offset;
    case RNNC_PLACE_ARENA:
      return instance->arena + (rnnc_devptr)buffer->offset;
    case RNNC_PLACE_VIEW:
      at = rnnc_buffer_address(instance, buffer->base) + (rnnc_devptr)buffer->offset;
      if (buffer->step_stride != 0)
        at += (rnnc_devptr)(instance->counters[buffer->loop_id] * buffer->step_stride);
      return at;
  }
  return 0;
}

static rnnc_devptr rnnc_address(const rnnc_cuda_instance* instance,
                                const rnnc_cuda_address* where) {
  rnnc_devptr at = rnnc_buffer_address(instance, where->buffer) + (rnnc_devptr)where->extra;
  if (where->t_stride != 0)
    at += (rnnc_devptr)(instance->counters[where->loop_id] * where->t_stride);
  return at;
}

/* RnncArgs as the kernels see it, with the loop counters as they are now. */
static void** rnnc_kernel_parameters(rnnc_cuda_instance* instance, void** parameters) {
  rnnc_devptr pointers[4];
  pointers[0] = instance->arena;
  pointers[1] = instance->table;
  pointers[2] = instance->constants;
  pointers[3] = instance->session->error_flag;
  memcpy(instance->args, pointers, sizeof pointers);
  memcpy(instance->args + sizeof pointers, instance->counters,
         sizeof(long long) * (size_t)instance->program->num_loops);
  parameters[0] = instance->args;
  return parameters;
}

static int rnnc_gemm(rnnc_cuda_instance* instance, const rnnc_cuda_launch* g,
                     rnnc_cuda_status* status) {
  const rnnc_cublas* b = &rnnc_rt.cublas;
  /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T. */
  const int m = (int)g->m, n = (int)g->n, k = (int)g->k;
  const int op_a = g->transpose_a ? RNNC_CUBLAS_OP_T : RNNC_CUBLAS_OP_N;
  const int op_b = g->transpose_b ? RNNC_CUBLAS_OP_T : RNNC_CUBLAS_OP_N;
  const int ldb = g->transpose_b ? k : n, lda = g->transpose_a ? m : k;
  const rnnc_devptr a = rnnc_buffer_address(instance, g->a);
  const rnnc_devptr bb = rnnc_buffer_address(instance, g->b);
  const rnnc_devptr c = rnnc_buffer_address(instance, g->c);
  int result;
  if (g->f64) {
    const double one = 1, zero = 0;
    result =
        b->Dgemm(instance->session->blas, op_b, op_a, n, m, k, &one, (const double*)(uintptr_t)bb,
                 ldb, g->k * g->n, (const double*)(uintptr_t)a, lda, g->m * g->k, &zero,
                 (double*)(uintptr_t)c, n, g->m * g->n, (int)g->batch);
  } else {
    const float one = 1, zero = 0;
    result = b->Sgemm(instance->session->blas, op_b, op_a, n, m, k, &one,
                      (const float*)(uintptr_t)bb, ldb, g->k * g->n, (const float*)(uintptr_t)a,
                      lda, g->m * g->k, &zero, (float*)(uintptr_t)c, n, g->m * g->n, (int)g->batch);
  }
  if (result != 0)
    return rnnc_fail(status, RNNC_CUDA_DEVICE_ERROR, "cuBLAS %s failed (status %d) for %s",
                     g->f64 ? "dgemm" : "sgemm", result, g->node);
  return RNNC_CUDA_OK;
}

/* Queues launches [first, first + count) on the session's stream. */
static int rnnc_replay(rnnc_cuda_instance* instance, int32_t first, int32_t count,
                       rnnc_cuda_status* status) {
  const rnnc_driver* d = &rnnc_rt.driver;
  const rnnc_cuda_program* p = instance->program;
  void* stream = instance->session->stream;
  void* parameters[1];
  int32_t i;
  int64_t step;
  int code;
  for (i = first; i < first + count; ++i) {
    const rnnc_cuda_launch* launch = &p->launches[i];
    switch (launch->kind) {
      case RNNC_LAUNCH_KERNEL:
        if (launch->threads > 0) {
          int64_t blocks = (launch->threads + RNNC_BLOCK - 1) / RNNC_BLOCK;
          if (blocks > RNNC_MAX_BLOCKS) blocks = RNNC_MAX_BLOCKS;
          /* shared_bytes: a generated product kernel's tiles (under 48 KiB: no opt-in). */
          RNNC_CU(d->LaunchKernel(instance->functions[launch->kernel], (unsigned)blocks, 1, 1,
                                  RNNC_BLOCK, 1, 1, (unsigned)launch->shared_bytes, stream,
                                  rnnc_kernel_parameters(instance, parameters), NULL),
                  p->kernels[launch->kernel]);
        }
        break;
      case RNNC_LAUNCH_GEMM:
        if ((code = rnnc_gemm(instance, launch, status)) != RNNC_CUDA_OK) return code;
        break;
      case RNNC_LAUNCH_COPY:
        if (launch->bytes > 0)
          RNNC_CU(d->MemcpyDtoDAsync(rnnc_address(instance, &launch->to),
                                     rnnc_address(instance, &launch->from), (size_t)launch->bytes,
                                     stream),
                  "a device copy");
        break;
      case RNNC_LAUNCH_LOOP:
        for (step = 0; step < launch->trip_count; ++step) {
          instance->counters[launch->loop_id] =
              launch->reverse ? launch->trip_count - 1 - step : step;
          code = rnnc_replay(instance, launch->body, launch->body_count, status);
          if (code != RNNC_CUDA_OK) return code;
        }
        instance->counters[launch->loop_id] = 0;
        break;
      case RNNC_LAUNCH_PERSISTENT:
        if (instance->cooperative[i]) {
          RNNC_CU(d->LaunchCooperativeKernel(
                      instance->functions[launch->kernel], (unsigned)launch->blocks, 1, 1,
                      (unsigned)launch->block_threads, 1, 1, (unsigned)launch->shared_bytes, stream,
                      rnnc_kernel_parameters(instance, parameters)),
                  p->kernels[launch->kernel]);
        } else {
          code = rnnc_replay(instance, launch->body, launch->body_count, status);
          if (code != RNNC_CUDA_OK) return code;
        }
        break;
      default:
        return rnnc_fail(status, RNNC_CUDA_INVALID, "%s: launch %d has unknown kind %d", p->name,
                         (int)i, (int)launch->kind);
    }
  }
  return RNNC_CUDA_OK;
}

/* Decides, per persistent launch, whether it runs as one cooperative kernel: the device
 * supports cooperative launches and keeps all its blocks resident at once. */
static int rnnc_plan_persistent(rnnc_cuda_instance* instance, rnnc_cuda_status* status) {
  const rnnc_driver* d = &rnnc_rt.driver;
  const rnnc_cuda_program* p = instance->program;
  int32_t i, used = 0, fallback = 0;
  const int allowed = !rnnc_env_off("RNNC_CUDA_PERSISTENT") && rnnc_rt.cooperative;
  for (i = 0; i < p->num_launches; ++i) {
    const rnnc_cuda_launch* launch = &p->launches[i];
    int per_sm = 0;
    void* function;
    if (launch->kind != RNNC_LAUNCH_PERSISTENT) continue;
    function = instance->functions[launch->kernel];
    if (allowed && launch->shared_bytes > 48 * 1024 &&
        d->FuncSetAttribute(function, RNNC_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                            (int)launch->shared_bytes) != RNNC_CU_SUCCESS) {
      ++fallback;
      continue;
    }
    if (allowed &&
        d->OccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, function, (int)launch->block_threads,
                                                     (size_t)launch->shared_bytes) ==
            RNNC_CU_SUCCESS &&
        (int64_t)per_sm * rnnc_rt.multiprocessors >= launch->blocks) {
      instance->cooperative[i] = 1;
      ++used;
    } else {
      ++fallback;
    }
  }
  (void)status;
  if (used + fallback > 0) {
    size_t length = strlen(instance->mode);
    snprintf(instance->mode + length, sizeof instance->mode - length,
             ", %d persistent kernel(s), %d persistent loop(s) as ordinary launches%s", (int)used,
             (int)fallback,
             rnnc_env_off("RNNC_CUDA_PERSISTENT") ? " (RNNC_CUDA_PERSISTENT=0)"
             : !rnnc_rt.cooperative               ? " (no cooperative launch)"
                                                  : "");
  }
  return RNNC_CUDA_OK;
}

static int rnnc_instance_open(rnnc_cuda_instance* instance, const rnnc_devptr* externals,
                              rnnc_cuda_status* status) {
  const rnnc_driver* d = &rnnc_rt.driver;
  const rnnc_cuda_program* p = instance->program;
  rnnc_cuda_session* session = instance->session;
  int32_t i, has_gemm = 0;
  int code;
  char what[300];
  size_t loops = (size_t)(p->num_loops > 0 ? p->num_loops : 1);
  instance->functions = (void**)calloc((size_t)p->num_kernels + 1, sizeof(void*));
  instance->externals = (rnnc_devptr*)calloc((size_t)p->num_externals + 1, sizeof(rnnc_devptr));
  instance->counters = (long long*)calloc(loops, sizeof(long long));
  instance->args_bytes = 4 * sizeof(rnnc_devptr) + loops * sizeof(long long);
  instance->args = (unsigned char*)calloc(instance->args_bytes, 1);
  instance->cooperative = (unsigned char*)calloc((size_t)p->num_launches + 1, 1);
  if (!instance->functions || !instance->externals || !instance->counters || !instance->args ||
      !instance->cooperative)
    return rnnc_fail(status, RNNC_CUDA_OUT_OF_MEMORY, "out of host memory");
  if (p->num_externals > 0)
    memcpy(instance->externals, externals, sizeof(rnnc_devptr) * (size_t)p->num_externals);
  for (i = 0; i < p->num_launches; ++i) has_gemm |= p->launches[i].kind == RNNC_LAUNCH_GEMM;
  RNNC_CU(d->CtxSetCurrent(session->context), "making the CUDA context current");
  if (has_gemm && (code = rnnc_session_blas(session, status)) != RNNC_CUDA_OK) return code;
  if ((code = rnnc_load_module(instance, status)) != RNNC_CUDA_OK) return code;
  for (i = 0; i < p->num_kernels; ++i) {
    snprintf(what, sizeof what, "finding kernel %s in the module of %s", p->kernels[i], p->name);
    RNNC_CU(d->ModuleGetFunction(&instance->functions[i], instance->module, p->kernels[i]), what);
  }
  snprintf(what, sizeof what, "the arena of %s", p->name);
  if ((code = rnnc_cuda_alloc(session, &instance->arena, p->arena_bytes, what, status)) != 0)
    return code;
  snprintf(what, sizeof what, "the constants of %s", p->name);
  if ((code = rnnc_cuda_alloc(session, &instance->constants, p->constant_bytes, what, status)) ||
      (code = rnnc_cuda_upload(session, instance->constants, p->constants, p->constant_bytes, what,
                               status)))
    return code;
  snprintf(what, sizeof what, "the table of external buffers of %s", p->name);
  if ((code = rnnc_cuda_alloc(session, &instance->table,
                              (int64_t)sizeof(rnnc_devptr) * p->num_externals, what, status)) ||
      (code = rnnc_cuda_upload(session, instance->table, instance->externals,
                               (int64_t)sizeof(rnnc_devptr) * p->num_externals, what, status)))
    return code;
  RNNC_CU(d->StreamSynchronize(session->stream), what);
  instance->graphs = !rnnc_env_off("RNNC_CUDA_GRAPHS");
  if ((code = rnnc_plan_persistent(instance, status)) != RNNC_CUDA_OK) return code;
  if (!instance->graphs) {
    size_t length = strlen(instance->mode);
    snprintf(instance->mode + length, sizeof instance->mode - length,
             ", launches (RNNC_CUDA_GRAPHS=0)");
  }
  return RNNC_CUDA_OK;
}

RNNC_RT_API RNNC_RT_UNUSED int rnnc_cuda_instance_create(rnnc_cuda_instance** out,
                                                         rnnc_cuda_session* session,
                                                         const rnnc_cuda_program* program,
                                                         const rnnc_devptr* externals,
                                                         rnnc_cuda_status* status) {
  rnnc_cuda_instance* instance;
  int code;
  *out = NULL;
  if (!session || !program)
    return rnnc_fail(status, RNNC_CUDA_INVALID, "a null session or program");
  instance = (rnnc_cuda_instance*)calloc(1, sizeof *instance);
  if (!instance) return rnnc_fail(status, RNNC_CUDA_OUT_OF_MEMORY, "out of host memory");
  instance->session = session;
  instance->program = program;
  code = rnnc_instance_open(instance, externals, status);
  if (code != RNNC_CUDA_OK) {
    rnnc_cuda_instance_destroy(instance);
    return code;
  }
  *out = instance;
  return RNNC_CUDA_OK;
}

/* Captures the whole plan once into a graph. Where capture or instantiation fails (an old
 * driver, a launch kind that cannot be captured), the instance replays launch by launch and
 * says why in its mode; only a failure of the launches themselves is an error. */
static int rnnc_capture(rnnc_cuda_instance* instance, rnnc_cuda_status* status) {
  const rnnc_driver* d = &rnnc_rt.driver;
  void* stream = instance->session->stream;
  void* graph = NULL;
  int result, code;
  size_t length = strlen(instance->mode);
  result = d->StreamBeginCapture(stream, RNNC_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  if (result != RNNC_CU_SUCCESS) {
    instance->graphs = 0;
    snprintf(instance->mode + length, sizeof instance->mode - length,
             ", launches (stream capture failed: %s)", rnnc_cu_name(result));
    return RNNC_CUDA_OK;
  }
  code = rnnc_replay(instance, 0, instance->program->num_top, status);
  result = d->StreamEndCapture(stream, &graph);
  if (code == RNNC_CUDA_OK && result == RNNC_CU_SUCCESS)
    result = d->GraphInstantiateWithFlags(&instance->graph_exec, graph, 0);
  if (graph) d->GraphDestroy(graph);
  if (code == RNNC_CUDA_OK && result == RNNC_CU_SUCCESS) {
    snprintf(instance->mode + length, sizeof instance->mode - length, ", one CUDA graph");
    return RNNC_CUDA_OK;
  }
  instance->graph_exec = NULL;
  instance->graphs = 0;
  snprintf(instance->mode + length, sizeof instance->mode - length,
           ", launches (graph capture failed: %s)",
           code != RNNC_CUDA_OK ? status->message : rnnc_cu_name(result));
  return RNNC_CUDA_OK;
}

RNNC_RT_API RNNC_RT_UNUSED int rnnc_cuda_instance_run(rnnc_cuda_instance* instance,
                                                      rnnc_cuda_status* status) {
  const rnnc_driver* d = &rnnc_rt.driver;
  rnnc_cuda_session* session = instance->session;
  const rnnc_cuda_program* p = instance->program;
  int code, flag = 0;
  char what[300];
  RNNC_CU(d->CtxSetCurrent(session->context), "making the CUDA context current");
  RNNC_CU(d->MemsetD8Async(session->error_flag, 0, 4, session->stream), "clearing the error flag");
  if (instance->graphs && !instance->graph_exec &&
      (code = rnnc_capture(instance, status)) != RNNC_CUDA_OK)
    return code;
  if (instance->graph_exec) {
    RNNC_CU(d->GraphLaunch(instance->graph_exec, session->stream), "launching the CUDA graph");
  } else {
    if ((code = rnnc_replay(instance, 0, p->num_top, status)) != RNNC_CUDA_OK) return code;
  }
  snprintf(what, sizeof what, "running %s on the device", p->name);
  RNNC_CU(d->StreamSynchronize(session->stream), what);
  RNNC_CU(d->MemcpyDtoHAsync(&flag, session->error_flag, sizeof flag, session->stream),
          "reading the error flag");
  RNNC_CU(d->StreamSynchronize(session->stream), "reading the error flag");
  if (flag != 0) {
    if (flag < 1 || flag > p->num_errors)
      return rnnc_fail(status, RNNC_CUDA_DEVICE_ERROR, "%s: a kernel set unknown error code %d",
                       p->name, flag);
    rnnc_fail(status, RNNC_CUDA_PROGRAM_ERROR, "%s", p->errors[flag - 1]);
    status->program_error = flag;
    return RNNC_CUDA_PROGRAM_ERROR;
  }
  return RNNC_CUDA_OK;
}

RNNC_RT_API RNNC_RT_UNUSED const char* rnnc_cuda_instance_mode(const rnnc_cuda_instance* instance) {
  return instance ? instance->mode : "";
}

/* ---- The plan as text (cuda::print_plan's format) ---------------------------------------- */

typedef struct {
  char* out;
  size_t capacity, length;
} rnnc_text;

static void rnnc_append(rnnc_text* text, const char* format, ...) {
  va_list arguments;
  int written;
  char* at = text->length < text->capacity ? text->out + text->length : NULL;
  size_t room = text->length < text->capacity ? text->capacity - text->length : 0;
  va_start(arguments, format);
  written = vsnprintf(at, room, format, arguments);
  va_end(arguments);
  if (written > 0) text->length += (size_t)written;
}

static void rnnc_append_address(rnnc_text* text, const rnnc_cuda_address* address) {
  rnnc_append(text, "b%d", (int)address->buffer);
  if (address->extra) rnnc_append(text, "+%lld", (long long)address->extra);
  if (address->t_stride)
    rnnc_append(text, "+t%d*%lld", (int)address->loop_id, (long long)address->t_stride);
}

static void rnnc_print_launches(const rnnc_cuda_program* p, int32_t first, int32_t count,
                                const char* indent, rnnc_text* text) {
  char inner[256];
  int32_t i;
  snprintf(inner, sizeof inner, "%s  ", indent);
  for (i = first; i < first + count; ++i) {
    const rnnc_cuda_launch* l = &p->launches[i];
    switch (l->kind) {
      case RNNC_LAUNCH_KERNEL:
        rnnc_append(text, "%skernel %s threads=%lld", indent, p->kernels[l->kernel],
                    (long long)l->threads);
        if (l->shared_bytes) rnnc_append(text, " shared=%lld", (long long)l->shared_bytes);
        break;
      case RNNC_LAUNCH_GEMM:
        rnnc_append(text, "%sgemm %s m=%lld n=%lld k=%lld batch=%lld a=b%d%s b=b%d%s c=b%d", indent,
                    l->f64 ? "dgemm" : "sgemm", (long long)l->m, (long long)l->n, (long long)l->k,
                    (long long)l->batch, (int)l->a, l->transpose_a ? "^T" : "", (int)l->b,
                    l->transpose_b ? "^T" : "", (int)l->c);
        break;
      case RNNC_LAUNCH_COPY:
        rnnc_append(text, "%scopy %lld bytes ", indent, (long long)l->bytes);
        rnnc_append_address(text, &l->from);
        rnnc_append(text, " -> ");
        rnnc_append_address(text, &l->to);
        break;
      case RNNC_LAUNCH_LOOP:
        rnnc_append(text, "%sloop t%d T=%lld%s (%s)\n", indent, (int)l->loop_id,
                    (long long)l->trip_count, l->reverse ? " reversed" : "", l->node);
        rnnc_print_launches(p, l->body, l->body_count, inner, text);
        rnnc_append(text, "%send loop t%d", indent, (int)l->loop_id);
        break;
      case RNNC_LAUNCH_PERSISTENT:
        rnnc_append(text, "%spersistent %s blocks=%lldx%lld shared=%lld (%s); fallback:\n", indent,
                    p->kernels[l->kernel], (long long)l->blocks, (long long)l->block_threads,
                    (long long)l->shared_bytes, l->node);
        rnnc_print_launches(p, l->body, l->body_count, inner, text);
        rnnc_append(text, "%send persistent %s", indent, p->kernels[l->kernel]);
        break;
      default:
        rnnc_append(text, "%s? kind %d", indent, (int)l->kind);
        break;
    }
    if (l->kind != RNNC_LAUNCH_LOOP && l->kind != RNNC_LAUNCH_PERSISTENT && l->node && *l->node)
      rnnc_append(text, "  (%s)", l->node);
    rnnc_append(text, "\n");
  }
}

RNNC_RT_API RNNC_RT_UNUSED size_t rnnc_cuda_print_plan(const rnnc_cuda_program* program, char* out,
                                                       size_t capacity) {
  rnnc_text text;
  text.out = out;
  text.capacity = out ? capacity : 0;
  text.length = 0;
  if (out && capacity > 0) out[0] = '\0';
  rnnc_append(&text, "launch plan: %d kernels, arena %lld bytes, constant pool %lld bytes\n",
              (int)program->num_kernels, (long long)program->arena_bytes,
              (long long)program->constant_bytes);
  rnnc_print_launches(program, 0, program->num_top, "  ", &text);
  return text.length;
}
