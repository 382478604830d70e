#pragma once
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace rnnc {

/// The fields of every record of a CSV file (RFC 4180: quoted fields may hold commas,
/// doubled quotes and line breaks; LF or CRLF line ends).
struct CsvRows {
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> line_numbers;  ///< 1-based line where each row starts
};

/// Reads every record of `path` (gunzipped first when it ends in ".gz", see
/// runtime/text_file.h), skipping `skip_header` first records. Throws rnnc::Error
/// naming the file and line on an unterminated quote or a missing file.
CsvRows read_csv(const std::string& path, bool skip_header = false);

/// Reads a CSV of numbers into a [rows, columns] tensor of `dtype`. Every row must have the
/// same number of fields and every field must parse as a number; otherwise rnnc::Error
/// names the file, the line and the field ("data.csv:12: expected 9 fields, found 8").
Tensor read_csv_numeric(const std::string& path, DType dtype = DType::f32,
                        bool skip_header = false);

}  // namespace rnnc
