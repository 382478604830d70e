#include "runtime/word_vectors.h"

#include <charconv>
#include <cmath>

#include "ir/error.h"
#include "runtime/random.h"
#include "runtime/text_file.h"

namespace rnnc {
namespace {

/// The fields of `line` separated by spaces or tabs.
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

/// `field` shown in a message, shortened when long.
std::string shown(std::string_view field) {
  return "'" + std::string(field.substr(0, 40)) + (field.size() > 40 ? "...'" : "'");
}

}  // namespace

WordVectors WordVectors::read(const std::string& path) {
  std::string text = read_text_file(path);
  WordVectors vectors;
  int64_t line_number = 0;
  for (std::string_view line : split_lines(text)) {
    ++line_number;
    std::vector<std::string_view> fields = split_fields(line);
    if (fields.empty()) continue;
    std::string where = path + ":" + std::to_string(line_number) + ": ";
    std::string word(fields[0]);
    int64_t count = static_cast<int64_t>(fields.size()) - 1;
    if (vectors.dim_ == 0) {
      if (count == 0) throw Error(where + "word " + shown(word) + " has no values");
      vectors.dim_ = count;
    } else if (count != vectors.dim_) {
      throw Error(where + "word " + shown(word) + " has " + std::to_string(count) +
                  " values, expected " + std::to_string(vectors.dim_) +
                  " (the dimension of the first vector)");
    }
    for (int64_t k = 1; k <= count; ++k) {
      std::string_view field = fields[k];
      float value = 0;
      auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
      if (error != std::errc() || end != field.data() + field.size() || !std::isfinite(value))
        throw Error(where + "value " + std::to_string(k) + " of word " + shown(word) + ", " +
                    shown(field) + ", is not a finite number");
      vectors.values_.push_back(value);
    }
    auto [previous, inserted] = vectors.rows_.emplace(word, vectors.size());
    if (!inserted)
      throw Error(where + "word " + shown(word) + " already has a vector (word " +
                  std::to_string(previous->second + 1) + " of the file)");
    vectors.words_.push_back(std::move(word));
  }
  if (vectors.words_.empty()) throw Error(path + ": no word vectors in the file");
  return vectors;
}

const float* WordVectors::find(std::string_view word) const {
  auto found = rows_.find(std::string(word));
  return found == rows_.end() ? nullptr : values_.data() + found->second * dim_;
}

EmbeddingMatrix make_embedding_matrix(const WordVectors& vectors, const TokenVocabulary& vocabulary,
                                      uint64_t seed, double scale, DType dtype) {
  if (!(scale >= 0)) throw Error("embedding scale must be >= 0, got " + std::to_string(scale));
  if (!ir::is_float(dtype))
    throw Error("an embedding matrix must be a float tensor, not " +
                std::string(ir::dtype_name(dtype)));
  const int64_t dim = vectors.dim();
  EmbeddingMatrix result{Tensor(dtype, {vocabulary.size(), dim})};
  Rng rng(seed);
  for (int64_t id = 0; id < vocabulary.size(); ++id) {
    if (id == kPaddingId) continue;  // padding stays zero
    const std::string& token = vocabulary.token(static_cast<int32_t>(id));
    const float* vector = vocabulary.contains(token) ? vectors.find(token) : nullptr;
    if (vector)
      ++result.found;
    else
      ++result.random;
    for (int64_t k = 0; k < dim; ++k)
      result.matrix.set(id * dim + k, vector ? vector[k] : rng.uniform(-scale, scale));
  }
  return result;
}

}  // namespace rnnc
