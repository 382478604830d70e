#include "ir/parser.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <unordered_map>
#include <variant>

#include "ir/error.h"
#include "ir/lexer.h"

namespace rnnc::ir {
namespace {

/// Largest element count a type may have: keeps element and byte counts far from overflow.
constexpr int64_t kMaxElements = int64_t{1} << 48;

/// A recursive-descent parser over the tokens of one file (grammar in docs/text-ir.md).
/// Graph bodies are parsed by parse_graph_body, so nested bodies (loops) can reuse it.
class Parser {
 public:
  Parser(std::string_view text, const std::string& filename)
      : filename_(filename), tokens_(tokenize(text, filename)) {}

  /// file := NEWLINE* 'graph' GRAPHNAME body NEWLINE* END
  std::unique_ptr<Graph> parse_file() {
    skip_newlines();
    if (peek().kind != TokenKind::Identifier || peek().text != "graph")
      fail_expected("'graph @name {' at the start of the file");
    next();
    const Token& name = expect(TokenKind::GraphName, "a graph name '@name' after 'graph'");
    auto graph = std::make_unique<Graph>(name.text);
    Scope scope{*graph, {}};
    parse_graph_body(scope);
    skip_newlines();
    if (peek().kind != TokenKind::End)
      fail(peek(),
           "unexpected " + describe_token(peek()) + " after the end of graph @" + graph->name());
    return graph;
  }

 private:
  /// The graph being filled and the line where each of its value names was defined.
  struct Scope {
    Graph& graph;
    std::unordered_map<std::string, int> line_of;
  };

  const Token& peek() const { return tokens_[pos_]; }
  const Token& next() {
    const Token& token = tokens_[pos_];
    if (token.kind != TokenKind::End) ++pos_;
    return token;
  }
  bool accept(TokenKind kind) {
    if (peek().kind != kind) return false;
    next();
    return true;
  }
  const Token& expect(TokenKind kind, const std::string& what) {
    if (peek().kind != kind) fail_expected(what);
    return next();
  }
  void skip_newlines() {
    while (accept(TokenKind::Newline)) {
    }
  }

  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    throw Error(filename_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                message);
  }
  [[noreturn]] void fail_expected(const std::string& what) const {
    if (peek().kind == TokenKind::End) fail(peek(), "unexpected end of file, expected " + what);
    fail(peek(), "expected " + what);
  }

  /// A statement ends at a line end, or right before the '}' closing its graph.
  void end_statement(const std::string& after) {
    if (accept(TokenKind::Newline) || peek().kind == TokenKind::RBrace ||
        peek().kind == TokenKind::End)
      return;
    fail_expected("end of line after " + after);
  }

  /// body := '{' (statement)* '}', statements separated by line ends.
  void parse_graph_body(Scope& scope) {
    const Token& open =
        expect(TokenKind::LBrace, "'{' to open the body of graph @" + scope.graph.name());
    constexpr int kMaxDepth = 64;
    if (depth_ >= kMaxDepth)
      fail(open, "graphs nested more than " + std::to_string(kMaxDepth) + " deep");
    struct DepthGuard {
      int& depth;
      explicit DepthGuard(int& d) : depth(d) { ++depth; }
      ~DepthGuard() { --depth; }
    } guard(depth_);
    while (true) {
      skip_newlines();
      const Token& token = peek();
      if (token.kind == TokenKind::RBrace) {
        next();
        return;
      }
      if (token.kind == TokenKind::End)
        fail(token, "missing '}' at the end of graph @" + scope.graph.name() + " (opened at line " +
                        std::to_string(open.line) + ")");
      parse_statement(scope);
    }
  }

  /// statement := node | output | update
  void parse_statement(Scope& scope) {
    const Token& token = peek();
    if (token.kind == TokenKind::ValueName) return parse_node(scope);
    if (token.kind == TokenKind::Identifier && token.text == "output") return parse_output(scope);
    if (token.kind == TokenKind::Identifier && token.text == "update") return parse_update(scope);
    fail_expected("a node '%name = op(...)', 'output' or 'update'");
  }

  /// node := VALUE (',' VALUE)* '=' OP '(' operands? ')' attributes? ':' type (',' type)*
  void parse_node(Scope& scope) {
    std::vector<std::string> names;
    do {
      const Token& result = expect(TokenKind::ValueName, "a result name '%name'");
      auto [it, fresh] = scope.line_of.emplace(result.text, result.line);
      if (!fresh)
        fail(result, "value %" + result.text + " is defined twice (first at line " +
                         std::to_string(it->second) + ")");
      names.push_back(result.text);
    } while (accept(TokenKind::Comma));
    expect(TokenKind::Equals, "'=' after the result names");
    const Token& op_token = expect(TokenKind::Identifier, "an op name after '='");
    std::optional<OpKind> kind = op_from_name(op_token.text);
    if (!kind) fail(op_token, "unknown op '" + op_token.text + "'");
    const OpInfo& info = op_info(*kind);

    expect(TokenKind::LParen, "'(' after the op name");
    std::vector<Value*> operands;
    if (!accept(TokenKind::RParen)) {
      do {
        operands.push_back(parse_use(scope));
      } while (accept(TokenKind::Comma));
      expect(TokenKind::RParen, "',' or ')' after an operand");
    }
    Attributes attrs;
    if (peek().kind == TokenKind::LBrace) attrs = parse_attributes(info);
    const Token& colon = expect(TokenKind::Colon, "':' before the result type");
    std::vector<TensorType> types;
    do {
      types.push_back(parse_type());
    } while (accept(TokenKind::Comma));
    std::vector<std::unique_ptr<Graph>> bodies;
    while (peek().kind == TokenKind::Identifier && peek().text == "graph") {
      next();
      const Token& body_name = expect(TokenKind::GraphName, "a graph name '@name' after 'graph'");
      bodies.push_back(std::make_unique<Graph>(body_name.text));
      Scope body_scope{*bodies.back(), {}};
      parse_graph_body(body_scope);
    }
    end_statement(bodies.empty() ? "the node's result types" : "the node's body");

    if (types.size() != names.size())
      fail(colon, std::to_string(names.size()) + " result name(s) but " +
                      std::to_string(types.size()) + " result type(s)");
    try {
      complete_attributes(info, attrs);
    } catch (const Error& error) {
      fail(op_token, error.what());
    }
    Node* node = nullptr;
    try {
      node = scope.graph.add_node(*kind, std::move(operands), std::move(attrs), types, names,
                                  std::move(bodies));
    } catch (const Error& error) {
      fail(op_token, error.what());
    }
    if (node->num_results() != names.size())
      fail(op_token, "op '" + op_token.text + "' has " + std::to_string(node->num_results()) +
                         " result(s), but " + std::to_string(names.size()) + " are named");
  }

  /// output := 'output' NAME '=' VALUE
  void parse_output(Scope& scope) {
    next();
    const Token& name = expect(TokenKind::Identifier, "an output name after 'output'");
    expect(TokenKind::Equals, "'=' after the output name");
    Value* value = parse_use(scope);
    end_statement("the output");
    try {
      scope.graph.add_output(name.text, value);
    } catch (const Error& error) {
      fail(name, error.what());
    }
  }

  /// update := 'update' VALUE '=' VALUE
  void parse_update(Scope& scope) {
    next();
    const Token& target = peek();
    Value* parameter = parse_use(scope);
    expect(TokenKind::Equals, "'=' after the updated parameter");
    Value* new_value = parse_use(scope);
    end_statement("the update");
    try {
      scope.graph.add_update(parameter, new_value);
    } catch (const Error& error) {
      fail(target, error.what());
    }
  }

  /// A use of a value defined earlier in the graph.
  Value* parse_use(Scope& scope) {
    const Token& token = expect(TokenKind::ValueName, "a value '%name'");
    Value* value = scope.graph.find(token.text);
    if (!value) fail(token, "undefined value %" + token.text);
    return value;
  }

  /// attributes := '{' (NAME '=' attr_value (',' NAME '=' attr_value)*)? '}'
  Attributes parse_attributes(const OpInfo& info) {
    expect(TokenKind::LBrace, "'{'");
    Attributes attrs;
    if (accept(TokenKind::RBrace)) return attrs;
    do {
      const Token& name = expect(TokenKind::Identifier, "an attribute name");
      const AttrSpec* spec = info.attr(name.text);
      if (!spec)
        fail(name, "op '" + std::string(info.name) + "' has no attribute '" + name.text + "'");
      if (attrs.has(name.text)) fail(name, "attribute '" + name.text + "' is given twice");
      expect(TokenKind::Equals, "'=' after the attribute name");
      const Token& value_token = peek();
      AttrValue value = parse_attr_value();
      AttrKind kind = attr_value_kind(value);
      bool fits = kind == spec->kind || (spec->kind == AttrKind::Float && kind == AttrKind::Int) ||
                  (spec->kind == AttrKind::Floats && kind == AttrKind::Ints);
      if (!fits)
        fail(value_token, "attribute '" + name.text + "' of op '" + std::string(info.name) +
                              "' must be of kind " + std::string(attr_kind_name(spec->kind)) +
                              ", not " + std::string(attr_kind_name(kind)));
      attrs.set(name.text, std::move(value));
    } while (accept(TokenKind::Comma));
    expect(TokenKind::RBrace, "',' or '}' after an attribute");
    return attrs;
  }

  /// attr_value := number | STRING | DTYPE | '[' (number (',' number)*)? ']'
  AttrValue parse_attr_value() {
    const Token& token = peek();
    if (token.kind == TokenKind::String) return next().text;
    if (token.kind == TokenKind::Identifier) {
      if (std::optional<DType> dtype = parse_dtype(token.text)) {
        next();
        return *dtype;
      }
    }
    if (token.kind == TokenKind::LBracket) {
      next();
      std::vector<std::variant<int64_t, double>> items;
      bool any_float = false;
      if (!accept(TokenKind::RBracket)) {
        do {
          items.push_back(parse_number());
          any_float = any_float || std::holds_alternative<double>(items.back());
        } while (accept(TokenKind::Comma));
        expect(TokenKind::RBracket, "',' or ']' after a list item");
      }
      if (!any_float) {
        std::vector<int64_t> ints;
        for (const auto& item : items) ints.push_back(std::get<int64_t>(item));
        return ints;
      }
      std::vector<double> floats;
      for (const auto& item : items)
        floats.push_back(std::holds_alternative<double>(item)
                             ? std::get<double>(item)
                             : static_cast<double>(std::get<int64_t>(item)));
      return floats;
    }
    auto number = parse_number("an attribute value (number, list, string or dtype)");
    if (std::holds_alternative<double>(number)) return std::get<double>(number);
    return std::get<int64_t>(number);
  }

  /// number := NUMBER | 'inf' | 'nan'. An int when it has no '.', exponent, inf or nan.
  std::variant<int64_t, double> parse_number(const std::string& what = "a number") {
    const Token& token = peek();
    if (token.kind == TokenKind::Identifier && (token.text == "inf" || token.text == "nan")) {
      next();
      return token.text == "inf" ? std::numeric_limits<double>::infinity()
                                 : std::numeric_limits<double>::quiet_NaN();
    }
    expect(TokenKind::Number, what);
    const std::string& text = token.text;
    const char* begin = text.data();
    const char* end = begin + text.size();
    int64_t int_value = 0;
    auto [int_end, int_error] = std::from_chars(begin, end, int_value);
    if (int_end == end) {
      if (int_error != std::errc()) fail(token, "number '" + text + "' is out of range");
      return int_value;
    }
    double float_value = 0;
    auto [float_end, float_error] = std::from_chars(begin, end, float_value);
    if (float_end != end) fail(token, "bad number '" + text + "'");
    if (float_error != std::errc()) fail(token, "number '" + text + "' is out of range");
    return float_value;
  }

  /// type := DTYPE '[' (INT (',' INT)*)? ']'
  TensorType parse_type() {
    const Token& dtype_token = expect(TokenKind::Identifier, "a type such as f32[2, 3]");
    std::optional<DType> dtype = parse_dtype(dtype_token.text);
    if (!dtype) fail(dtype_token, "unknown dtype '" + dtype_token.text + "' (use f32, f64 or i32)");
    TensorType type{*dtype, {}};
    expect(TokenKind::LBracket, "'[' after the dtype");
    if (accept(TokenKind::RBracket)) return type;
    int64_t elements = 1;
    do {
      const Token& dim_token = peek();
      auto dim = parse_number("a dimension");
      if (!std::holds_alternative<int64_t>(dim) || std::get<int64_t>(dim) < 0)
        fail(dim_token, "a dimension must be a non-negative integer, not '" + dim_token.text + "'");
      int64_t size = std::get<int64_t>(dim);
      if (size > kMaxElements || (size > 0 && elements > kMaxElements / size))
        fail(dim_token, "type has more than 2^48 elements");
      elements *= size;
      type.shape.push_back(size);
    } while (accept(TokenKind::Comma));
    expect(TokenKind::RBracket, "',' or ']' after a dimension");
    return type;
  }

  const std::string& filename_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;  ///< graphs being parsed, outermost included
};

}  // namespace

std::unique_ptr<Graph> parse_graph(std::string_view text, const std::string& filename) {
  return Parser(text, filename).parse_file();
}

std::unique_ptr<Graph> parse_graph_file(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error))
    throw Error("cannot read '" + path + "': it is a directory");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error("cannot open '" + path + "'");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw Error("cannot read '" + path + "'");
  return parse_graph(text, path);
}

}  // namespace rnnc::ir
