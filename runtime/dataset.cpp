#include "runtime/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "ir/error.h"
#include "runtime/random.h"

namespace rnnc {

namespace {

/// Bytes of one example (one row) of `column`.
int64_t row_bytes(const Tensor& column) {
  return column.shape()[0] == 0 ? 0 : column.num_bytes() / column.shape()[0];
}

void check_rows(const std::vector<int64_t>& rows, int64_t size) {
  for (int64_t row : rows)
    if (row < 0 || row >= size)
      throw Error("dataset: example index " + std::to_string(row) + " out of range [0, " +
                  std::to_string(size) + ")");
}

/// The rows `rows` of `column` into a tensor of `batch_size` rows (the rest copies of rows[0]).
Tensor gather_rows(const Tensor& column, const std::vector<int64_t>& rows, int64_t batch_size) {
  Shape shape = column.shape();
  shape[0] = batch_size;
  Tensor out(column.dtype(), shape);
  int64_t bytes = row_bytes(column);
  const auto* source = static_cast<const unsigned char*>(column.raw());
  auto* target = static_cast<unsigned char*>(out.raw());
  for (int64_t i = 0; i < batch_size; ++i) {
    int64_t row = i < static_cast<int64_t>(rows.size()) ? rows[i] : rows[0];
    std::memcpy(target + i * bytes, source + row * bytes, bytes);
  }
  return out;
}

}  // namespace

void Dataset::add_column(const std::string& name, Tensor column) {
  if (column.shape().empty()) throw Error("dataset: column '" + name + "' is a scalar");
  if (has_column(name)) throw Error("dataset: column '" + name + "' already exists");
  if (!columns_.empty() && column.shape()[0] != size_)
    throw Error("dataset: column '" + name + "' has " + std::to_string(column.shape()[0]) +
                " examples, the others " + std::to_string(size_));
  size_ = column.shape()[0];
  columns_.emplace_back(name, std::move(column));
  std::sort(columns_.begin(), columns_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

bool Dataset::has_column(const std::string& name) const {
  return std::any_of(columns_.begin(), columns_.end(),
                     [&](const auto& entry) { return entry.first == name; });
}

const Tensor& Dataset::column(const std::string& name) const {
  for (const auto& [column_name, tensor] : columns_)
    if (column_name == name) return tensor;
  throw Error("dataset: no column '" + name + "'");
}

std::vector<std::string> Dataset::column_names() const {
  std::vector<std::string> names;
  for (const auto& entry : columns_) names.push_back(entry.first);
  return names;
}

Dataset Dataset::subset(const std::vector<int64_t>& rows) const {
  check_rows(rows, size_);
  Dataset result;
  for (const auto& [name, tensor] : columns_)
    result.add_column(name, gather_rows(tensor, rows, static_cast<int64_t>(rows.size())));
  return result;
}

std::pair<Dataset, Dataset> Dataset::split(double fraction, uint64_t seed) const {
  if (!(fraction >= 0 && fraction <= 1))
    throw Error("dataset: split fraction " + std::to_string(fraction) + " is not in [0, 1]");
  std::vector<int64_t> order(size_);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  rng.shuffle(order);
  auto first_size = static_cast<int64_t>(std::llround(fraction * static_cast<double>(size_)));
  std::vector<int64_t> first(order.begin(), order.begin() + first_size);
  std::vector<int64_t> second(order.begin() + first_size, order.end());
  return {subset(first), subset(second)};
}

Bindings Dataset::batch(const std::vector<int64_t>& rows, int64_t batch_size) const {
  if (rows.empty()) throw Error("dataset: a batch needs at least one example");
  if (static_cast<int64_t>(rows.size()) > batch_size)
    throw Error("dataset: " + std::to_string(rows.size()) + " rows do not fit a batch of " +
                std::to_string(batch_size));
  check_rows(rows, size_);
  Bindings bindings;
  for (const auto& [name, tensor] : columns_)
    bindings[name] = gather_rows(tensor, rows, batch_size);
  return bindings;
}

std::vector<std::vector<int64_t>> make_batches(int64_t num_examples, int64_t batch_size,
                                               bool shuffle, uint64_t seed, bool drop_last) {
  if (batch_size <= 0)
    throw Error("batch size must be positive, got " + std::to_string(batch_size));
  std::vector<int64_t> order(std::max<int64_t>(num_examples, 0));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    Rng rng(seed);
    rng.shuffle(order);
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size(); start += batch_size) {
    size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
    if (drop_last && static_cast<int64_t>(end - start) < batch_size) break;
    batches.emplace_back(order.begin() + start, order.begin() + end);
  }
  return batches;
}

Tensor take_columns(const Tensor& table, int64_t begin, int64_t end) {
  if (table.shape().size() != 2)
    throw Error("take_columns needs a [rows, columns] table, got " + table.type().to_string());
  int64_t rows = table.shape()[0], columns = table.shape()[1];
  if (begin < 0 || begin > end || end > columns)
    throw Error("take_columns: columns [" + std::to_string(begin) + ", " + std::to_string(end) +
                ") out of range for " + table.type().to_string());
  Tensor out(table.dtype(), {rows, end - begin});
  int64_t element = ir::dtype_size(table.dtype());
  const auto* source = static_cast<const unsigned char*>(table.raw());
  auto* target = static_cast<unsigned char*>(out.raw());
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(target + r * (end - begin) * element, source + (r * columns + begin) * element,
                (end - begin) * element);
  return out;
}

}  // namespace rnnc
