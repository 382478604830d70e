#include "ir/lexer.h"

#include <charconv>
#include <cstdio>
#include <optional>

#include "ir/error.h"
#include "ir/graph.h"

namespace rnnc::ir {
namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c) || c == '.'; }

/// "'x'" for a printable character, "byte 0x07" otherwise.
std::string describe_char(char c) {
  auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7f) return std::string("'") + c + "'";
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "byte 0x%02x", byte);
  return buffer;
}

/// True when `text` is an integer literal or a float literal that from_chars reads whole.
bool is_number_syntax(std::string_view text) {
  std::string_view digits = text.substr(text[0] == '-' ? 1 : 0);
  if (digits.empty()) return false;
  bool all_digits = true;
  for (char c : digits) all_digits = all_digits && is_digit(c);
  if (all_digits) return true;
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  // Out of range is still number syntax; the parser reports the range.
  return end == text.data() + text.size() &&
         (error == std::errc() || error == std::errc::result_out_of_range);
}

class Lexer {
 public:
  Lexer(std::string_view text, const std::string& filename) : text_(text), filename_(filename) {}

  std::vector<Token> run() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (c == '\n') {
        push(TokenKind::Newline, "\n", pos_ + 1);
        ++line_;
        line_start_ = pos_;  // push() moved pos_ past the newline
      } else if (is_name_start(c)) {
        size_t end = scan_name(pos_);
        push(TokenKind::Identifier, std::string(text_.substr(pos_, end - pos_)), end);
      } else if (c == '%') {
        lex_value_name();
      } else if (c == '@') {
        lex_graph_name();
      } else if (c == '"') {
        Token token = start(TokenKind::String);
        token.text = scan_string();
        tokens_.push_back(std::move(token));
      } else if (is_digit(c) || (c == '-' && pos_ + 1 < text_.size() &&
                                 (is_digit(text_[pos_ + 1]) || text_[pos_ + 1] == 'i' ||
                                  text_[pos_ + 1] == 'n'))) {
        lex_number();
      } else if (auto kind = punctuation(c)) {
        push(*kind, std::string(1, c), pos_ + 1);
      } else {
        fail(pos_, "unexpected character " + describe_char(c));
      }
    }
    Token end = start(TokenKind::End);
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  static std::optional<TokenKind> punctuation(char c) {
    switch (c) {
      case '(':
        return TokenKind::LParen;
      case ')':
        return TokenKind::RParen;
      case '[':
        return TokenKind::LBracket;
      case ']':
        return TokenKind::RBracket;
      case '{':
        return TokenKind::LBrace;
      case '}':
        return TokenKind::RBrace;
      case ',':
        return TokenKind::Comma;
      case ':':
        return TokenKind::Colon;
      case '=':
        return TokenKind::Equals;
      default:
        return std::nullopt;
    }
  }

  [[noreturn]] void fail(size_t at, const std::string& message) const {
    throw Error(filename_ + ":" + std::to_string(line_) + ":" +
                std::to_string(at - line_start_ + 1) + ": " + message);
  }

  Token start(TokenKind kind) const {
    Token token;
    token.kind = kind;
    token.line = line_;
    token.column = static_cast<int>(pos_ - line_start_ + 1);
    return token;
  }

  /// Appends a token starting at pos_ and moves past it to `end`.
  void push(TokenKind kind, std::string text, size_t end) {
    Token token = start(kind);
    token.text = std::move(text);
    tokens_.push_back(std::move(token));
    pos_ = end;
  }

  size_t scan_name(size_t from) const {
    size_t end = from;
    while (end < text_.size() && is_name_char(text_[end])) ++end;
    return end;
  }

  void lex_value_name() {
    size_t end = scan_name(pos_ + 1);
    std::string name(text_.substr(pos_ + 1, end - pos_ - 1));
    if (name.empty()) fail(pos_, "expected a value name after '%'");
    if (!is_valid_name(name)) fail(pos_, "invalid value name '%" + name + "'");
    push(TokenKind::ValueName, std::move(name), end);
  }

  void lex_graph_name() {
    Token token = start(TokenKind::GraphName);
    ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      token.text = scan_string();
    } else {
      size_t end = scan_name(pos_);
      token.text = std::string(text_.substr(pos_, end - pos_));
      if (!is_valid_name(token.text)) fail(pos_ - 1, "expected a graph name after '@'");
      pos_ = end;
    }
    tokens_.push_back(std::move(token));
  }

  void lex_number() {
    size_t end = pos_ + 1;
    while (end < text_.size()) {
      char c = text_[end];
      bool sign_of_exponent =
          (c == '-' || c == '+') && (text_[end - 1] == 'e' || text_[end - 1] == 'E');
      if (!is_name_char(c) && !sign_of_exponent) break;
      ++end;
    }
    std::string text(text_.substr(pos_, end - pos_));
    if (!is_number_syntax(text)) fail(pos_, "bad number '" + text + "'");
    push(TokenKind::Number, std::move(text), end);
  }

  /// Reads a string literal starting at pos_ (the opening quote); returns its contents.
  std::string scan_string() {
    size_t open = pos_;
    std::string contents;
    ++pos_;
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') fail(open, "unterminated string");
      char c = text_[pos_];
      if (c == '"') break;
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) fail(open, "unterminated string");
        char escaped = text_[pos_ + 1];
        if (escaped == '"' || escaped == '\\') {
          contents += escaped;
        } else if (escaped == 'n') {
          contents += '\n';
        } else {
          std::string shown = describe_char(escaped);
          if (shown[0] == '\'') shown = "'\\" + shown.substr(1);
          fail(pos_, "unknown escape " + shown + " in a string (use \\\", \\\\ or \\n)");
        }
        pos_ += 2;
      } else {
        contents += c;
        ++pos_;
      }
    }
    ++pos_;
    return contents;
  }

  std::string_view text_;
  const std::string& filename_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int line_ = 1;
  /// Index of the first character of the current line.
  size_t line_start_ = 0;
};

}  // namespace

std::vector<Token> tokenize(std::string_view text, const std::string& filename) {
  return Lexer(text, filename).run();
}

std::string describe_token(const Token& token) {
  switch (token.kind) {
    case TokenKind::Identifier:
      return "'" + token.text + "'";
    case TokenKind::ValueName:
      return "'%" + token.text + "'";
    case TokenKind::GraphName:
      return "graph name '@" + token.text + "'";
    case TokenKind::Number:
      return "number '" + token.text + "'";
    case TokenKind::String:
      return "a string";
    case TokenKind::LParen:
      return "'('";
    case TokenKind::RParen:
      return "')'";
    case TokenKind::LBracket:
      return "'['";
    case TokenKind::RBracket:
      return "']'";
    case TokenKind::LBrace:
      return "'{'";
    case TokenKind::RBrace:
      return "'}'";
    case TokenKind::Comma:
      return "','";
    case TokenKind::Colon:
      return "':'";
    case TokenKind::Equals:
      return "'='";
    case TokenKind::Newline:
      return "end of line";
    case TokenKind::End:
      return "end of file";
  }
  return "?";
}

std::string quote_string(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (c == '\n') {
      quoted += "\\n";
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

}  // namespace rnnc::ir
