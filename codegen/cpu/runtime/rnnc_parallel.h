/* Parallel regions of the CPU backend's generated code: a small pool of worker threads that
 * run the parts of one generated matrix product beside the calling thread. Plain C (POSIX
 * threads), compiled into the rnnc CPU backend for the JIT and, as text, into every
 * ahead-of-time library (with RNNC_PARALLEL_NAME renaming the entry point so that two
 * libraries linked into one program do not clash). */
#ifndef RNNC_PARALLEL_H
#define RNNC_PARALLEL_H

#include <stdint.h>

#ifndef RNNC_PARALLEL_NAME
#define RNNC_PARALLEL_NAME rnnc_run_parallel
#endif
/* What precedes the entry point's declaration (a library makes it hidden). */
#ifndef RNNC_PARALLEL_API
#define RNNC_PARALLEL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** One part of a parallel region: computes part `part` of `parts` (0 <= part < parts) from
 * `context`; returns 0 or an error code. */
typedef int32_t (*rnnc_part_function)(void* context, int64_t part, int64_t parts);

/** Runs `body` for every part of a region: part 0 on the calling thread, the others on the
 * pool's workers at the same time, and returns when all are done: 0, or the error code of
 * the lowest failing part. The number of parts is the pool's (RNNC_THREADS, default: the
 * online processors, at most 4; 1 disables the workers). A region entered while another is
 * running (another thread's) runs all its parts on the calling thread. */
RNNC_PARALLEL_API int32_t RNNC_PARALLEL_NAME(rnnc_part_function body, void* context);

#ifdef __cplusplus
}
#endif

#endif
