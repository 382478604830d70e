#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tensor.h"

/// Vocabularies turn text into the i32 ids that embeddings and one-hot layers read: characters
/// (names by country, character language models, "hihell") and words (sentiment). Both reserve
/// id 0 for padding by default, so that a zero-padded batch of ids plus lengths is exactly what
/// a Scan with lengths consumes.
namespace rnnc {

/// The id of padding in every vocabulary that reserves one.
inline constexpr int32_t kPaddingId = 0;

/// A batch of encoded texts: ids i32 [N, T] (row i holds text i, then zeros up to T) and
/// lengths i32 [N] (how many ids of each row are real).
struct EncodedBatch {
  Tensor ids;
  Tensor lengths;
};

/// The Unicode code points of the UTF-8 text `text`. Throws rnnc::Error naming the byte
/// offset and the text on malformed UTF-8 (a stray continuation byte, a truncated sequence,
/// an overlong form, a surrogate, a value above U+10FFFF).
std::u32string decode_utf8(std::string_view text);
/// The UTF-8 bytes of the code points `text` (which must be valid code points).
std::string encode_utf8(std::u32string_view text);

/// A vocabulary of characters, where a character is a Unicode code point (UTF-8 is decoded
/// first), not a byte: "é" is one character with one id whatever its encoding length, so
/// names like "José" have as many steps as letters. With padding, ids are 1..n and 0 is
/// padding; without it (the lecture's "hihell", whose one-hot inputs have exactly 5 columns),
/// ids are 0..n-1 and a batch cannot be padded.
class CharVocabulary {
 public:
  /// Every distinct character of `texts`, sorted by code point (deterministic whatever the
  /// order of the texts). Throws rnnc::Error on malformed UTF-8 or when there is no character.
  static CharVocabulary from_texts(const std::vector<std::string>& texts, bool padding = true);
  /// Exactly the characters of the UTF-8 string `characters`, in that order (ids follow it).
  /// Throws rnnc::Error when it is empty, malformed or repeats a character.
  static CharVocabulary from_characters(std::string_view characters, bool padding = true);

  /// Number of ids, padding included: the width of a one-hot input or an embedding table.
  int64_t size() const { return static_cast<int64_t>(characters_.size()) + (padding_ ? 1 : 0); }
  /// Whether id 0 is padding.
  bool has_padding() const { return padding_; }
  /// The characters in id order (padding, which has no character, left out).
  const std::u32string& characters() const { return characters_; }
  bool contains(char32_t character) const { return ids_.count(character) != 0; }
  /// The id of `character`; throws rnnc::Error naming it when it is not in the vocabulary.
  int32_t id(char32_t character) const;
  /// The character of `id`; throws rnnc::Error for padding or an id out of range.
  char32_t character(int32_t id) const;

  /// The ids of the characters of `text`. Throws rnnc::Error naming the character, its
  /// (0-based, in characters) position and the text when a character is not in the
  /// vocabulary, on malformed UTF-8, and on an empty text unless `allow_empty`.
  std::vector<int32_t> encode(std::string_view text, bool allow_empty = false) const;
  /// The UTF-8 text of `ids`; padding ids are skipped. Throws rnnc::Error on an id out of
  /// range.
  std::string decode(std::span<const int32_t> ids) const;
  /// Every text encoded into one zero-padded batch of T = `length` steps (0: the longest
  /// text's length). Throws rnnc::Error naming the text when one is empty, longer than
  /// `length`, or when padding is needed but the vocabulary has none (and as encode()).
  EncodedBatch encode_batch(const std::vector<std::string>& texts, int64_t length = 0) const;

 private:
  CharVocabulary(std::u32string characters, bool padding);

  std::u32string characters_;
  std::unordered_map<char32_t, int32_t> ids_;
  bool padding_;
};

/// How TokenVocabulary::from_texts chooses its words.
struct TokenVocabularyOptions {
  /// Reserve id 1 for the unknown token "<unk>", which words outside the vocabulary map to;
  /// without it such a word is an error.
  bool unknown = true;
  /// Words seen fewer times are left out (they become unknown).
  int64_t min_count = 1;
  /// At most this many ids in all (padding and unknown included); 0: no limit. The most
  /// frequent words are kept.
  int64_t max_size = 0;
};

/// A vocabulary of words (tokens): id 0 is the padding token "<pad>", id 1 the unknown token
/// "<unk>" when there is one, then the words. Words are compared exactly (byte for byte;
/// lowercase the text first if case should not matter).
class TokenVocabulary {
 public:
  /// The padding token's spelling (id 0).
  static constexpr std::string_view kPaddingToken = "<pad>";
  /// The unknown token's spelling (id 1 when present).
  static constexpr std::string_view kUnknownToken = "<unk>";

  /// The words of `sentences` (each a list of tokens), most frequent first, equal counts in
  /// byte order: deterministic whatever the order of the sentences. Throws rnnc::Error on an
  /// empty token, a bad option, or when no word remains.
  static TokenVocabulary from_texts(const std::vector<std::vector<std::string>>& sentences,
                                    const TokenVocabularyOptions& options = {});
  /// Exactly `words`, in that order, after the reserved tokens. Throws rnnc::Error on an
  /// empty or repeated word or a reserved spelling.
  static TokenVocabulary from_words(const std::vector<std::string>& words, bool unknown = true);

  /// Number of ids, reserved tokens included: the number of rows of an embedding table.
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  bool has_unknown() const { return unknown_; }
  /// The unknown token's id (1); throws rnnc::Error when there is none.
  int32_t unknown_id() const;
  /// Every token in id order, "<pad>" (and "<unk>") first.
  const std::vector<std::string>& tokens() const { return tokens_; }
  /// Whether `word` has its own id (the reserved tokens do not count).
  bool contains(std::string_view word) const;
  /// The id of `word`: its own, else the unknown id; throws rnnc::Error naming the word
  /// when there is neither.
  int32_t id(std::string_view word) const;
  /// The token of `id`; throws rnnc::Error on an id out of range.
  const std::string& token(int32_t id) const;

  /// The ids of `words` (one sentence). Throws rnnc::Error naming the word, its (0-based)
  /// position and the sentence when a word is unknown and there is no unknown token, and on
  /// an empty sentence unless `allow_empty`.
  std::vector<int32_t> encode(const std::vector<std::string>& words,
                              bool allow_empty = false) const;
  /// Every sentence encoded into one zero-padded batch of T = `length` steps (0: the longest
  /// sentence's length). Throws rnnc::Error naming the sentence when one is empty or longer
  /// than `length` (and as encode()).
  EncodedBatch encode_batch(const std::vector<std::vector<std::string>>& sentences,
                            int64_t length = 0) const;

 private:
  TokenVocabulary(const std::vector<std::string>& words, bool unknown);

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  bool unknown_;
};

/// The tokens of `text` split at ASCII whitespace (space, tab, CR, LF, FF, VT), empty tokens
/// dropped: how the SST files ("LABEL token token ...") are tokenized.
std::vector<std::string> split_words(std::string_view text);

}  // namespace rnnc
