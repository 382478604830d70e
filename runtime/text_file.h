#pragma once
#include <string>
#include <string_view>
#include <vector>

/// Writing whole files, and reading the text files behind the data loaders (names, Shakespeare,
/// word vectors), which the project vendors gzip-compressed: a path ending in ".gz" is decompressed
/// on the fly, so callers never care how a file is stored.
namespace rnnc {

/// The whole content of the file at `path`, as bytes, unchanged. Throws rnnc::Error naming
/// the file when it is a directory or cannot be opened or read.
std::string read_file_bytes(const std::string& path);

/// Replaces the file at `path` with `bytes`. Throws rnnc::Error naming the file when it
/// cannot be written.
void write_file_bytes(const std::string& path, const std::string& bytes);

/// The whole content of the file at `path`, as bytes. When `path` ends in ".gz" the file is
/// gunzipped (zlib; concatenated gzip members are read one after another, as gzip -d does).
/// Throws rnnc::Error naming the file when it cannot be opened or read, when a ".gz" file is
/// not gzip data, is corrupt or is truncated.
std::string read_text_file(const std::string& path);

/// The lines of `text`, without their terminators ("\n" or "\r\n"); a final line without a
/// terminator counts, an empty text has no lines, and a trailing terminator adds no empty
/// line. Views into `text`, which must outlive them.
std::vector<std::string_view> split_lines(std::string_view text);

}  // namespace rnnc
