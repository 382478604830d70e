#include "runtime/text_file.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "ir/error.h"

namespace rnnc {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

/// The raw bytes of `path`.

/// Decompresses the gzip members in `compressed`; `path` names the file in errors.
std::string gunzip(const std::string& compressed, const std::string& path) {
  if (compressed.size() < 2 || static_cast<unsigned char>(compressed[0]) != 0x1f ||
      static_cast<unsigned char>(compressed[1]) != 0x8b)
    throw Error(path +
                ": not gzip data (the name ends in .gz but the gzip magic bytes are "
                "missing)");
  z_stream stream{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (CRC and length are checked).
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw Error(path + ": cannot initialize zlib");
  std::string text;
  char buffer[1 << 16];
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  int status = Z_OK;
  while (true) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    status = inflate(&stream, Z_NO_FLUSH);
    text.append(buffer, sizeof buffer - stream.avail_out);
    if (status == Z_STREAM_END) {
      // Another member may follow (gzip -c a b > c); trailing zero bytes are padding.
      size_t rest = stream.avail_in;
      const char* next = reinterpret_cast<const char*>(stream.next_in);
      bool only_zeros = true;
      for (size_t i = 0; i < rest && only_zeros; ++i) only_zeros = next[i] == 0;
      if (rest == 0 || only_zeros) break;
      if (inflateReset(&stream) != Z_OK) break;
      continue;
    }
    if (status == Z_OK) continue;
    if (status == Z_BUF_ERROR && stream.avail_in == 0) {
      inflateEnd(&stream);
      throw Error(path + ": truncated gzip data (the stream ends before its end marker)");
    }
    std::string reason = stream.msg ? stream.msg : "zlib error " + std::to_string(status);
    inflateEnd(&stream);
    throw Error(path + ": corrupt gzip data (" + reason + ")");
  }
  inflateEnd(&stream);
  return text;
}

}  // namespace

std::string read_file_bytes(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored))
    throw Error(path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file (" + std::strerror(errno) + ")");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": read error");
  return bytes;
}

void write_file_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) throw Error(path + ": cannot be written (" + std::strerror(errno) + ")");
}

std::string read_text_file(const std::string& path) {
  std::string bytes = read_file_bytes(path);
  if (ends_with(path, ".gz")) return gunzip(bytes, path);
  return bytes;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

}  // namespace rnnc
