#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace rnnc {

/// A set of examples stored as named columns: tensors whose first dimension is the example
/// index (features [N, 8], labels [N, 1] or [N], lengths [N], ...). Batches gather rows of
/// every column into Bindings whose names are the graph's input names.
class Dataset {
 public:
  Dataset() = default;

  /// Adds column `name`. Its first dimension must equal that of the columns already present;
  /// throws rnnc::Error otherwise, for a scalar, or for a name already used.
  void add_column(const std::string& name, Tensor column);
  /// The column named `name`; throws rnnc::Error when there is none.
  const Tensor& column(const std::string& name) const;
  bool has_column(const std::string& name) const;
  /// Column names, sorted.
  std::vector<std::string> column_names() const;
  /// Number of examples (0 without columns).
  int64_t size() const { return size_; }

  /// The examples at `rows` (in that order; repeats allowed). Throws rnnc::Error on an index
  /// out of range.
  Dataset subset(const std::vector<int64_t>& rows) const;
  /// A seeded random split: the first dataset holds round(fraction * size()) examples drawn
  /// without replacement (a shuffle of all indices by Rng(seed)), the second the rest, both
  /// in shuffled order. The same seed gives the same split everywhere. fraction in [0, 1].
  std::pair<Dataset, Dataset> split(double fraction, uint64_t seed) const;

  /// The rows `rows` of every column gathered into a batch of exactly `batch_size` examples:
  /// row i of each tensor is example rows[i], and rows past rows.size() repeat example rows[0]
  /// (padding that is valid input for any model: sequence lengths >= 1, indices in range; the
  /// caller knows how many rows are real). Throws rnnc::Error when rows is empty or longer
  /// than batch_size, or an index is out of range.
  Bindings batch(const std::vector<int64_t>& rows, int64_t batch_size) const;

 private:
  std::vector<std::pair<std::string, Tensor>> columns_;
  int64_t size_ = 0;
};

/// The example indices [0, num_examples) cut into batches of `batch_size`, in order, or in a
/// random order (one Rng(seed) shuffle) when `shuffle`. The last batch is shorter when
/// batch_size does not divide num_examples; `drop_last` leaves it out. Every index appears
/// exactly once over the batches unless dropped.
std::vector<std::vector<int64_t>> make_batches(int64_t num_examples, int64_t batch_size,
                                               bool shuffle, uint64_t seed, bool drop_last);

/// The columns [begin, end) of a rank-2 `table` [rows, columns] as a new [rows, end - begin]
/// tensor of the same dtype (e.g. the features and the label of a CSV). Throws rnnc::Error on
/// a bad range or rank.
Tensor take_columns(const Tensor& table, int64_t begin, int64_t end);

}  // namespace rnnc
