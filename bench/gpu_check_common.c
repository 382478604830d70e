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

int gc_load(gc_records* records, const char* folder, const char* name) {
  char path[4096];
  FILE* file;
  unsigned char header[8];
  memset(records, 0, sizeof *records);
  snprintf(path, sizeof path, "%s/%s.ref", folder, name);
  if (!(file = fopen(path, "rb"))) return 0;
  while (fread(header, 1, 4, file) == 4) {
    uint32_t length = (uint32_t)little(header, 4);
    size_t i = records->count;
    records->names = (char**)realloc(records->names, (i + 1) * sizeof(char*));
    records->data = (unsigned char**)realloc(records->data, (i + 1) * sizeof(unsigned char*));
    records->bytes = (uint64_t*)realloc(records->bytes, (i + 1) * sizeof(uint64_t));
    if (!records->names || !records->data || !records->bytes || length > 4096) break;
    records->names[i] = (char*)calloc(length + 1, 1);
    if (!read_exact(file, records->names[i], length) || !read_exact(file, header, 8)) break;
    records->bytes[i] = little(header, 8);
    records->data[i] = (unsigned char*)malloc(records->bytes[i] + 1);
    if (!records->data[i] || !read_exact(file, records->data[i], records->bytes[i])) break;
    records->count = i + 1;
  }
  fclose(file);
  return 0;
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
    if (strcmp(records->names[i], name) == 0 && records->bytes[i] == bytes)
      return records->data[i];
  return NULL;
}

void* gc_input(const gc_records* records, const char* name, uint64_t bytes, int is_float) {
  const void* stored = gc_find(records, name, bytes);
  unsigned char* data = (unsigned char*)calloc(bytes ? bytes : 1, 1);
  static uint64_t state = 88172645463325252ull;
  uint64_t i;
  if (!data) return NULL;
  if (stored) {
    memcpy(data, stored, bytes);
  } else if (is_float) {
    float* values = (float*)data;
    for (i = 0; i < bytes / sizeof(float); ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      values[i] = (float)((double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
  }
  return data;
}

void gc_set_parameter(const gc_records* records, const char* name, void* target, uint64_t bytes,
                      int random) {
  const void* stored = gc_find(records, name, bytes);
  uint64_t i;
  if (!target) return;
  if (stored) {
    memcpy(target, stored, bytes);
  } else if (random) {
    float* values = (float*)gc_input(records, "", bytes, 1);
    if (!values) return;
    for (i = 0; i < bytes / sizeof(float); ++i) ((float*)target)[i] = 0.08f * values[i];
    free(values);
  }
}

int gc_compare(const char* library, const gc_records* records, const char* name,
               const void* data, int kind, uint64_t count) {
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
    error = isnan(a) != isnan(b) ? INFINITY : isnan(a) ? 0 : fabs(a - b) / (fabs(b) > 1 ? fabs(b) : 1);
    if (error > worst) worst = error, at = i;
  }
  printf("{\"check\": \"%s %s\", \"ok\": %s, \"max_error\": %.3g, \"at\": %llu, \"tolerance\": %g}\n",
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

void gc_timing_report(gc_timing* timing, const char* library, const char* cell,
                      const char* config, const char* mode, long long E, long long H,
                      long long B, long long T) {
  double median = 0, fastest = 0;
  if (timing->reps > 0) {
    qsort(timing->times, (size_t)timing->reps, sizeof(double), by_value);
    median = timing->times[timing->reps / 2];
    fastest = timing->times[0];
  }
  printf("{\"impl\": \"rnnc-cuda\", \"library\": \"%s\", \"cell\": \"%s\", \"config\": \"%s\", "
         "\"E\": %lld, \"H\": %lld, \"B\": %lld, \"T\": %lld, \"mode\": \"%s\", \"ms\": %.6f, "
         "\"min_ms\": %.6f, \"reps\": %d}\n",
         library, cell, config, E, H, B, T, mode, median * 1e3, fastest * 1e3, timing->reps);
  fflush(stdout);
  free(timing->times);
  timing->times = NULL;
}
