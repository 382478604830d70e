// Text data: reading (gzipped) text files, character and word vocabularies, GloVe vectors.
// Checked against the vendored data's known sizes (data/SOURCES.md, computed independently
// with Python's gzip and csv modules) and hand-written small cases.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "ir/error.h"
#include "runtime/text_file.h"
#include "runtime/vocabulary.h"
#include "runtime/word_vectors.h"
#include "tests/support/errors.h"

namespace rnnc {
namespace {

namespace fs = std::filesystem;

std::string data_path(const std::string& relative) {
  return std::string(RNNC_SOURCE_DIR) + "/data/" + relative;
}

/// A fresh directory for one test's files, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("rnnc_text_data_" + std::string(info->name()) + "_" +
                                         std::to_string(static_cast<long>(::getpid())));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// Appends `text` to `path` as one more gzip member.
void append_gzip_member(const fs::path& path, const std::string& text) {
  gzFile file = gzopen(path.c_str(), "ab");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
}

using testerr::error_of;

std::vector<int32_t> ints(const Tensor& tensor) {
  std::vector<int32_t> values(tensor.data<int32_t>(),
                              tensor.data<int32_t>() + tensor.num_elements());
  return values;
}

// ---- text files ----

TEST(TextFile, ReadsThePlainBytes) {
  TempDir temp;
  const fs::path& dir = temp.path();
  write_file(dir / "a.txt", std::string("one\r\ntwo\n\0three", 15));
  EXPECT_EQ(read_text_file((dir / "a.txt").string()), std::string("one\r\ntwo\n\0three", 15));
}

TEST(TextFile, GunzipsTheVendoredShakespeare) {
  std::string text = read_text_file(data_path("shakespeare/shakespeare.txt.gz"));
  EXPECT_EQ(text.size(), 1115394u);
  EXPECT_EQ(split_lines(text).size(), 40000u);
  EXPECT_EQ(text.substr(0, 14), "First Citizen:");
  EXPECT_EQ(std::set<char>(text.begin(), text.end()).size(), 65u);
}

TEST(TextFile, ReadsConcatenatedGzipMembers) {
  TempDir temp;
  const fs::path& dir = temp.path();
  append_gzip_member(dir / "two.gz", "first member\n");
  append_gzip_member(dir / "two.gz", "second member\n");
  EXPECT_EQ(read_text_file((dir / "two.gz").string()), "first member\nsecond member\n");
}

TEST(TextFile, ErrorsNameTheFile) {
  TempDir temp;
  const fs::path& dir = temp.path();
  std::string missing = (dir / "missing.txt").string();
  std::string message = error_of([&] { read_text_file(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;

  message = error_of([&] { read_text_file(dir.string()); });
  EXPECT_NE(message.find("directory"), std::string::npos) << message;

  write_file(dir / "plain.gz", "this is not compressed");
  message = error_of([&] { read_text_file((dir / "plain.gz").string()); });
  EXPECT_NE(message.find("plain.gz: not gzip data"), std::string::npos) << message;

  std::string text(20000, 'x');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + (i * 7919) % 26);
  append_gzip_member(dir / "good.gz", text);
  std::ifstream in(dir / "good.gz", std::ios::binary);
  std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(gz.size(), 100u);

  write_file(dir / "truncated.gz", gz.substr(0, gz.size() / 2));
  message = error_of([&] { read_text_file((dir / "truncated.gz").string()); });
  EXPECT_NE(message.find("truncated.gz: truncated gzip data"), std::string::npos) << message;

  std::string corrupt = gz;
  for (size_t i = 20; i < 60; ++i) corrupt[i] = static_cast<char>(~corrupt[i]);
  write_file(dir / "corrupt.gz", corrupt);
  message = error_of([&] { read_text_file((dir / "corrupt.gz").string()); });
  EXPECT_NE(message.find("corrupt.gz: corrupt gzip data"), std::string::npos) << message;

  // A wrong CRC in the trailer is corruption too.
  std::string bad_crc = gz;
  bad_crc[gz.size() - 8] = static_cast<char>(~bad_crc[gz.size() - 8]);
  write_file(dir / "crc.gz", bad_crc);
  message = error_of([&] { read_text_file((dir / "crc.gz").string()); });
  EXPECT_NE(message.find("crc.gz: corrupt gzip data"), std::string::npos) << message;
}

TEST(TextFile, SplitsLinesAtLfAndCrLf) {
  using Lines = std::vector<std::string_view>;
  EXPECT_EQ(split_lines("a\r\nb\nc"), (Lines{"a", "b", "c"}));
  EXPECT_EQ(split_lines("a\n\nb\n"), (Lines{"a", "", "b"}));
  EXPECT_EQ(split_lines(""), Lines{});
  EXPECT_EQ(split_lines("\n"), Lines{""});
}

// ---- UTF-8 ----

TEST(Utf8, DecodesCodePointsAndEncodesThemBack) {
  std::u32string decoded = decode_utf8("Jos\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(decoded, (std::u32string{U'J', U'o', U's', 0xE9, U' ', 0x20AC, U' ', 0x1F600}));
  EXPECT_EQ(encode_utf8(decoded), "Jos\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
}

TEST(Utf8, RejectsMalformedTextNamingTheByte) {
  EXPECT_NE(error_of([] { decode_utf8("ab\xC3"); }).find("truncated sequence) at byte 2"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode_utf8("\x80"); }).find("unexpected byte) at byte 0"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode_utf8("x\xC0\xAF"); }).find("overlong encoding) at byte 1"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode_utf8("\xED\xA0\x80"); }).find("surrogate"), std::string::npos);
  EXPECT_NE(error_of([] { decode_utf8("\xF4\x90\x80\x80"); }).find("above U+10FFFF"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode_utf8("\xC3x"); }).find("\"\\xC3x\""), std::string::npos);
}

// ---- character vocabulary ----

TEST(CharVocabulary, SortsCharactersByCodePointAfterPadding) {
  CharVocabulary vocabulary = CharVocabulary::from_texts({"hello", "ihell"});
  EXPECT_EQ(vocabulary.size(), 6);  // padding + e h i l o
  EXPECT_EQ(vocabulary.characters(), U"ehilo");
  EXPECT_EQ(vocabulary.id(U'e'), 1);
  EXPECT_EQ(vocabulary.id(U'o'), 5);
  EXPECT_EQ(vocabulary.encode("hello"), (std::vector<int32_t>{2, 1, 4, 4, 5}));
  std::vector<int32_t> padded = {2, 3, 0, 0};
  EXPECT_EQ(vocabulary.decode(padded), "hi");
  // The order of the texts does not matter.
  EXPECT_EQ(CharVocabulary::from_texts({"ihell", "hello"}).characters(), U"ehilo");
}

TEST(CharVocabulary, GivenCharactersKeepTheirOrderWithoutPadding) {
  CharVocabulary vocabulary = CharVocabulary::from_characters("hielo", /*padding=*/false);
  EXPECT_EQ(vocabulary.size(), 5);
  EXPECT_FALSE(vocabulary.has_padding());
  EXPECT_EQ(vocabulary.encode("hihell"), (std::vector<int32_t>{0, 1, 0, 2, 3, 3}));
  std::vector<int32_t> ids = {1, 0, 2, 3, 3, 4};
  EXPECT_EQ(vocabulary.decode(ids), "ihello");
  EXPECT_EQ(vocabulary.character(4), U'o');
  EXPECT_NE(error_of([] { CharVocabulary::from_characters("hih"); }).find("appears twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { CharVocabulary::from_characters(""); }).find("at least one"),
            std::string::npos);
}

TEST(CharVocabulary, NamesTheMissingCharacterItsPositionAndTheText) {
  CharVocabulary vocabulary = CharVocabulary::from_texts({"Jose"});
  EXPECT_EQ(error_of([&] { vocabulary.encode("Jos\xC3\xA9"); }),
            "character '\xC3\xA9' (U+00E9) at position 3 of \"Jos\xC3\xA9\" is not in the "
            "vocabulary");
  EXPECT_EQ(error_of([&] { vocabulary.encode("Jo\ne"); }),
            "character '\\n' (U+000A) at position 2 of \"Jo\\ne\" is not in the vocabulary");
  EXPECT_EQ(error_of([&] { vocabulary.encode(""); }), "cannot encode an empty text");
  EXPECT_TRUE(vocabulary.encode("", /*allow_empty=*/true).empty());
  // A long text is shown as an excerpt around the position.
  std::string long_text = std::string(100, 'e') + "x" + std::string(100, 'o');
  std::string message = error_of([&] { vocabulary.encode(long_text); });
  EXPECT_NE(message.find("at position 100 of \"..."), std::string::npos) << message;
  EXPECT_LT(message.size(), 150u) << message;
  EXPECT_NE(error_of([&] { vocabulary.character(0); }).find("padding"), std::string::npos);
  EXPECT_NE(error_of([&] { vocabulary.character(5); }).find("outside"), std::string::npos);
  std::vector<int32_t> bad = {9};
  EXPECT_NE(error_of([&] { vocabulary.decode(bad); }).find("id 9"), std::string::npos);
}

TEST(CharVocabulary, EncodesAZeroPaddedBatchWithLengths) {
  CharVocabulary vocabulary = CharVocabulary::from_texts({"abc"});
  EncodedBatch batch = vocabulary.encode_batch({"ab", "cabc", "c"});
  EXPECT_EQ(batch.ids.dtype(), DType::i32);
  EXPECT_EQ(batch.ids.shape(), (Shape{3, 4}));
  EXPECT_EQ(ints(batch.ids), (std::vector<int32_t>{1, 2, 0, 0, 3, 1, 2, 3, 3, 0, 0, 0}));
  EXPECT_EQ(batch.lengths.shape(), (Shape{3}));
  EXPECT_EQ(ints(batch.lengths), (std::vector<int32_t>{2, 4, 1}));

  EncodedBatch wide = vocabulary.encode_batch({"ab"}, 5);
  EXPECT_EQ(ints(wide.ids), (std::vector<int32_t>{1, 2, 0, 0, 0}));
  EXPECT_EQ(error_of([&] {
              vocabulary.encode_batch({"abc", "abcab"}, 3);
            }),
            "text 1 \"abcab\" has 5 ids, more than the batch length 3");
  EXPECT_EQ(error_of([&] { vocabulary.encode_batch({"ab", ""}); }), "text 1 of the batch is empty");
  EXPECT_NE(error_of([&] { vocabulary.encode_batch({}); }).find("empty batch"), std::string::npos);
  CharVocabulary unpadded = CharVocabulary::from_texts({"abc"}, /*padding=*/false);
  EXPECT_EQ(ints(unpadded.encode_batch({"ab", "ca"}).ids), (std::vector<int32_t>{0, 1, 2, 0}));
  EXPECT_NE(error_of([&] {
              unpadded.encode_batch({"ab", "c"});
            }).find("no padding id"),
            std::string::npos);
}

TEST(CharVocabulary, CoversTheVendoredNames) {
  std::string text = read_text_file(data_path("names/names_train.csv.gz"));
  std::vector<std::string> names;
  std::set<std::string> countries;
  for (std::string_view line : split_lines(text)) {
    // "Name","Country"; names may hold a comma, never a quote.
    size_t middle = line.find("\",\"");
    ASSERT_TRUE(line.size() > 5 && line.front() == '"' && line.back() == '"' &&
                middle != std::string_view::npos)
        << line;
    names.emplace_back(line.substr(1, middle - 1));
    countries.emplace(line.substr(middle + 3, line.size() - middle - 4));
  }
  EXPECT_EQ(names.size(), 13374u);
  EXPECT_EQ(countries.size(), 18u);
  CharVocabulary vocabulary = CharVocabulary::from_texts(names);
  // Space, apostrophe, comma, A-Z, a-z.
  EXPECT_EQ(vocabulary.size(), 1 + 55);
  EXPECT_EQ(vocabulary.characters().substr(0, 5), U" ',AB");
  EncodedBatch batch = vocabulary.encode_batch(names);
  EXPECT_EQ(batch.ids.shape(), (Shape{13374, 19}));
  EXPECT_EQ(vocabulary.decode(std::span(batch.ids.data<int32_t>(), 19)), names[0]);
}

// ---- word vocabulary ----

TEST(TokenVocabulary, OrdersWordsByCountThenBytes) {
  std::vector<std::vector<std::string>> sentences = {
      split_words("the cat sat on the mat"), split_words("  the dog\tsat\n"), {"a"}};
  TokenVocabulary vocabulary = TokenVocabulary::from_texts(sentences);
  EXPECT_EQ(vocabulary.tokens(), (std::vector<std::string>{"<pad>", "<unk>", "the", "sat", "a",
                                                           "cat", "dog", "mat", "on"}));
  EXPECT_EQ(vocabulary.id("the"), 2);
  EXPECT_EQ(vocabulary.id("zebra"), vocabulary.unknown_id());
  EXPECT_FALSE(vocabulary.contains("<unk>"));
  EXPECT_EQ(vocabulary.encode(split_words("the zebra sat")), (std::vector<int32_t>{2, 1, 3}));

  TokenVocabularyOptions options;
  options.min_count = 2;
  EXPECT_EQ(TokenVocabulary::from_texts(sentences, options).size(), 4);
  options.min_count = 1;
  options.max_size = 5;
  EXPECT_EQ(TokenVocabulary::from_texts(sentences, options).tokens(),
            (std::vector<std::string>{"<pad>", "<unk>", "the", "sat", "a"}));
  options.max_size = 2;
  EXPECT_NE(error_of([&] { TokenVocabulary::from_texts(sentences, options); }).find("no room"),
            std::string::npos);
}

TEST(TokenVocabulary, WithoutUnknownNamesTheWordAndPosition) {
  TokenVocabulary vocabulary = TokenVocabulary::from_words({"a", "good", "movie"}, false);
  EXPECT_EQ(vocabulary.size(), 4);
  EXPECT_EQ(vocabulary.id("movie"), 3);
  EXPECT_EQ(error_of([&] { vocabulary.encode(split_words("a good film")); }),
            "word 'film' at position 2 of \"a good film\" is not in the vocabulary");
  EXPECT_EQ(error_of([&] { vocabulary.encode({}); }), "cannot encode an empty sentence");
  EXPECT_NE(error_of([&] { vocabulary.unknown_id(); }).find("no unknown"), std::string::npos);
  EXPECT_NE(error_of([] {
              TokenVocabulary::from_words({"a", "a"});
            }).find("twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { TokenVocabulary::from_words({"<unk>"}); }).find("reserved"),
            std::string::npos);
  EXPECT_NE(error_of([] { TokenVocabulary::from_words({""}); }).find("empty"), std::string::npos);
}

TEST(TokenVocabulary, EncodesAZeroPaddedBatchWithLengths) {
  TokenVocabulary vocabulary = TokenVocabulary::from_words({"a", "good", "movie"});
  EncodedBatch batch =
      vocabulary.encode_batch({split_words("a good movie"), split_words("bad movie")});
  EXPECT_EQ(batch.ids.shape(), (Shape{2, 3}));
  EXPECT_EQ(ints(batch.ids), (std::vector<int32_t>{2, 3, 4, 1, 4, 0}));
  EXPECT_EQ(ints(batch.lengths), (std::vector<int32_t>{3, 2}));
  EXPECT_EQ(error_of([&] {
              vocabulary.encode_batch({{"a"}, {}});
            }),
            "sentence 1 of the batch is empty");
  EXPECT_EQ(error_of([&] { vocabulary.encode_batch({split_words("a good movie")}, 2); }),
            "sentence 0 \"a good movie\" has 3 ids, more than the batch length 2");
}

// ---- word vectors ----

TEST(WordVectors, ReadsTheVendoredGlove) {
  WordVectors vectors = WordVectors::read(data_path("glove/glove.twitter.27B.25d.top12k.txt.gz"));
  EXPECT_EQ(vectors.size(), 11925);
  EXPECT_EQ(vectors.dim(), 25);
  EXPECT_EQ(vectors.words()[0], "the");
  EXPECT_EQ(vectors.words().back(), "wizards");
  // Line 155: "good -0.54403 ... 0.022125"; line 490: "movie 0.3569 ... 0.59677".
  ASSERT_NE(vectors.find("good"), nullptr);
  EXPECT_FLOAT_EQ(vectors.find("good")[0], -0.54403f);
  EXPECT_FLOAT_EQ(vectors.find("good")[24], 0.022125f);
  EXPECT_FLOAT_EQ(vectors.find("movie")[0], 0.3569f);
  EXPECT_FLOAT_EQ(vectors.find("movie")[24], 0.59677f);
  EXPECT_EQ(vectors.find("Movie"), nullptr);
}

TEST(WordVectors, ErrorsNameTheFileAndLine) {
  TempDir temp;
  const fs::path& dir = temp.path();
  auto message_for = [&](const std::string& name, const std::string& content) {
    write_file(dir / name, content);
    return error_of([&] { WordVectors::read((dir / name).string()); });
  };
  std::string base = dir.string() + "/";
  EXPECT_EQ(message_for("count.txt", "a 1 2 3\nb 4 5 6\n\nc 7 8\n"),
            base +
                "count.txt:4: word 'c' has 2 values, expected 3 (the dimension of the first "
                "vector)");
  EXPECT_EQ(message_for("number.txt", "a 1 2\nb 3 x4\n"),
            base + "number.txt:2: value 2 of word 'b', 'x4', is not a finite number");
  EXPECT_EQ(message_for("partial.txt", "a 1 2.5e\n"),
            base + "partial.txt:1: value 2 of word 'a', '2.5e', is not a finite number");
  EXPECT_EQ(message_for("inf.txt", "a 1 inf\n"),
            base + "inf.txt:1: value 2 of word 'a', 'inf', is not a finite number");
  EXPECT_EQ(message_for("dup.txt", "a 1\nb 2\na 3\n"),
            base + "dup.txt:3: word 'a' already has a vector (word 1 of the file)");
  EXPECT_EQ(message_for("novalues.txt", "a\n"), base + "novalues.txt:1: word 'a' has no values");
  EXPECT_EQ(message_for("empty.txt", "\n\n"), base + "empty.txt: no word vectors in the file");
  EXPECT_NE(error_of([&] { WordVectors::read(base + "missing.txt"); }).find("missing.txt"),
            std::string::npos);
}

TEST(WordVectors, BuildsAnEmbeddingMatrixForAVocabulary) {
  TempDir temp;
  const fs::path& dir = temp.path();
  write_file(dir / "v.txt", "good 1 2\r\nmovie -1 0.5\r\nbad 3 4\r\n");
  WordVectors vectors = WordVectors::read((dir / "v.txt").string());
  TokenVocabulary vocabulary = TokenVocabulary::from_words({"movie", "plot", "good"});
  EmbeddingMatrix table = make_embedding_matrix(vectors, vocabulary, /*seed=*/3);
  EXPECT_EQ(table.found, 2);
  EXPECT_EQ(table.random, 2);  // <unk> and "plot"
  ASSERT_EQ(table.matrix.shape(), (Shape{5, 2}));
  std::vector<double> m = table.matrix.to_doubles();
  EXPECT_EQ(m[0], 0);  // padding
  EXPECT_EQ(m[1], 0);
  for (int k : {2, 3, 6, 7}) {  // <unk>, plot
    EXPECT_LT(std::abs(m[k]), 0.05);
    EXPECT_NE(m[k], 0);
  }
  EXPECT_EQ(m[4], -1);  // movie
  EXPECT_EQ(m[5], 0.5);
  EXPECT_EQ(m[8], 1);  // good
  EXPECT_EQ(m[9], 2);
  // Seeded: the same seed gives the same table, another seed other random rows.
  EXPECT_EQ(make_embedding_matrix(vectors, vocabulary, 3).matrix.to_doubles(), m);
  EXPECT_NE(make_embedding_matrix(vectors, vocabulary, 4).matrix.to_doubles()[2], m[2]);
  EXPECT_EQ(make_embedding_matrix(vectors, vocabulary, 3, 0.05, DType::f64).matrix.dtype(),
            DType::f64);
  EXPECT_NE(error_of([&] { make_embedding_matrix(vectors, vocabulary, 3, -1); }).find("scale"),
            std::string::npos);
}

}  // namespace
}  // namespace rnnc
