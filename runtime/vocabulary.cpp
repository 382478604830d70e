#include "runtime/vocabulary.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "ir/error.h"

namespace rnnc {
namespace {

/// Texts longer than this (in characters) are shown as an excerpt around the position at
/// fault.
constexpr size_t kExcerptRadius = 30;

/// "U+00E9".
std::string code_point_name(char32_t c) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "U+%04X", static_cast<unsigned>(c));
  return buffer;
}

/// `c` as it appears inside quotes in a message: itself when printable, else an escape.
std::string printable(char32_t c) {
  switch (c) {
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    default:
      break;
  }
  if (c < 0x20 || c == 0x7f) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "\\x%02X", static_cast<unsigned>(c));
    return buffer;
  }
  return encode_utf8(std::u32string_view(&c, 1));
}

/// "'é' (U+00E9)".
std::string describe_character(char32_t c) {
  return "'" + printable(c) + "' (" + code_point_name(c) + ")";
}

/// `text` in double quotes with escapes; a long text becomes an excerpt around `position`.
std::string quote(std::u32string_view text, size_t position = 0) {
  size_t begin = 0, end = text.size();
  if (text.size() > 2 * kExcerptRadius) {
    begin = position > kExcerptRadius ? position - kExcerptRadius : 0;
    end = std::min(text.size(), begin + 2 * kExcerptRadius);
  }
  std::string out = "\"";
  if (begin > 0) out += "...";
  for (size_t i = begin; i < end; ++i) out += printable(text[i]);
  if (end < text.size()) out += "...";
  return out + "\"";
}

/// Raw bytes in double quotes, non-ASCII bytes as \xNN (for text that is not valid UTF-8).
std::string quote_bytes(std::string_view bytes) {
  std::string out = "\"";
  size_t shown = std::min(bytes.size(), 2 * kExcerptRadius);
  for (size_t i = 0; i < shown; ++i) {
    auto byte = static_cast<unsigned char>(bytes[i]);
    out += byte < 0x80 ? printable(byte) : [&] {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02X", byte);
      return std::string(buffer);
    }();
  }
  if (shown < bytes.size()) out += "...";
  return out + "\"";
}

/// Words joined by spaces, as a sentence is shown in messages.
std::u32string join_words(const std::vector<std::string>& words, size_t up_to, size_t* offset) {
  std::string joined;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) joined += ' ';
    if (i == up_to) *offset = decode_utf8(joined).size();
    joined += words[i];
  }
  try {
    return decode_utf8(joined);
  } catch (const Error&) {
    std::u32string latin;  // not UTF-8: show the bytes one per character
    for (unsigned char byte : joined) latin += byte;
    return latin;
  }
}

/// Rows of ids zero-padded into a batch; `describe(i)` names text i in errors.
template <class Describe>
EncodedBatch make_batch(const std::vector<std::vector<int32_t>>& rows, int64_t length, bool padding,
                        Describe describe) {
  if (length < 0) throw Error("batch length must be >= 0, got " + std::to_string(length));
  if (rows.empty()) throw Error("cannot encode an empty batch (no texts)");
  int64_t steps = length;
  if (steps == 0)
    for (const auto& row : rows) steps = std::max<int64_t>(steps, row.size());
  EncodedBatch batch{Tensor(DType::i32, {static_cast<int64_t>(rows.size()), steps}),
                     Tensor(DType::i32, {static_cast<int64_t>(rows.size())})};
  for (size_t i = 0; i < rows.size(); ++i) {
    int64_t size = static_cast<int64_t>(rows[i].size());
    if (size > steps)
      throw Error(describe(i) + " has " + std::to_string(size) +
                  " ids, more than the batch length " + std::to_string(steps));
    if (size < steps && !padding)
      throw Error(describe(i) + " has " + std::to_string(size) +
                  " ids, fewer than the batch length " + std::to_string(steps) +
                  ", and the vocabulary has no padding id");
    std::copy(rows[i].begin(), rows[i].end(), batch.ids.data<int32_t>() + i * steps);
    batch.lengths.data<int32_t>()[i] = static_cast<int32_t>(size);
  }
  return batch;
}

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  size_t i = 0;
  auto fail = [&](const std::string& what) {
    return Error("malformed UTF-8 (" + what + ") at byte " + std::to_string(i) + " of " +
                 quote_bytes(text));
  };
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      out += lead;
      ++i;
      continue;
    }
    size_t extra = 0;
    char32_t value = 0;
    if ((lead & 0xE0) == 0xC0) {
      extra = 1, value = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, value = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, value = lead & 0x07;
    } else {
      throw fail("unexpected byte");
    }
    if (i + extra >= text.size()) throw fail("truncated sequence");
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) throw fail("truncated sequence");
      value = (value << 6) | (next & 0x3F);
    }
    static constexpr char32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (value < kSmallest[extra]) throw fail("overlong encoding");
    if (value >= 0xD800 && value <= 0xDFFF) throw fail("surrogate code point");
    if (value > 0x10FFFF) throw fail("code point above U+10FFFF");
    out += value;
    i += extra + 1;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  for (char32_t c : text) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// ---- CharVocabulary ----

CharVocabulary::CharVocabulary(std::u32string characters, bool padding)
    : characters_(std::move(characters)), padding_(padding) {
  for (size_t i = 0; i < characters_.size(); ++i) {
    auto [it, inserted] =
        ids_.emplace(characters_[i], static_cast<int32_t>(i) + (padding_ ? 1 : 0));
    if (!inserted)
      throw Error("character " + describe_character(characters_[i]) +
                  " appears twice in the vocabulary " + quote(characters_, i));
  }
}

CharVocabulary CharVocabulary::from_texts(const std::vector<std::string>& texts, bool padding) {
  std::u32string all;
  for (const std::string& text : texts) all += decode_utf8(text);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (all.empty()) throw Error("cannot build a character vocabulary from texts with no character");
  return CharVocabulary(std::move(all), padding);
}

CharVocabulary CharVocabulary::from_characters(std::string_view characters, bool padding) {
  std::u32string decoded = decode_utf8(characters);
  if (decoded.empty()) throw Error("a character vocabulary needs at least one character");
  return CharVocabulary(std::move(decoded), padding);
}

int32_t CharVocabulary::id(char32_t character) const {
  auto found = ids_.find(character);
  if (found == ids_.end())
    throw Error("character " + describe_character(character) + " is not in the vocabulary");
  return found->second;
}

char32_t CharVocabulary::character(int32_t id) const {
  int64_t index = static_cast<int64_t>(id) - (padding_ ? 1 : 0);
  if (padding_ && id == kPaddingId) throw Error("id 0 is padding, which has no character");
  if (index < 0 || index >= static_cast<int64_t>(characters_.size()))
    throw Error("character id " + std::to_string(id) + " is outside the vocabulary of " +
                std::to_string(size()) + " ids");
  return characters_[index];
}

std::vector<int32_t> CharVocabulary::encode(std::string_view text, bool allow_empty) const {
  std::u32string decoded = decode_utf8(text);
  if (decoded.empty() && !allow_empty) throw Error("cannot encode an empty text");
  std::vector<int32_t> ids;
  ids.reserve(decoded.size());
  for (size_t i = 0; i < decoded.size(); ++i) {
    auto found = ids_.find(decoded[i]);
    if (found == ids_.end())
      throw Error("character " + describe_character(decoded[i]) + " at position " +
                  std::to_string(i) + " of " + quote(decoded, i) + " is not in the vocabulary");
    ids.push_back(found->second);
  }
  return ids;
}

std::string CharVocabulary::decode(std::span<const int32_t> ids) const {
  std::u32string text;
  for (int32_t id : ids)
    if (!(padding_ && id == kPaddingId)) text += character(id);
  return encode_utf8(text);
}

EncodedBatch CharVocabulary::encode_batch(const std::vector<std::string>& texts,
                                          int64_t length) const {
  std::vector<std::vector<int32_t>> rows;
  rows.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) throw Error("text " + std::to_string(i) + " of the batch is empty");
    rows.push_back(encode(texts[i]));
  }
  return make_batch(rows, length, padding_, [&](size_t i) {
    return "text " + std::to_string(i) + " " + quote(decode_utf8(texts[i]));
  });
}

// ---- TokenVocabulary ----

TokenVocabulary::TokenVocabulary(const std::vector<std::string>& words, bool unknown)
    : unknown_(unknown) {
  tokens_.emplace_back(kPaddingToken);
  if (unknown_) tokens_.emplace_back(kUnknownToken);
  for (const std::string& word : words) {
    if (word.empty()) throw Error("a vocabulary word cannot be empty");
    if (word == kPaddingToken || word == kUnknownToken)
      throw Error("the word '" + word + "' is reserved and cannot be a vocabulary word");
    tokens_.push_back(word);
  }
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (!ids_.emplace(tokens_[i], static_cast<int32_t>(i)).second)
      throw Error("the word '" + tokens_[i] + "' appears twice in the vocabulary");
}

TokenVocabulary TokenVocabulary::from_texts(const std::vector<std::vector<std::string>>& sentences,
                                            const TokenVocabularyOptions& options) {
  if (options.min_count < 1)
    throw Error("min_count must be >= 1, got " + std::to_string(options.min_count));
  int64_t reserved = options.unknown ? 2 : 1;
  if (options.max_size != 0 && options.max_size <= reserved)
    throw Error("max_size " + std::to_string(options.max_size) +
                " leaves no room for words after the reserved tokens");
  std::map<std::string, int64_t> counts;
  for (size_t s = 0; s < sentences.size(); ++s)
    for (const std::string& word : sentences[s]) {
      if (word.empty()) throw Error("sentence " + std::to_string(s) + " has an empty token");
      ++counts[word];
    }
  std::vector<std::pair<std::string, int64_t>> ranked;
  for (auto& [word, count] : counts)
    if (count >= options.min_count && word != kPaddingToken && word != kUnknownToken)
      ranked.emplace_back(word, count);
  // Stable over the byte-ordered map: equal counts keep byte order.
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (options.max_size != 0 && static_cast<int64_t>(ranked.size()) > options.max_size - reserved)
    ranked.resize(options.max_size - reserved);
  if (ranked.empty()) throw Error("cannot build a word vocabulary: no word occurs often enough");
  std::vector<std::string> words;
  words.reserve(ranked.size());
  for (auto& entry : ranked) words.push_back(std::move(entry.first));
  return TokenVocabulary(words, options.unknown);
}

TokenVocabulary TokenVocabulary::from_words(const std::vector<std::string>& words, bool unknown) {
  return TokenVocabulary(words, unknown);
}

int32_t TokenVocabulary::unknown_id() const {
  if (!unknown_) throw Error("the vocabulary has no unknown token");
  return 1;
}

bool TokenVocabulary::contains(std::string_view word) const {
  if (word == kPaddingToken || word == kUnknownToken) return false;
  return ids_.count(std::string(word)) != 0;
}

int32_t TokenVocabulary::id(std::string_view word) const {
  if (contains(word)) return ids_.at(std::string(word));
  if (unknown_) return 1;
  throw Error("word '" + std::string(word) + "' is not in the vocabulary");
}

const std::string& TokenVocabulary::token(int32_t id) const {
  if (id < 0 || id >= size())
    throw Error("word id " + std::to_string(id) + " is outside the vocabulary of " +
                std::to_string(size()) + " ids");
  return tokens_[id];
}

std::vector<int32_t> TokenVocabulary::encode(const std::vector<std::string>& words,
                                             bool allow_empty) const {
  if (words.empty() && !allow_empty) throw Error("cannot encode an empty sentence");
  std::vector<int32_t> ids;
  ids.reserve(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    if (contains(words[i])) {
      ids.push_back(ids_.at(words[i]));
    } else if (unknown_) {
      ids.push_back(1);
    } else {
      size_t offset = 0;
      std::u32string sentence = join_words(words, i, &offset);
      throw Error("word '" + words[i] + "' at position " + std::to_string(i) + " of " +
                  quote(sentence, offset) + " is not in the vocabulary");
    }
  }
  return ids;
}

EncodedBatch TokenVocabulary::encode_batch(const std::vector<std::vector<std::string>>& sentences,
                                           int64_t length) const {
  std::vector<std::vector<int32_t>> rows;
  rows.reserve(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    if (sentences[i].empty())
      throw Error("sentence " + std::to_string(i) + " of the batch is empty");
    rows.push_back(encode(sentences[i]));
  }
  return make_batch(rows, length, /*padding=*/true, [&](size_t i) {
    size_t offset = 0;
    return "sentence " + std::to_string(i) + " " + quote(join_words(sentences[i], 0, &offset));
  });
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
  };
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

}  // namespace rnnc
