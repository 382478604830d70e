#include "ir/printer.h"

#include <cassert>
#include <charconv>
#include <cmath>

#include "ir/lexer.h"

namespace rnnc::ir {
namespace {

/// The shortest text that reads back as exactly `value`, always with a '.' or an exponent
/// so that it never reads as an int.
std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  assert(error == std::errc());
  std::string text(buffer, end);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

template <typename T, typename Format>
std::string format_list(const std::vector<T>& items, Format format) {
  std::string text = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) text += ", ";
    text += format(items[i]);
  }
  return text + "]";
}

std::string format_attr(const AttrValue& value) {
  auto format_int = [](int64_t v) { return std::to_string(v); };
  switch (attr_value_kind(value)) {
    case AttrKind::Int:
      return format_int(std::get<int64_t>(value));
    case AttrKind::Float:
      return format_float(std::get<double>(value));
    case AttrKind::Ints:
      return format_list(std::get<std::vector<int64_t>>(value), format_int);
    case AttrKind::Floats:
      return format_list(std::get<std::vector<double>>(value), format_float);
    case AttrKind::Str:
      return quote_string(std::get<std::string>(value));
    case AttrKind::DType:
      return std::string(dtype_name(std::get<DType>(value)));
  }
  return "?";
}

/// "%a = op(%x, %y) {k = v} : f32[2]" (without indentation or line end).
std::string format_node(const Node& node) {
  std::string text;
  for (size_t i = 0; i < node.num_results(); ++i) {
    if (i) text += ", ";
    text += "%" + node.result(i)->name();
  }
  text += " = " + std::string(node.info().name) + "(";
  for (size_t i = 0; i < node.operands().size(); ++i) {
    if (i) text += ", ";
    text += "%" + node.operand(i)->name();
  }
  text += ")";
  const OpInfo& info = node.info();
  if (!info.attrs.empty()) {
    text += " {";
    for (size_t i = 0; i < info.attrs.size(); ++i) {
      if (i) text += ", ";
      const std::string& name = info.attrs[i].name;
      // Nodes hold complete attributes (Graph::add_node ran complete_attributes).
      assert(node.attrs().has(name));
      text += name + " = " + format_attr(node.attrs().at(name));
    }
    text += "}";
  }
  text += " :";
  for (size_t i = 0; i < node.num_results(); ++i)
    text += (i ? ", " : " ") + node.result(i)->type().to_string();
  return text;
}

/// Prints `graph`'s statements (nodes, outputs, updates), one per line, between braces.
/// Written per graph so that node bodies (loops) can later print as nested blocks.
void print_body(const Graph& graph, const std::string& indent, std::string& out);

/// "graph @name" with the name quoted when it is not an identifier.
std::string graph_header(const Graph& graph) {
  const std::string& name = graph.name();
  return "graph @" + (is_valid_name(name) ? name : quote_string(name)) + " ";
}

void print_body(const Graph& graph, const std::string& indent, std::string& out) {
  out += "{\n";
  std::string inner = indent + "  ";
  for (const auto& node : graph.nodes()) {
    out += inner + format_node(*node);
    for (const auto& body : node->bodies()) {
      out += " " + graph_header(*body);
      print_body(*body, inner, out);
    }
    out += "\n";
  }
  for (const GraphOutput& output : graph.outputs())
    out += inner + "output " + output.name + " = %" + output.value->name() + "\n";
  for (const GraphUpdate& update : graph.updates())
    out += inner + "update %" + update.parameter->name() + " = %" + update.new_value->name() + "\n";
  out += indent + "}";
}

}  // namespace

std::string print_graph(const Graph& graph) {
  std::string out = graph_header(graph);
  print_body(graph, "", out);
  return out + "\n";
}

}  // namespace rnnc::ir
