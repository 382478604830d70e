#pragma once
// The sst_gates example's data: the Stanford Sentiment Treebank's binary sentence-level
// splits (data/sst/stsa.binary.{train,dev,test}.gz, "LABEL token token ..."), a word
// vocabulary and the GloVe Twitter vectors that initialize its embedding table.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/dataset.h"
#include "runtime/tensor.h"
#include "runtime/vocabulary.h"
#include "runtime/word_vectors.h"

namespace sst {

/// One split as read: tokenized sentences, their 0/1 labels and the line of each.
struct Split {
  std::string path;                                 ///< the file, for messages
  std::vector<std::vector<std::string>> sentences;  ///< the words of each sentence
  std::vector<int32_t> labels;                      ///< 0 negative, 1 positive
  std::vector<int64_t> lines;                       ///< 1-based line of each sentence
};

/// Reads the split at `path` (gzip or plain). Throws rnnc::Error "FILE:LINE: ..." for a label
/// other than 0 or 1, a line without words, and for a file without sentences.
Split read_split(const std::string& path);

/// At most `limit` sentences of `split` (0: all): a seeded random choice, kept in file order,
/// so that a small budget still sees both labels.
Split limit_split(const Split& split, int64_t limit, uint64_t seed);

/// The vocabulary: every word of the training sentences (most frequent first), then the
/// words of `others` (dev and test) that have a vector in `vectors`, in order of first
/// appearance; any other word is the unknown token. Dev and test labels are never read.
rnnc::TokenVocabulary make_vocabulary(const Split& train, const std::vector<const Split*>& others,
                                      const rnnc::WordVectors& vectors);

/// The split as dataset columns "tokens" i32 [N, steps] (zero padded), "lengths" i32 [N] and
/// "label" i32 [N]. Throws rnnc::Error naming the file and line of a sentence longer than
/// `steps`.
rnnc::Dataset encode(const Split& split, const rnnc::TokenVocabulary& vocabulary, int64_t steps);

/// The number of words of the longest sentence of `splits`.
int64_t longest_sentence(const std::vector<const Split*>& splits);

/// The fraction of `split`'s labels that are 1.
double positive_fraction(const Split& split);

}  // namespace sst
