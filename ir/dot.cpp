#include "ir/dot.h"

#include <charconv>
#include <cmath>
#include <unordered_map>

namespace rnnc::ir {
namespace {

/// `text` as a DOT double-quoted string.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";  // a centred line break in a label
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string number_text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return error == std::errc() ? std::string(buffer, end) : "?";
}

/// A list, shortened to its first items when long (constants can hold thousands).
template <typename T, typename Format>
std::string list_text(const std::vector<T>& items, Format format) {
  constexpr size_t kShown = 6;
  std::string text = "[";
  for (size_t i = 0; i < items.size() && i < kShown; ++i)
    text += (i ? ", " : "") + format(items[i]);
  if (items.size() > kShown) text += ", ... (" + std::to_string(items.size()) + ")";
  return text + "]";
}

std::string attribute_text(const AttrValue& value) {
  auto int_text = [](int64_t v) { return std::to_string(v); };
  switch (attr_value_kind(value)) {
    case AttrKind::Int:
      return int_text(std::get<int64_t>(value));
    case AttrKind::Float:
      return number_text(std::get<double>(value));
    case AttrKind::Ints:
      return list_text(std::get<std::vector<int64_t>>(value), int_text);
    case AttrKind::Floats:
      return list_text(std::get<std::vector<double>>(value), number_text);
    case AttrKind::Str:
      return "\"" + std::get<std::string>(value) + "\"";
    case AttrKind::DType:
      return std::string(dtype_name(std::get<DType>(value)));
  }
  return "?";
}

/// Writes one graph's nodes and edges; bodies recurse as clusters.
class DotWriter {
 public:
  std::string run(const Graph& graph) {
    out_ = "digraph " + quoted(graph.name()) + " {\n";
    out_ += "  compound=true;\n  rankdir=TB;\n";
    out_ += "  node [shape=box, fontname=\"monospace\", fontsize=10];\n";
    out_ += "  edge [fontname=\"monospace\", fontsize=9];\n";
    write_graph(graph, "  ");
    out_ += "}\n";
    return out_;
  }

 private:
  std::string new_id() { return "n" + std::to_string(next_id_++); }

  std::string label(const Node& node) {
    std::string text;
    for (size_t i = 0; i < node.num_results(); ++i)
      text += (i ? ", %" : "%") + node.result(i)->name();
    text += " = " + std::string(node.info().name);
    for (const auto& [name, value] : node.attrs().values())
      text += "\n" + name + " = " + attribute_text(value);
    text += "\n";
    for (size_t i = 0; i < node.num_results(); ++i)
      text += (i ? ", " : "") + node.result(i)->type().to_string();
    return text;
  }

  void write_graph(const Graph& graph, const std::string& indent) {
    for (const auto& owned : graph.nodes()) {
      const Node& node = *owned;
      std::string id = new_id();
      ids_[&node] = id;
      bool source = node.info().has(kSource);
      out_ += indent + id + " [label=" + quoted(label(node)) + (source ? ", shape=ellipse" : "") +
              "];\n";
      for (size_t i = 0; i < node.operands().size(); ++i) {
        out_ += indent + ids_.at(node.operand(i)->producer()) + " -> " + id;
        std::vector<std::string> attributes;
        if (node.operand(i)->producer()->num_results() > 1)
          attributes.push_back("taillabel=" +
                               quoted(std::to_string(node.operand(i)->result_index())));
        if (node.operands().size() > 1) attributes.push_back("label=" + quoted(std::to_string(i)));
        write_attributes(attributes);
      }
      for (size_t b = 0; b < node.bodies().size(); ++b) write_body(node, id, node.body(b), indent);
    }
    for (const GraphOutput& output : graph.outputs()) {
      std::string id = new_id();
      out_ += indent + id + " [label=" + quoted("output " + output.name) + ", shape=house];\n";
      out_ += indent + ids_.at(output.value->producer()) + " -> " + id;
      write_attributes(taillabel(output.value));
    }
    for (const GraphUpdate& update : graph.updates()) {
      std::string id = new_id();
      out_ += indent + id + " [label=" + quoted("update %" + update.parameter->name()) +
              ", shape=invhouse];\n";
      out_ += indent + ids_.at(update.new_value->producer()) + " -> " + id;
      write_attributes(taillabel(update.new_value));
      out_ += indent + id + " -> " + ids_.at(update.parameter->producer()) +
              " [style=dotted, constraint=false];\n";
    }
  }

  std::vector<std::string> taillabel(const Value* value) {
    if (value->producer()->num_results() < 2) return {};
    return {"taillabel=" + quoted(std::to_string(value->result_index()))};
  }

  void write_attributes(const std::vector<std::string>& attributes) {
    if (!attributes.empty()) {
      out_ += " [";
      for (size_t i = 0; i < attributes.size(); ++i) out_ += (i ? ", " : "") + attributes[i];
      out_ += "]";
    }
    out_ += ";\n";
  }

  void write_body(const Node& node, const std::string& node_id, const Graph& body,
                  const std::string& indent) {
    std::string cluster = "cluster_" + std::to_string(next_cluster_++);
    out_ += indent + "subgraph " + cluster + " {\n";
    std::string inner = indent + "  ";
    out_ += inner +
            "label=" + quoted("@" + body.name() + " (body of %" + node.result()->name() + ")") +
            ";\n";
    out_ += inner + "style=rounded;\n";
    size_t first = next_id_;
    write_graph(body, inner);
    out_ += indent + "}\n";
    // Edges to a cluster need a node inside it: the body's first node (empty bodies get none).
    if (next_id_ > first)
      out_ += indent + node_id + " -> n" + std::to_string(first) +
              " [style=dashed, lhead=" + cluster + ", arrowhead=none];\n";
  }

  std::string out_;
  size_t next_id_ = 0;
  size_t next_cluster_ = 0;
  std::unordered_map<const Node*, std::string> ids_;
};

}  // namespace

std::string print_dot(const Graph& graph) { return DotWriter().run(graph); }

}  // namespace rnnc::ir
