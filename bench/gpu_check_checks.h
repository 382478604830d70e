/* gpu_check_checks.h: the table of library checks (checks.c, generated) the checker runs. */
#ifndef GPU_CHECK_CHECKS_H
#define GPU_CHECK_CHECKS_H

/* One library: its name, its check function (0 ok, 1 a failed check, 2 create failed, 3 no
 * CUDA driver or device), whether it has references, whether it is timed. */
typedef struct {
  const char* name;
  int (*run)(const char* folder, int check, double min_time);
  int has_references;
  int timed;
} gc_check;

extern const gc_check gc_checks[];

#endif
