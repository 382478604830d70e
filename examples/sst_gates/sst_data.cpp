#include "examples/sst_gates/sst_data.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>

#include "ir/error.h"
#include "runtime/text_file.h"

namespace sst {

Split read_split(const std::string& path) {
  const std::string text = rnnc::read_text_file(path);
  Split split{path, {}, {}, {}};
  int64_t line_number = 0;
  for (std::string_view line : rnnc::split_lines(text)) {
    ++line_number;
    std::vector<std::string> words = rnnc::split_words(line);
    if (words.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_number) + ": ";
    if (words[0] != "0" && words[0] != "1")
      throw rnnc::Error(where + "expected the label 0 or 1 first, found '" + words[0] + "'");
    if (words.size() < 2) throw rnnc::Error(where + "a label without a sentence");
    split.labels.push_back(words[0] == "1" ? 1 : 0);
    words.erase(words.begin());
    split.sentences.push_back(std::move(words));
    split.lines.push_back(line_number);
  }
  if (split.sentences.empty()) throw rnnc::Error(path + ": no sentences");
  return split;
}

Split limit_split(const Split& split, int64_t limit, uint64_t seed) {
  const int64_t size = static_cast<int64_t>(split.sentences.size());
  if (limit == 0 || limit >= size) return split;
  std::vector<int64_t> chosen = rnnc::make_batches(size, size, true, seed, false)[0];
  chosen.resize(static_cast<size_t>(limit));
  std::sort(chosen.begin(), chosen.end());
  Split out{split.path, {}, {}, {}};
  for (int64_t i : chosen) {
    out.sentences.push_back(split.sentences[static_cast<size_t>(i)]);
    out.labels.push_back(split.labels[static_cast<size_t>(i)]);
    out.lines.push_back(split.lines[static_cast<size_t>(i)]);
  }
  return out;
}

rnnc::TokenVocabulary make_vocabulary(const Split& train, const std::vector<const Split*>& others,
                                      const rnnc::WordVectors& vectors) {
  rnnc::TokenVocabulary from_train = rnnc::TokenVocabulary::from_texts(train.sentences);
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  for (const std::string& token : from_train.tokens())
    if (from_train.contains(token)) {
      words.push_back(token);
      seen.insert(token);
    }
  for (const Split* split : others)
    for (const std::vector<std::string>& sentence : split->sentences)
      for (const std::string& word : sentence)
        if (vectors.find(word) != nullptr && seen.insert(word).second) words.push_back(word);
  return rnnc::TokenVocabulary::from_words(words);
}

rnnc::Dataset encode(const Split& split, const rnnc::TokenVocabulary& vocabulary, int64_t steps) {
  for (size_t i = 0; i < split.sentences.size(); ++i)
    if (static_cast<int64_t>(split.sentences[i].size()) > steps)
      throw rnnc::Error(split.path + ":" + std::to_string(split.lines[i]) + ": a sentence of " +
                        std::to_string(split.sentences[i].size()) + " words, longer than the " +
                        std::to_string(steps) + " steps of the model");
  rnnc::EncodedBatch batch = vocabulary.encode_batch(split.sentences, steps);
  rnnc::Dataset data;
  data.add_column("tokens", std::move(batch.ids));
  data.add_column("lengths", std::move(batch.lengths));
  data.add_column(
      "label", rnnc::Tensor::from_ints({static_cast<int64_t>(split.labels.size())}, split.labels));
  return data;
}

int64_t longest_sentence(const std::vector<const Split*>& splits) {
  int64_t longest = 0;
  for (const Split* split : splits)
    for (const std::vector<std::string>& sentence : split->sentences)
      longest = std::max<int64_t>(longest, static_cast<int64_t>(sentence.size()));
  return longest;
}

double positive_fraction(const Split& split) {
  const auto positive = std::count(split.labels.begin(), split.labels.end(), 1);
  return static_cast<double>(positive) / static_cast<double>(split.labels.size());
}

}  // namespace sst
