/* See rnnc_parallel.h. Every participant (the caller and the workers) claims parts from a
 * shared counter until none is left, so a worker the scheduler has not run yet delays
 * nothing: the caller takes its part too. Workers wait for a region by spinning briefly on
 * its generation number (regions come every few microseconds inside a scan) and then sleep
 * on a condition variable. */
#include "rnnc_parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define RNNC_MAX_PARTS 4
/* Polls before a waiting worker sleeps, and before a waiting thread yields its core. */
#define RNNC_SPIN_POLLS 20000
#define RNNC_YIELD_POLLS 200

typedef struct {
  pthread_once_t once;
  int64_t parts; /* workers + 1 */
  pthread_t workers[RNNC_MAX_PARTS];
  atomic_flag busy; /* a region is being run */
  pthread_mutex_t lock;
  pthread_cond_t wake;
  atomic_int sleepers;
  atomic_ullong generation;
  atomic_int claimed[RNNC_MAX_PARTS]; /* per part: taken in the current region */
  atomic_llong done_parts;
  atomic_int stop;
  rnnc_part_function body;
  void* context;
  unsigned int fp_control; /* the caller's MXCSR (flush-to-zero, rounding), for the workers */
  int32_t errors[RNNC_MAX_PARTS];
} rnnc_pool;

static rnnc_pool pool = {.once = PTHREAD_ONCE_INIT,
                         .parts = 1,
                         .busy = ATOMIC_FLAG_INIT,
                         .lock = PTHREAD_MUTEX_INITIALIZER,
                         .wake = PTHREAD_COND_INITIALIZER};

static void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* The floating-point control word of this thread (MXCSR on x86; 0 elsewhere). */
static unsigned int fp_control(void) {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_stmxcsr();
#else
  return 0;
#endif
}

/* Makes this worker compute under the caller's floating-point control word: the generated
 * code flushes denormals to zero (they cost a microcode assist per operation on Intel cores),
 * and a region's parts must give the same numbers whichever thread runs them. */
static void adopt_fp_control(unsigned int wanted) {
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_ia32_stmxcsr() != wanted) __builtin_ia32_ldmxcsr(wanted);
#else
  (void)wanted;
#endif
}

/* Runs parts of the current region until none is left unclaimed: participant `self` first
 * takes part `self`, so that a product's column block (and the panel of weights it streams)
 * stays with the same core from one step to the next, then any part still free. */
static void claim_parts(int64_t self) {
  const int64_t parts = pool.parts;
  for (int64_t k = 0; k < parts; ++k) {
    const int64_t part = (self + k) % parts;
    if (atomic_exchange(&pool.claimed[part], 1)) continue;
    pool.errors[part] = pool.body(pool.context, part, parts);
    atomic_fetch_add(&pool.done_parts, 1);
  }
}

static void* worker_main(void* participant) {
  const int64_t self = (int64_t)(intptr_t)participant;
  unsigned long long seen = 0;
  for (;;) {
    unsigned long long now = atomic_load(&pool.generation);
    /* Spin, then yield while polling: another pool's idle threads (OpenBLAS's yield in a
     * loop after each call) and this one then share the core instead of taking turns of a
     * whole time slice. */
    for (int poll = 0; now == seen && poll < RNNC_SPIN_POLLS; ++poll) {
      if (poll < RNNC_YIELD_POLLS)
        relax();
      else
        sched_yield();
      now = atomic_load(&pool.generation);
    }
    if (now == seen) {
      pthread_mutex_lock(&pool.lock);
      atomic_fetch_add(&pool.sleepers, 1);
      while ((now = atomic_load(&pool.generation)) == seen && !atomic_load(&pool.stop))
        pthread_cond_wait(&pool.wake, &pool.lock);
      atomic_fetch_sub(&pool.sleepers, 1);
      pthread_mutex_unlock(&pool.lock);
    }
    if (atomic_load(&pool.stop)) return NULL;
    seen = now;
    adopt_fp_control(pool.fp_control);
    claim_parts(self);
  }
}

static void start_pool(void) {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  int64_t parts = online > 0 ? (online < RNNC_MAX_PARTS ? online : RNNC_MAX_PARTS) : 1;
  const char* setting = getenv("RNNC_THREADS");
  if (setting && *setting) {
    long wanted = strtol(setting, NULL, 10);
    parts = wanted < 1 ? 1 : wanted > RNNC_MAX_PARTS ? RNNC_MAX_PARTS : wanted;
  }
  /* No region has started yet: every part counts as taken. */
  for (int64_t part = 0; part < RNNC_MAX_PARTS; ++part) atomic_store(&pool.claimed[part], 1);
  int64_t started = 1;
  for (int64_t part = 1; part < parts; ++part) {
    if (pthread_create(&pool.workers[part], NULL, worker_main, (void*)(intptr_t)part) != 0) break;
    started = part + 1;
  }
  pool.parts = started;
}

/* Stops the workers when the program (or the library holding this copy) goes away, so no
 * thread runs code that is being unmapped. */
__attribute__((destructor)) static void stop_pool(void) {
  if (pool.parts <= 1) return;
  pthread_mutex_lock(&pool.lock);
  atomic_store(&pool.stop, 1);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.lock);
  for (int64_t part = 1; part < pool.parts; ++part) pthread_join(pool.workers[part], NULL);
  pool.parts = 1;
}

int32_t RNNC_PARALLEL_NAME(rnnc_part_function body, void* context) {
  pthread_once(&pool.once, start_pool);
  if (pool.parts <= 1 || atomic_flag_test_and_set(&pool.busy)) return body(context, 0, 1);
  const int64_t parts = pool.parts;
  /* The region's description first, then its counters, then its announcement: a worker
   * that claims a part has seen the body it belongs to. */
  pool.body = body;
  pool.context = context;
  pool.fp_control = fp_control();
  atomic_store(&pool.done_parts, 0);
  for (int64_t part = 0; part < parts; ++part) atomic_store(&pool.claimed[part], 0);
  atomic_fetch_add(&pool.generation, 1);
  if (atomic_load(&pool.sleepers) > 0) {
    pthread_mutex_lock(&pool.lock);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
  }
  claim_parts(0);
  for (int poll = 0; atomic_load(&pool.done_parts) < parts; ++poll)
    if (poll < RNNC_YIELD_POLLS)
      relax();
    else
      sched_yield();
  int32_t first = 0;
  for (int64_t part = 0; part < parts && first == 0; ++part) first = pool.errors[part];
  atomic_flag_clear(&pool.busy);
  return first;
}
