#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tensor.h"
#include "runtime/vocabulary.h"

/// Pretrained word vectors (GloVe) as the initial values of an embedding table: the lecture's
/// sentiment LSTM reads 25-dimensional GloVe vectors.
namespace rnnc {

/// Word vectors of one dimension, read from a GloVe-style text file: one word per line,
/// "word v1 v2 ... vD", fields separated by spaces or tabs, no header.
class WordVectors {
 public:
  /// Reads the file at `path` (".gz" is gunzipped, see read_text_file). The first line sets
  /// the dimension D. Blank lines are skipped. Throws rnnc::Error "FILE:LINE: ..." for a line
  /// with another number of values, a value that is not a finite number, a word seen on an
  /// earlier line, and for a file with no vector.
  static WordVectors read(const std::string& path);

  /// The dimension D of every vector.
  int64_t dim() const { return dim_; }
  /// Number of words.
  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  /// The words, in file order.
  const std::vector<std::string>& words() const { return words_; }
  /// The D values of `word` (exact, case-sensitive match), or null when it has no vector.
  const float* find(std::string_view word) const;

 private:
  int64_t dim_ = 0;
  std::vector<std::string> words_;
  std::vector<float> values_;  // [size, dim], row i for words_[i]
  std::unordered_map<std::string, int64_t> rows_;
};

/// An embedding table built for a vocabulary, and how much of it came from the vectors.
struct EmbeddingMatrix {
  /// [vocabulary.size(), D]: row 0 (padding) zeros, a word with a vector that vector, every
  /// other row (the unknown token, words without a vector) small random values.
  Tensor matrix;
  /// Vocabulary words (reserved tokens not counted) that had a vector.
  int64_t found = 0;
  /// Rows given random values (the unknown token included).
  int64_t random = 0;
};

/// The embedding table of `vocabulary` from `vectors`, as the initial value of an
/// nn::Embedding weight. Rows without a vector are drawn uniform(-scale, scale) from
/// Rng(seed), in id order, so the same seed gives the same table. Throws rnnc::Error when
/// scale < 0 or `dtype` is not a float type.
EmbeddingMatrix make_embedding_matrix(const WordVectors& vectors, const TokenVocabulary& vocabulary,
                                      uint64_t seed, double scale = 0.05, DType dtype = DType::f32);

}  // namespace rnnc
