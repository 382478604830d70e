/* gpu_check_common.h: what every generated check_NAME.c of a `scripts/gpu-check` folder shares:
 * reference records, comparison, timing, result lines. Plain C99. */
#ifndef GPU_CHECK_COMMON_H
#define GPU_CHECK_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The named arrays of one library's reference file NAME.ref (all integers little-endian):
 * per record uint32 name length, the name, uint64 byte count, the bytes. */
typedef struct {
  size_t count;
  char** names;
  unsigned char** data;
  uint64_t* bytes;
} gc_records;

/* Reads FOLDER/NAME.ref; 0 on success (a missing file is an empty set). */
int gc_load(gc_records* records, const char* folder, const char* name);
void gc_free(gc_records* records);
/* The record `name` when it has `bytes` bytes, else NULL. */
const void* gc_find(const gc_records* records, const char* name, uint64_t bytes);
/* An input array of `bytes` bytes: the record `name` when there is one, else floats (is_float)
 * uniform in [-1, 1) from a fixed generator, or zeros. Free with free(). */
void* gc_input(const gc_records* records, const char* name, uint64_t bytes, int is_float);
/* Sets a parameter (`bytes` bytes at `target`, from NAME_parameter) to the record `name`, or
 * when there is none and `random` is set, to uniform values in [-0.08, 0.08). */
void gc_set_parameter(const gc_records* records, const char* name, void* target, uint64_t bytes,
                      int random);
/* Compares `count` elements (kind 0 f32, 1 f64, 2 i32) with the record `name`: the largest
 * |a - b| / max(1, |b|) must be at most 1e-4 for f32, 1e-9 for f64, 0 for i32. Prints a
 * result line; returns 1 when it fails (or the record is missing), else 0. */
int gc_compare(const char* library, const gc_records* records, const char* name,
               const void* data, int kind, uint64_t count);
/* Prints the failure of a call with its code and message. */
void gc_report_error(const char* library, const char* call, int code, const char* message);

/* Timing: warm-up calls, then timed calls until min_reps were made and min_seconds passed. */
typedef struct {
  double min_seconds, started, last, total;
  int warmup, calls, reps, capacity;
  double* times;
} gc_timing;
void gc_timing_start(gc_timing* timing, double min_seconds);
/* Call before every call: returns 0 when enough were timed. */
int gc_timing_next(gc_timing* timing);
/* Prints {"impl": "rnnc-cuda", "cell", "config", "E", "H", "B", "T", "mode", "ms", ...}. */
void gc_timing_report(gc_timing* timing, const char* library, const char* cell,
                      const char* config, const char* mode, long long E, long long H,
                      long long B, long long T);

#endif
