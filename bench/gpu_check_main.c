/* gpu_check_main.c: the checker of a `scripts/gpu-check` folder. Runs every library's check
 * (checks.c): references compared (f32 1e-4 relative), then timing. Prints JSON lines.
 * Usage: checker [--min-time S] [--check-only] [--only NAME]... Exit status: 0 all passed,
 * 1 a check failed, 2 no CUDA driver or device (said plainly). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check_checks.h"

int main(int argc, char** argv) {
  double min_time = 0.5;
  int i, failed = 0, ran = 0;
  const char* only = NULL;
  char folder[4096];
  for (i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
      min_time = atof(argv[++i]);
    else if (strcmp(argv[i], "--check-only") == 0)
      min_time = 0;
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr, "usage: checker [--min-time S] [--check-only] [--only NAME]\n");
      return 2;
    }
  }
  for (i = 0; gc_checks[i].name; ++i) {
    int result;
    if (only && strcmp(only, gc_checks[i].name) != 0) continue;
    snprintf(folder, sizeof folder, "libs/%s", gc_checks[i].name);
    result = gc_checks[i].run(folder, gc_checks[i].has_references, gc_checks[i].timed ? min_time : 0);
    ++ran;
    if (result == 3) {
      fprintf(stderr, "gpu-check: no CUDA driver or device here (see the message above): "
                      "nothing can run\n");
      return 2;
    }
    if (result != 0) {
      ++failed;
      fprintf(stderr, "gpu-check: %s FAILED\n", gc_checks[i].name);
    }
  }
  fprintf(stderr, "gpu-check: %d of %d libraries passed\n", ran - failed, ran);
  return failed ? 1 : 0;
}
