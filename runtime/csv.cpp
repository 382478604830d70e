// CSV reading (RFC 4180) and the numeric loader built on it.
//
// Choices where RFC 4180 is silent or files in the wild differ:
//  - records end at LF or CRLF; a lone CR is an ordinary character;
//  - empty lines (nothing between two line ends) are skipped, so a trailing newline or blank
//    lines at the end give no empty records;
//  - a UTF-8 byte order mark at the start of the file is ignored;
//  - a quote inside an unquoted field is kept as an ordinary character; text between a
//    closing quote and the next comma or line end is an error.
// The numeric loader trims spaces and tabs around each field, rejects empty fields and
// rejects NaN and infinities ("nan", "inf"): a data set holding them is almost always a
// mistake, and letting them through would make training silently produce NaN.
#include "runtime/csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "ir/error.h"
#include "runtime/text_file.h"

namespace rnnc {
namespace {

/// Splits `text` into records, tracking the line each record starts on.
class CsvScanner {
 public:
  CsvScanner(std::string_view text, const std::string& path) : text_(text), path_(path) {
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
  }

  CsvRows scan() {
    CsvRows result;
    while (pos_ < text_.size()) {
      if (at_line_end()) {  // an empty line
        skip_line_end();
        continue;
      }
      result.line_numbers.push_back(line_);
      result.rows.push_back(scan_record());
    }
    return result;
  }

 private:
  bool at_line_end() const {
    return text_[pos_] == '\n' ||
           (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n');
  }

  void skip_line_end() {
    pos_ += text_[pos_] == '\r' ? 2 : 1;
    ++line_;
  }

  /// One record from pos_ up to and including its line end (or the end of the text).
  std::vector<std::string> scan_record() {
    std::vector<std::string> fields;
    for (;;) {
      fields.push_back(pos_ < text_.size() && text_[pos_] == '"' ? scan_quoted() : scan_unquoted());
      if (pos_ >= text_.size()) return fields;
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      skip_line_end();  // the field scanners stop only at ',', a line end or the end
      return fields;
    }
  }

  std::string scan_unquoted() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && !at_line_end()) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string scan_quoted() {
    const int64_t start_line = line_;
    ++pos_;  // the opening quote
    std::string field;
    for (;;) {
      if (pos_ >= text_.size())
        throw Error(path_ + ":" + std::to_string(start_line) +
                    ": unterminated quoted field (no closing '\"' before the end of the file)");
      const char c = text_[pos_++];
      if (c == '"') {
        if (pos_ < text_.size() && text_[pos_] == '"') {  // a doubled quote
          field += '"';
          ++pos_;
          continue;
        }
        break;
      }
      if (c == '\n') ++line_;
      field += c;
    }
    if (pos_ < text_.size() && text_[pos_] != ',' && !at_line_end())
      throw Error(path_ + ":" + std::to_string(line_) + ": unexpected character '" +
                  std::string(1, text_[pos_]) + "' after a closing quote");
    return field;
  }

  std::string_view text_;
  const std::string& path_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

/// How parsing one field went.
enum class ParseStatus { ok, not_a_number, out_of_range };

/// Parses all of `text` as a T (float or double) into `value`. A leading '+' is accepted.
/// Overflow is out of range; underflow gives zero or a subnormal, as strtod does.
template <class T>
ParseStatus parse_float(std::string_view text, T& value) {
  if (text.starts_with('+')) {
    text.remove_prefix(1);
    if (text.starts_with('-') || text.starts_with('+')) return ParseStatus::not_a_number;
  }
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || end != text.data() + text.size()) return ParseStatus::not_a_number;
  if (error == std::errc::result_out_of_range) {
    // libstdc++ reports both overflow and underflow as out of range; keep underflow.
    const double wide = std::strtod(std::string(text).c_str(), nullptr);
    if (std::abs(wide) > 1.0) return ParseStatus::out_of_range;
    value = static_cast<T>(wide);
    return ParseStatus::ok;
  }
  return error == std::errc() ? ParseStatus::ok : ParseStatus::not_a_number;
}

/// Parses `text` as a T or throws: "FILE:LINE: field 3 'abc' is not a number".
template <class T>
T parse_or_throw(std::string_view text, const std::string& what, const char* dtype_name) {
  T value{};
  switch (parse_float(text, value)) {
    case ParseStatus::ok:
      break;
    case ParseStatus::not_a_number:
      throw Error(what + " is not a number");
    case ParseStatus::out_of_range:
      throw Error(what + " is out of range for " + dtype_name);
  }
  if (!std::isfinite(value))
    throw Error(what + " is not a finite number (NaN and infinities are rejected)");
  return value;
}

/// Stores `raw`, field `field` (0-based) of a record, at flat `index` of `tensor`, or
/// throws naming `where` (the file and line) and the 1-based field number.
void store_field(Tensor& tensor, int64_t index, const std::string& raw, size_t field,
                 const std::string& where) {
  const std::string_view text = trim(raw);
  const std::string name = where + "field " + std::to_string(field + 1);
  if (text.empty()) throw Error(name + " is empty");
  const std::string what = name + " '" + std::string(text) + "'";
  switch (tensor.dtype()) {
    case DType::f32:
      tensor.data<float>()[index] = parse_or_throw<float>(text, what, "f32");
      return;
    case DType::f64:
      tensor.data<double>()[index] = parse_or_throw<double>(text, what, "f64");
      return;
    case DType::i32: {
      // Integers may be written as "3" or "3.0" (as pandas writes float columns).
      const double value = parse_or_throw<double>(text, what, "f64");
      if (value != std::floor(value)) throw Error(what + " is not an integer");
      if (value < std::numeric_limits<int32_t>::min() ||
          value > std::numeric_limits<int32_t>::max())
        throw Error(what + " is out of range for i32");
      tensor.data<int32_t>()[index] = static_cast<int32_t>(value);
      return;
    }
  }
}

}  // namespace

CsvRows read_csv(const std::string& path, bool skip_header) {
  const std::string text = read_text_file(path);  // gunzips a ".gz" file
  CsvRows rows = CsvScanner(text, path).scan();
  if (skip_header && !rows.rows.empty()) {
    rows.rows.erase(rows.rows.begin());
    rows.line_numbers.erase(rows.line_numbers.begin());
  }
  return rows;
}

Tensor read_csv_numeric(const std::string& path, DType dtype, bool skip_header) {
  const CsvRows csv = read_csv(path, skip_header);
  if (csv.rows.empty()) throw Error(path + ": no rows of data");
  const size_t columns = csv.rows.front().size();
  Tensor tensor(dtype, {static_cast<int64_t>(csv.rows.size()), static_cast<int64_t>(columns)});
  for (size_t r = 0; r < csv.rows.size(); ++r) {
    const std::string where = path + ":" + std::to_string(csv.line_numbers[r]) + ": ";
    const std::vector<std::string>& row = csv.rows[r];
    if (row.size() != columns)
      throw Error(where + "expected " + std::to_string(columns) + " fields, found " +
                  std::to_string(row.size()));
    for (size_t c = 0; c < columns; ++c)
      store_field(tensor, static_cast<int64_t>(r * columns + c), row[c], c, where);
  }
  return tensor;
}

}  // namespace rnnc
