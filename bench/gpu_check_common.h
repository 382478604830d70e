/* gpu_check_common.h: what every generated check_NAME.c of a `scripts/gpu-check` folder shares:
 * reference records, comparison, timing, result lines. Plain C99. */
#ifndef GPU_CHECK_COMMON_H
#define GPU_CHECK_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The named arrays of one library's reference file NAME.ref (all integers little-endian), per
 * record: uint32 name length, the name, uint64 byte count N, uint8 width W (1, 4 or 8), uint8
 * base (0 or 1), when base is 1: uint32 base name length, the base name, float64 scale; then
 * the N bytes as W byte planes (byte 0 of every W-byte element, then byte 1, ...), XORed when
 * base is 1 with the values gc_generate makes for the base name at that scale (f64 for W = 8,
 * else f32): a parameter after a training step, against its generated start. Records are
 * held decoded. */
typedef struct {
  size_t count;
  char** names;
  unsigned char** data;
  uint64_t* bytes;
} gc_records;

/* Reads FOLDER/NAME.ref; 0 on success (a missing file is an empty set), 1 for a malformed one. */
int gc_load(gc_records* records, const char* folder, const char* name);
void gc_free(gc_records* records);
/* The record `name` when it has `bytes` bytes, else NULL. */
const void* gc_find(const gc_records* records, const char* name, uint64_t bytes);
/* Fills `count` elements at `data` (kind 0 f32, 1 f64; nothing for NULL or another kind) with
 * the generated values of the array `name`: a xorshift64 generator (x ^= x << 13, x ^= x >> 7,
 * x ^= x << 17) seeded with the 64-bit FNV-1a hash of the name gives per element
 * v = (x >> 40) - 2^23, and the element is v * scale / 2^23 (exact for a power of two). The
 * prepare tool computed the references from the same values (gpu_check_models.h). */
void gc_generate(const char* name, void* data, uint64_t count, int kind, double scale);
/* An input array of `bytes` bytes: the record `name` when there is one, else for kind 0 (f32)
 * or 1 (f64) the generated values of `name` at scale 1, else zeros. Free with free(). */
void* gc_input(const gc_records* records, const char* name, uint64_t bytes, int kind);
/* Copies the record `name` to `target` (`bytes` bytes, from NAME_parameter) when there is one;
 * else leaves it as it is. */
void gc_set_parameter(const gc_records* records, const char* name, void* target, uint64_t bytes);
/* Compares `count` elements (kind 0 f32, 1 f64, 2 i32) with the record `name`: the largest
 * |a - b| / max(1, |b|) must be at most 1e-4 for f32, 1e-9 for f64, 0 for i32. Prints a
 * result line; returns 1 when it fails (or the record is missing), else 0. */
int gc_compare(const char* library, const gc_records* records, const char* name, const void* data,
               int kind, uint64_t count);
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
void gc_timing_report(gc_timing* timing, const char* library, const char* cell, const char* config,
                      const char* mode, long long E, long long H, long long B, long long T);

#endif
