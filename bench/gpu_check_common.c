/* gpu_check_common.c: see gpu_check_common.h. */
#define _POSIX_C_SOURCE 200809L
#include "gpu_check_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int read_exact(FILE* file, void* data, size_t bytes) {
  return bytes == 0 || fread(data, 1, bytes, file) == bytes;
}

static uint64_t little(const unsigned char* bytes, int count) {
  uint64_t value = 0;
  int i;
  for (i = 0; i < count; ++i) value |= (uint64_t)bytes[i] << (8 * i);
  return value;
}

/* Reads a uint32 length and that many characters (at most 4096) as a new string. */
static char* read_name(FILE* file) {
  unsigned char header[4];
  uint32_t length;
  char* name;
  if (fread(header, 1, 4, file) != 4) return NULL;
  length = (uint32_t)little(header, 4);
  if (length > 4096 || !(name = (char*)calloc(length + 1, 1))) return NULL;
  if (!read_exact(file, name, length)) {
    free(name);
    return NULL;
  }
  return name;
}

/* One record's bytes after its header: un-planed, and XORed with the generated base. */
static unsigned char* read_data(FILE* file, uint64_t bytes, int width, const char* base,
                                double scale) {
  unsigned char* stored = (unsigned char*)malloc(bytes + 1);
  unsigned char* data = (unsigned char*)malloc(bytes + 1);
  uint64_t elements = bytes / (uint64_t)width, e, i;
  int plane;
  if (!stored || !data || !read_exact(file, stored, bytes)) {
    free(stored);
    free(data);
    return NULL;
  }
  for (plane = 0; plane < width; ++plane)
    for (e = 0; e < elements; ++e) data[e * (uint64_t)width + plane] = stored[plane * elements + e];
  if (base) {
    gc_generate(base, stored, elements, width == 8 ? 1 : 0, scale);
    for (i = 0; i < bytes; ++i) data[i] ^= stored[i];
  }
  free(stored);
  return data;
}

int gc_load(gc_records* records, const char* folder, const char* name) {
  char path[4096];
  FILE* file;
  unsigned char header[10];
  int malformed = 0;
  memset(records, 0, sizeof *records);
  snprintf(path, sizeof path, "%s/%s.ref", folder, name);
  if (!(file = fopen(path, "rb"))) return 0;
  for (;;) {
    size_t i = records->count;
    char *record_name, *base = NULL;
    double scale = 0;
    uint64_t bytes;
    int width, next = fgetc(file);
    if (next == EOF || ungetc(next, file) == EOF) break;
    malformed = 1;
    if (!(record_name = read_name(file))) break;
    if (!read_exact(file, header, 10)) {
      free(record_name);
      break;
    }
    bytes = little(header, 8);
    width = header[8];
    if ((width != 1 && width != 4 && width != 8) || bytes % (uint64_t)width != 0 || header[9] > 1 ||
        (header[9] == 1 && (!(base = read_name(file)) || !read_exact(file, header, 8)))) {
      free(record_name);
      free(base);
      break;
    }
    if (base) {
      uint64_t bits = little(header, 8);
      memcpy(&scale, &bits, sizeof scale);
    }
    records->names = (char**)realloc(records->names, (i + 1) * sizeof(char*));
    records->data = (unsigned char**)realloc(records->data, (i + 1) * sizeof(unsigned char*));
    records->bytes = (uint64_t*)realloc(records->bytes, (i + 1) * sizeof(uint64_t));
    if (!records->names || !records->data || !records->bytes ||
        !(records->data[i] = read_data(file, bytes, width, base, scale))) {
      free(record_name);
      free(base);
      break;
    }
    free(base);
    records->names[i] = record_name;
    records->bytes[i] = bytes;
    records->count = i + 1;
    malformed = 0;
  }
  fclose(file);
  return malformed;
}

void gc_free(gc_records* records) {
  size_t i;
  for (i = 0; i < records->count; ++i) {
    free(records->names[i]);
    free(records->data[i]);
  }
  free(records->names);
  free(records->data);
  free(records->bytes);
  memset(records, 0, sizeof *records);
}

const void* gc_find(const gc_records* records, const char* name, uint64_t bytes) {
  size_t i;
  for (i = 0; i < records->count; ++i)
    if (strcmp(records->names[i], name) == 0 && records->bytes[i] == bytes) return records->data[i];
  return NULL;
}

void gc_generate(const char* name, void* data, uint64_t count, int kind, double scale) {
  uint64_t state = 14695981039346656037ull, i;
  const double step = scale / 8388608.0; /* scale / 2^23 */
  const unsigned char* c;
  if (!data || (kind != 0 && kind != 1)) return;
  for (c = (const unsigned char*)name; *c; ++c) {
    state ^= *c;
    state *= 1099511628211ull;
  }
  if (state == 0) state = 1;
  for (i = 0; i < count; ++i) {
    double value;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    value = (double)((int64_t)(state >> 40) - ((int64_t)1 << 23)) * step;
    if (kind == 0)
      ((float*)data)[i] = (float)value;
    else
      ((double*)data)[i] = value;
  }
}

void* gc_input(const gc_records* records, const char* name, uint64_t bytes, int kind) {
  const void* stored = gc_find(records, name, bytes);
  unsigned char* data = (unsigned char*)calloc(bytes ? bytes : 1, 1);
  if (!data) return NULL;
  if (stored)
    memcpy(data, stored, bytes);
  else
    gc_generate(name, data, bytes / (kind == 1 ? 8 : 4), kind, 1.0);
  return data;
}

void gc_set_parameter(const gc_records* records, const char* name, void* target, uint64_t bytes) {
  const void* stored = gc_find(records, name, bytes);
  if (target && stored) memcpy(target, stored, bytes);
}

int gc_compare(const char* library, const gc_records* records, const char* name, const void* data,
               int kind, uint64_t count) {
  const size_t size = kind == 1 ? 8 : 4;
  const void* want = gc_find(records, name, count * size);
  const double tolerance = kind == 0 ? 1e-4 : kind == 1 ? 1e-9 : 0;
  double worst = 0;
  uint64_t i, at = 0;
  if (!want) {
    printf("{\"check\": \"%s %s\", \"ok\": false, \"why\": \"no reference\"}\n", library, name);
    return 1;
  }
  for (i = 0; i < count; ++i) {
    double a, b, error;
    if (kind == 0) {
      a = ((const float*)data)[i];
      b = ((const float*)want)[i];
    } else if (kind == 1) {
      a = ((const double*)data)[i];
      b = ((const double*)want)[i];
    } else {
      a = ((const int32_t*)data)[i];
      b = ((const int32_t*)want)[i];
    }
    error = isnan(a) != isnan(b) ? INFINITY
            : isnan(a)           ? 0
                                 : fabs(a - b) / (fabs(b) > 1 ? fabs(b) : 1);
    if (error > worst) worst = error, at = i;
  }
  printf(
      "{\"check\": \"%s %s\", \"ok\": %s, \"max_error\": %.3g, \"at\": %llu, \"tolerance\": %g}\n",
      library, name, worst <= tolerance ? "true" : "false", worst, (unsigned long long)at,
      tolerance);
  return worst <= tolerance ? 0 : 1;
}

void gc_report_error(const char* library, const char* call, int code, const char* message) {
  printf("{\"check\": \"%s %s\", \"ok\": false, \"code\": %d, \"why\": \"", library, call, code);
  for (; message && *message; ++message)
    if (*message == '"' || *message == '\\')
      printf("\\%c", *message);
    else if ((unsigned char)*message >= 0x20)
      putchar(*message);
  printf("\"}\n");
}

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void gc_timing_start(gc_timing* timing, double min_seconds) {
  memset(timing, 0, sizeof *timing);
  timing->min_seconds = min_seconds;
  timing->warmup = 3;
  timing->started = now_seconds();
  timing->last = -1;
}

int gc_timing_next(gc_timing* timing) {
  const double t = now_seconds();
  if (timing->last >= 0) {
    if (timing->calls >= timing->warmup) {
      if (timing->reps == timing->capacity) {
        timing->capacity = timing->capacity ? 2 * timing->capacity : 64;
        timing->times = (double*)realloc(timing->times, (size_t)timing->capacity * sizeof(double));
      }
      timing->times[timing->reps++] = t - timing->last;
      timing->total += t - timing->last;
    }
    ++timing->calls;
  }
  timing->last = t;
  return timing->reps < 5 || timing->total < timing->min_seconds;
}

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

void gc_timing_report(gc_timing* timing, const char* library, const char* cell, const char* config,
                      const char* mode, long long E, long long H, long long B, long long T) {
  double median = 0, fastest = 0;
  if (timing->reps > 0) {
    qsort(timing->times, (size_t)timing->reps, sizeof(double), by_value);
    median = timing->times[timing->reps / 2];
    fastest = timing->times[0];
  }
  printf(
      "{\"impl\": \"rnnc-cuda\", \"library\": \"%s\", \"cell\": \"%s\", \"config\": \"%s\", "
      "\"E\": %lld, \"H\": %lld, \"B\": %lld, \"T\": %lld, \"mode\": \"%s\", \"ms\": %.6f, "
      "\"min_ms\": %.6f, \"reps\": %d}\n",
      library, cell, config, E, H, B, T, mode, median * 1e3, fastest * 1e3, timing->reps);
  fflush(stdout);
  free(timing->times);
  timing->times = NULL;
}
