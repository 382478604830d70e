#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace rnnc::ir {

/// Kinds of tokens of the text IR (see docs/text-ir.md).
enum class TokenKind {
  Identifier,  ///< [A-Za-z_][A-Za-z0-9_.]*: keywords, op names, dtypes, attribute names
  ValueName,   ///< %name; `text` holds the name without '%'
  GraphName,   ///< @name or @"quoted"; `text` holds the name without '@' and quotes
  Number,      ///< an integer or float literal, sign included ("-3", "1e-05", "-inf")
  String,      ///< "..."; `text` holds the unescaped contents
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Colon,
  Equals,
  Newline,  ///< end of a line (statements end at line ends)
  End,      ///< end of the input
};

/// One token and where it starts (1-based line and byte column), for error messages.
struct Token {
  TokenKind kind = TokenKind::End;
  std::string text;
  int line = 1;
  int column = 1;
};

/// Splits text IR into tokens, dropping blanks and comments and ending with one End token.
/// Throws rnnc::Error "FILE:LINE:COLUMN: message" on a character that starts no token, an
/// unterminated string or an unknown escape. `filename` is used in messages only.
std::vector<Token> tokenize(std::string_view text, const std::string& filename);

/// How messages name a token: "'('", "number '3'", "end of line", ...
std::string describe_token(const Token& token);

/// `text` quoted as a text-IR string literal, with ", \ and newline escaped.
std::string quote_string(std::string_view text);

}  // namespace rnnc::ir
