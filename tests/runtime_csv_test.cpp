// Tests of the RFC 4180 reader and the numeric CSV loader, on small files written here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ir/error.h"
#include "runtime/csv.h"
#include "tests/support/errors.h"

namespace rnnc {
namespace {

using Rows = std::vector<std::vector<std::string>>;

/// Writes `text` to a file in the test temp dir and removes it when the test ends.
class CsvFile {
 public:
  CsvFile(const std::string& name, const std::string& text)
      : path_(::testing::TempDir() + "rnnc_csv_test_" + std::to_string(getpid()) + "_" + name) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  ~CsvFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

using testerr::error_of;

std::string numeric_error(const std::string& text, DType dtype = DType::f32,
                          bool skip_header = false) {
  const CsvFile file("numeric_error.csv", text);
  std::string message = error_of([&] { read_csv_numeric(file.path(), dtype, skip_header); });
  // Report the message relative to the file so cases read as "LINE: what" (or "what").
  if (message.rfind(file.path() + ": ", 0) == 0) return message.substr(file.path().size() + 2);
  if (message.rfind(file.path() + ":", 0) == 0) return message.substr(file.path().size() + 1);
  return "<message does not start with the file name>: " + message;
}

// ---------------------------------------------------------------------------------------
// read_csv

TEST(ReadCsv, PlainRecordsAndLineNumbers) {
  const CsvFile file("plain.csv", "a,b,c\n1,2,3\n\n4,,6\n7,8,\n");
  const CsvRows csv = read_csv(file.path());
  EXPECT_EQ(csv.rows, (Rows{{"a", "b", "c"}, {"1", "2", "3"}, {"4", "", "6"}, {"7", "8", ""}}));
  EXPECT_EQ(csv.line_numbers, (std::vector<int64_t>{1, 2, 4, 5}));
}

TEST(ReadCsv, QuotedFieldsWithCommasQuotesAndLineBreaks) {
  const CsvFile file("quoted.csv",
                     "name,remark\n"
                     "\"Smith, J.\",\"said \"\"hi\"\"\"\n"
                     "\"two\nlines\",\"\"\n"
                     "last,\"a\r\nb\"\n"
                     "after,x\n");
  const CsvRows csv = read_csv(file.path());
  EXPECT_EQ(csv.rows, (Rows{{"name", "remark"},
                            {"Smith, J.", "said \"hi\""},
                            {"two\nlines", ""},
                            {"last", "a\r\nb"},
                            {"after", "x"}}));
  EXPECT_EQ(csv.line_numbers, (std::vector<int64_t>{1, 2, 3, 5, 7}));
}

TEST(ReadCsv, CrLfLineEndsAndNoFinalNewline) {
  const CsvFile file("crlf.csv", "x,y\r\n1,2\r\n\r\n\"3\",4");
  const CsvRows csv = read_csv(file.path());
  EXPECT_EQ(csv.rows, (Rows{{"x", "y"}, {"1", "2"}, {"3", "4"}}));
  EXPECT_EQ(csv.line_numbers, (std::vector<int64_t>{1, 2, 4}));
}

TEST(ReadCsv, ByteOrderMarkLoneCarriageReturnAndStrayQuotes) {
  const CsvFile file("odd.csv", "\xEF\xBB\xBFid,v\na\rb,5 \"inch\"\n");
  const CsvRows csv = read_csv(file.path());
  EXPECT_EQ(csv.rows, (Rows{{"id", "v"}, {"a\rb", "5 \"inch\""}}));
}

TEST(ReadCsv, SkipHeaderDropsTheFirstRecordOnly) {
  const CsvFile file("header.csv", "\n\"multi\nline header\",h2\n1,2\n");
  const CsvRows csv = read_csv(file.path(), /*skip_header=*/true);
  EXPECT_EQ(csv.rows, (Rows{{"1", "2"}}));
  EXPECT_EQ(csv.line_numbers, (std::vector<int64_t>{4}));
  const CsvFile empty("empty.csv", "");
  EXPECT_TRUE(read_csv(empty.path(), true).rows.empty());
}

TEST(ReadCsv, Errors) {
  const CsvFile unterminated("unterminated.csv", "a,b\n1,\"open\nstill open\n");
  EXPECT_EQ(error_of([&] { read_csv(unterminated.path()); }),
            unterminated.path() +
                ":2: unterminated quoted field (no closing '\"' before the end of the file)");
  const CsvFile after_quote("after_quote.csv", "a,b\n\"x\"\n\"y\"z,1\n");
  EXPECT_EQ(error_of([&] { read_csv(after_quote.path()); }),
            after_quote.path() + ":3: unexpected character 'z' after a closing quote");
  const std::string missing = ::testing::TempDir() + "rnnc_csv_test_missing.csv";
  EXPECT_EQ(error_of([&] { read_csv(missing); }).rfind(missing + ": cannot open file", 0), 0u);
}

// ---------------------------------------------------------------------------------------
// read_csv_numeric

TEST(ReadCsvNumeric, Float32ValuesRoundCorrectly) {
  const CsvFile file("hours.csv", "hours,points\n1.0,2.0\n 2.5 ,\t-4.75\n+3,1e-3\n0.1,-0\n");
  const Tensor tensor = read_csv_numeric(file.path(), DType::f32, /*skip_header=*/true);
  ASSERT_EQ(tensor.type().to_string(), "f32[4, 2]");
  const std::vector<float> expected = {1.0f, 2.0f, 2.5f, -4.75f, 3.0f, 1e-3f, 0.1f, -0.0f};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(tensor.data<float>()[i], expected[i]);
}

TEST(ReadCsvNumeric, Float64KeepsEveryDigit) {
  const CsvFile file("f64.csv", "3.141592653589793,1e300\n-2.718281828459045,5e-324\n");
  const Tensor tensor = read_csv_numeric(file.path(), DType::f64);
  ASSERT_EQ(tensor.type().to_string(), "f64[2, 2]");
  EXPECT_EQ(tensor.to_doubles(),
            (std::vector<double>{3.141592653589793, 1e300, -2.718281828459045, 5e-324}));
}

TEST(ReadCsvNumeric, Int32AcceptsIntegralValues) {
  const CsvFile file("labels.csv", "0,1\n\"7\",-2147483648\n3.0,2147483647\n");
  const Tensor tensor = read_csv_numeric(file.path(), DType::i32);
  ASSERT_EQ(tensor.type().to_string(), "i32[3, 2]");
  EXPECT_EQ(tensor.to_doubles(), (std::vector<double>{0, 1, 7, -2147483648.0, 3, 2147483647}));
}

TEST(ReadCsvNumeric, DiabetesLikeRows) {
  // Nine columns as in the lecture's diabetes data (eight features and the label).
  const CsvFile file("diabetes.csv",
                     "-0.294118,0.487437,0.180328,-0.292929,0,0.00149028,-0.53117,-0.0333333,0\n"
                     "-0.882353,-0.145729,0.0819672,-0.414141,0,-0.207153,-0.766866,-0.666667,1\n");
  const Tensor tensor = read_csv_numeric(file.path());
  ASSERT_EQ(tensor.type().to_string(), "f32[2, 9]");
  EXPECT_EQ(tensor.data<float>()[5], 0.00149028f);
  EXPECT_EQ(tensor.data<float>()[17], 1.0f);
}

TEST(ReadCsvNumeric, FieldCountErrorsNameFileAndLine) {
  EXPECT_EQ(numeric_error("1,2,3,4,5,6,7,8,9\n1,2,3,4,5,6,7,8,9\n\n1,2,3,4,5,6,7,8\n"),
            "4: expected 9 fields, found 8");
  EXPECT_EQ(numeric_error("a,b\n1,2\n\"x\ny\",2,3\n", DType::f32, true),
            "3: expected 2 fields, found 3");
}

TEST(ReadCsvNumeric, FieldErrorsNameFileLineAndField) {
  EXPECT_EQ(numeric_error("1,2,3\n4,5,abc\n"), "2: field 3 'abc' is not a number");
  EXPECT_EQ(numeric_error("1,,3\n"), "1: field 2 is empty");
  EXPECT_EQ(numeric_error("1, \t,3\n"), "1: field 2 is empty");
  EXPECT_EQ(numeric_error("1,2\n3,\"4\n\"\n"), "2: field 2 '4\n' is not a number");
  EXPECT_EQ(numeric_error("1.5e\n"), "1: field 1 '1.5e' is not a number");
  EXPECT_EQ(numeric_error("0x10\n"), "1: field 1 '0x10' is not a number");
  EXPECT_EQ(numeric_error("+-1\n"), "1: field 1 '+-1' is not a number");
  EXPECT_EQ(numeric_error("1 2\n"), "1: field 1 '1 2' is not a number");
  EXPECT_EQ(numeric_error("1,nan\n"),
            "1: field 2 'nan' is not a finite number (NaN and infinities are rejected)");
  EXPECT_EQ(numeric_error("-inf\n", DType::f64),
            "1: field 1 '-inf' is not a finite number (NaN and infinities are rejected)");
  EXPECT_EQ(numeric_error("1e39\n"), "1: field 1 '1e39' is out of range for f32");
  EXPECT_EQ(numeric_error("1e400\n", DType::f64), "1: field 1 '1e400' is out of range for f64");
  EXPECT_EQ(numeric_error("1.5\n", DType::i32), "1: field 1 '1.5' is not an integer");
  EXPECT_EQ(numeric_error("2147483648\n", DType::i32),
            "1: field 1 '2147483648' is out of range for i32");
  EXPECT_EQ(numeric_error(""), "no rows of data");
  EXPECT_EQ(numeric_error("only,a,header\n", DType::f32, true), "no rows of data");
}

TEST(ReadCsvNumeric, UnderflowGoesToZero) {
  const CsvFile file("tiny.csv", "1e-50,-1e-400\n");
  const Tensor f32 = read_csv_numeric(file.path(), DType::f32);
  EXPECT_EQ(f32.data<float>()[0], 0.0f);
  EXPECT_EQ(f32.data<float>()[1], 0.0f);
}

}  // namespace
}  // namespace rnnc
