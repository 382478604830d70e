/* The lecture's diabetes classifier trained from plain C through a library that
 * `rnnc compile` made ahead of time (examples/models/diabetes.forward.rnn and .train.rnn,
 * compiled at build time by rnnc_add_model; see docs/aot.md). Nothing of rnnc is linked:
 * only libdiabetes_model.a, OpenBLAS and libm.
 *
 * The data handling is examples/diabetes's, redone in C: the same 20% held out (rnnc's
 * seeded xoshiro256** shuffle, seed 2024), shuffled minibatches of 32 (seed 7, a new
 * shuffle each epoch, the last partial batch dropped), SGD with lr 0.1 (in the compiled
 * training step). The initial weights are the model files' (seed 0 where examples/diabetes
 * uses 1), so the accuracies are close to examples/diabetes's, not equal.
 *
 * Usage: c_diabetes [path/to/diabetes.csv] [epochs]
 * Prints progress, then `RESULT train_accuracy=... test_accuracy=... epochs=...`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diabetes_model.h"

#define FEATURES 8
#define COLUMNS 9
#define MAX_ROWS 10000
#define BATCH DIABETES_MODEL_TRAIN_INPUT_X_DIM0

/* rnnc's random stream (runtime/random.h): xoshiro256** seeded by splitmix64. */
typedef struct {
  uint64_t state[4];
} Rng;

static uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static Rng rng_seeded(uint64_t seed) {
  Rng rng;
  int i;
  for (i = 0; i < 4; ++i) rng.state[i] = splitmix64(&seed);
  return rng;
}

static uint64_t rng_next(Rng* rng) {
  uint64_t* s = rng->state;
  const uint64_t result = rotate_left(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotate_left(s[3], 45);
  return result;
}

/* Uniform in [0, n), without modulo bias (Rng::below). */
static uint64_t rng_below(Rng* rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t draw = rng_next(rng);
    if (draw >= threshold) return draw % n;
  }
}

/* Fisher-Yates, as Rng::shuffle. */
static void shuffle(int* items, int count, uint64_t seed) {
  Rng rng = rng_seeded(seed);
  int i;
  for (i = count; i > 1; --i) {
    int j = (int)rng_below(&rng, (uint64_t)i), swap = items[i - 1];
    items[i - 1] = items[j];
    items[j] = swap;
  }
}

/* The seed of an epoch's shuffle (runtime/trainer.cpp). */
static uint64_t epoch_seed(uint64_t seed, int epoch) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(epoch + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Reads the CSV: 8 features and the label per line. Returns the row count, or -1. */
static int read_csv(const char* path, float* table) {
  FILE* file = fopen(path, "r");
  char line[1024];
  int rows = 0;
  if (!file) {
    fprintf(stderr, "c_diabetes: cannot open %s\n", path);
    return -1;
  }
  while (fgets(line, sizeof line, file)) {
    char* cursor = line;
    int column;
    if (line[0] == '\n' || line[0] == '\0') continue;
    if (rows == MAX_ROWS) {
      fprintf(stderr, "c_diabetes: %s: more than %d rows\n", path, MAX_ROWS);
      fclose(file);
      return -1;
    }
    for (column = 0; column < COLUMNS; ++column) {
      char* end;
      table[rows * COLUMNS + column] = strtof(cursor, &end);
      if (end == cursor || (column < COLUMNS - 1 && *end != ',')) {
        fprintf(stderr, "c_diabetes: %s:%d: expected %d numbers\n", path, rows + 1, COLUMNS);
        fclose(file);
        return -1;
      }
      cursor = end + 1;
    }
    ++rows;
  }
  fclose(file);
  return rows;
}

/* Copies rows `order[first..first+count)` into a batch, padding with copies of the first. */
static void fill_batch(const float* table, const int* order, int first, int count, float* x,
                       float* y) {
  int i, f;
  for (i = 0; i < BATCH; ++i) {
    int row = order[first + (i < count ? i : 0)];
    for (f = 0; f < FEATURES; ++f) x[i * FEATURES + f] = table[row * COLUMNS + f];
    y[i] = table[row * COLUMNS + FEATURES];
  }
}

static void check(int code, const char* what) {
  if (code != DIABETES_MODEL_OK) {
    fprintf(stderr, "c_diabetes: %s: %s\n", what, diabetes_model_error_message(code));
    exit(1);
  }
}

/* The fraction of `rows` examples (listed in `order`) classified correctly by the forward. */
static double accuracy(diabetes_model_context* model, const float* table, const int* order,
                       int rows) {
  float x[DIABETES_MODEL_FORWARD_INPUT_X_SIZE], y[BATCH];
  float probability[DIABETES_MODEL_FORWARD_OUTPUT_PROBABILITY_SIZE];
  int first, i, correct = 0;
  for (first = 0; first < rows; first += BATCH) {
    int count = rows - first < BATCH ? rows - first : BATCH;
    fill_batch(table, order, first, count, x, y);
    check(diabetes_model_forward(model, x, probability), "forward");
    for (i = 0; i < count; ++i) correct += (probability[i] > 0.5f) == (y[i] > 0.5f);
  }
  return (double)correct / rows;
}

int main(int argc, char** argv) {
  static float table[MAX_ROWS * COLUMNS];
  static int order[MAX_ROWS], train_order[MAX_ROWS];
  const char* path = argc > 1 ? argv[1] : RNNC_DATA_DIR "/diabetes/diabetes.csv";
  long epochs = argc > 2 ? strtol(argv[2], NULL, 10) : 600;
  int rows, test_rows, train_rows, i, epoch;
  diabetes_model_context* model;

  if (argc > 3 || epochs <= 0 || epochs > 1000000) {
    fprintf(stderr, "usage: c_diabetes [path/to/diabetes.csv] [epochs]\n");
    return 2;
  }
  rows = read_csv(path, table);
  if (rows < 0) return 1;
  for (i = 0; i < rows; ++i) order[i] = i;
  shuffle(order, rows, 2024);
  test_rows = (int)(0.2 * rows + 0.5);
  train_rows = rows - test_rows;
  if (train_rows < BATCH) {
    fprintf(stderr, "c_diabetes: %d training examples do not fill a batch\n", train_rows);
    return 1;
  }
  printf("c_diabetes: %d training and %d test examples; %d parameters, %d bytes\n", train_rows,
         test_rows, DIABETES_MODEL_NUM_PARAMETERS, DIABETES_MODEL_PARAMETER_BYTES);

  model = diabetes_model_create();
  if (!model) {
    fprintf(stderr, "c_diabetes: out of memory\n");
    return 1;
  }
  for (epoch = 1; epoch <= epochs; ++epoch) {
    float x[DIABETES_MODEL_TRAIN_INPUT_X_SIZE], y[DIABETES_MODEL_TRAIN_INPUT_Y_SIZE];
    float correct[DIABETES_MODEL_TRAIN_OUTPUT_CORRECT_SIZE], loss;
    double loss_sum = 0;
    int batches = 0, first;
    for (i = 0; i < train_rows; ++i) train_order[i] = order[test_rows + i];
    shuffle(train_order, train_rows, epoch_seed(7, epoch));
    for (first = 0; first + BATCH <= train_rows; first += BATCH) {
      fill_batch(table, train_order, first, BATCH, x, y);
      check(diabetes_model_train_step(model, x, y, correct, &loss), "train_step");
      loss_sum += loss;
      ++batches;
    }
    if (epoch == 1 || epoch % (epochs >= 10 ? epochs / 10 : 1) == 0)
      printf("epoch %d: train loss %.6f\n", epoch, loss_sum / batches);
  }
  {
    double train_accuracy = accuracy(model, table, order + test_rows, train_rows);
    double test_accuracy = accuracy(model, table, order, test_rows);
    printf("RESULT train_accuracy=%.4f test_accuracy=%.4f epochs=%ld\n", train_accuracy,
           test_accuracy, epochs);
  }
  diabetes_model_destroy(model);
  return 0;
}
