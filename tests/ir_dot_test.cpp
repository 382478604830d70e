// ir::print_dot: the Graphviz text is checked structurally by a small parser of the DOT
// grammar it uses (so the suite needs no Graphviz), on hand-built and random graphs.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "ir/builder.h"
#include "ir/dot.h"
#include "ir/scan_builder.h"
#include "tests/support/random_graph.h"

namespace rnnc {
namespace {

using ir::DType;
using ir::Value;
namespace build = ir::build;

/// What a DOT text declares: node ids with their labels, edges, clusters. A parse error
/// fails the test (ADD_FAILURE) and stops parsing.
struct DotSummary {
  std::string graph_name;
  std::map<std::string, std::string> labels;  ///< node id -> label (escapes undone)
  std::vector<std::pair<std::string, std::string>> edges;
  std::map<std::string, int> cluster_depth;  ///< cluster id -> nesting depth (1 = top)
  std::set<std::string> edge_lheads;
  bool ok = false;
};

/// A recursive-descent parser for: digraph ID { stmt* } with stmt = ID = ID ; |
/// (node|edge|graph) [attrs] ; | subgraph ID { stmt* } | ID [attrs] ; | ID -> ID [attrs] ;
class DotParser {
 public:
  explicit DotParser(const std::string& text) : text_(text) {}

  DotSummary parse() {
    try {
      expect_word("digraph");
      summary_.graph_name = id();
      statements(0);
      skip_blanks();
      if (pos_ != text_.size()) fail("text after the graph");
      summary_.ok = true;
    } catch (const std::string& message) {
      ADD_FAILURE() << message << " at offset " << pos_ << ": " << text_.substr(pos_, 60);
    }
    return summary_;
  }

 private:
  [[noreturn]] void fail(const std::string& message) { throw message; }

  void skip_blanks() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool peek(const std::string& token) {
    skip_blanks();
    return text_.compare(pos_, token.size(), token) == 0;
  }
  void expect(const std::string& token) {
    if (!peek(token)) fail("expected '" + token + "'");
    pos_ += token.size();
  }
  void expect_word(const std::string& word) {
    if (id() != word) fail("expected " + word);
  }

  /// An identifier, a number or a quoted string (escapes undone).
  std::string id() {
    skip_blanks();
    if (pos_ >= text_.size()) fail("expected an id");
    std::string value;
    if (text_[pos_] == '"') {
      for (++pos_; pos_ < text_.size() && text_[pos_] != '"'; ++pos_) {
        if (text_[pos_] == '\n') fail("line break inside a string");
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
          char next = text_[++pos_];
          value += next == 'n' ? '\n' : next;
        } else {
          value += text_[pos_];
        }
      }
      if (pos_ >= text_.size()) fail("unterminated string");
      ++pos_;
      return value;
    }
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '_' || text_[pos_] == '.'))
      value += text_[pos_++];
    if (value.empty()) fail("expected an id");
    return value;
  }

  std::map<std::string, std::string> attributes() {
    std::map<std::string, std::string> attrs;
    if (!peek("[")) return attrs;
    expect("[");
    while (!peek("]")) {
      std::string name = id();
      expect("=");
      attrs[name] = id();
      if (peek(",")) expect(",");
    }
    expect("]");
    return attrs;
  }

  void statements(int depth) {
    expect("{");
    while (!peek("}")) {
      std::string first = id();
      if (first == "subgraph") {
        std::string cluster = id();
        if (summary_.cluster_depth.count(cluster)) fail("cluster " + cluster + " twice");
        summary_.cluster_depth[cluster] = depth + 1;
        statements(depth + 1);
        continue;
      }
      if (peek("->")) {
        expect("->");
        std::string to = id();
        auto attrs = attributes();
        summary_.edges.emplace_back(first, to);
        if (attrs.count("lhead")) summary_.edge_lheads.insert(attrs["lhead"]);
      } else if (peek("=")) {
        expect("=");
        id();
      } else {
        auto attrs = attributes();
        if (first != "node" && first != "edge" && first != "graph") {
          if (summary_.labels.count(first)) fail("node " + first + " declared twice");
          if (!attrs.count("label")) fail("node " + first + " has no label");
          summary_.labels[first] = attrs["label"];
        }
      }
      expect(";");
    }
    expect("}");
  }

  const std::string& text_;
  size_t pos_ = 0;
  DotSummary summary_;
};

/// Every edge joins declared nodes; every lhead names a cluster.
void expect_consistent(const DotSummary& dot) {
  ASSERT_TRUE(dot.ok);
  for (const auto& [from, to] : dot.edges) {
    EXPECT_TRUE(dot.labels.count(from)) << from;
    EXPECT_TRUE(dot.labels.count(to)) << to;
  }
  for (const std::string& cluster : dot.edge_lheads) EXPECT_TRUE(dot.cluster_depth.count(cluster));
}

/// The id of the node whose label starts with `prefix`.
std::string node_with_label(const DotSummary& dot, const std::string& prefix) {
  for (const auto& [id, label] : dot.labels)
    if (label.rfind(prefix, 0) == 0) return id;
  return "";
}

TEST(Dot, DrawsNodesEdgesOutputsAndUpdates) {
  ir::Graph graph("weird \"name\"\\");
  Value* x = graph.add_input("x", {DType::f32, {2, 3}});
  Value* w = graph.add_parameter("w", {DType::f32, {3, 4}}, "uniform:-1,1");
  Value* y = build::matmul(x, w);
  graph.add_output("y", y);
  graph.add_update(w, build::mul(w, build::full(graph, w->type(), 0.5)));
  std::string text = ir::print_dot(graph);
  DotSummary dot = DotParser(text).parse();
  expect_consistent(dot);
  EXPECT_EQ(dot.graph_name, "weird \"name\"\\");
  // 5 nodes, an output and an update.
  EXPECT_EQ(dot.labels.size(), 7u) << text;
  std::string matmul = node_with_label(dot, "%matmul = matmul");
  ASSERT_FALSE(matmul.empty()) << text;
  EXPECT_NE(dot.labels.at(matmul).find("f32[2, 4]"), std::string::npos);
  EXPECT_NE(dot.labels.at(node_with_label(dot, "%w = parameter")).find("init = \"uniform:-1,1\""),
            std::string::npos);
  std::string output = node_with_label(dot, "output y");
  std::string update = node_with_label(dot, "update %w");
  auto has_edge = [&](const std::string& from, const std::string& to) {
    return std::find(dot.edges.begin(), dot.edges.end(), std::make_pair(from, to)) !=
           dot.edges.end();
  };
  EXPECT_TRUE(has_edge(node_with_label(dot, "%x = input"), matmul));
  EXPECT_TRUE(has_edge(matmul, output));
  EXPECT_TRUE(has_edge(node_with_label(dot, "%mul = mul"), update));
  EXPECT_TRUE(has_edge(update, node_with_label(dot, "%w = parameter")));
  // operands 2 + 2, the output, the update's two edges.
  EXPECT_EQ(dot.edges.size(), 7u);
}

TEST(Dot, NestsBodiesAsClustersAndShortensLongConstants) {
  ir::Graph graph;
  Value* xs = graph.add_input("xs", {DType::f32, {4, 2, 6}});
  Value* h0 = graph.add_constant({DType::f32, {12}}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  ir::ScanBuilder scan(graph, "step");
  Value* h = scan.carry(build::reshape(h0, {2, 6}), "h");
  Value* x = scan.sequence(xs, "x");
  scan.set_next(h, build::tanh(build::add(h, x)));
  scan.add_output("y", h);
  std::vector<Value*> results = scan.finish();
  graph.add_output("h", results[0]);
  graph.add_output("ys", results[1]);
  std::string text = ir::print_dot(graph);
  DotSummary dot = DotParser(text).parse();
  expect_consistent(dot);
  ASSERT_EQ(dot.cluster_depth.size(), 1u) << text;
  EXPECT_EQ(dot.edge_lheads.size(), 1u);
  EXPECT_FALSE(node_with_label(dot, "%add = add").empty());
  EXPECT_FALSE(node_with_label(dot, "output h.next").empty());
  EXPECT_NE(dot.labels.at(node_with_label(dot, "%c = constant")).find("... (12)"),
            std::string::npos);
}

TEST(Dot, RandomGraphsGiveWellFormedText) {
  int clusters = 0;
  for (int seed = 0; seed < 40; ++seed) {
    auto random = testgen::make_random_graph(seed);
    DotSummary dot = DotParser(ir::print_dot(*random.graph)).parse();
    expect_consistent(dot);
    size_t values = random.graph->outputs().size() + random.graph->updates().size();
    for (const auto& node : random.graph->nodes()) {
      values += 1;
      for (const auto& body : node->bodies())
        values += body->nodes().size() + body->outputs().size();
    }
    EXPECT_EQ(dot.labels.size(), values) << "seed " << seed;
    clusters += static_cast<int>(dot.cluster_depth.size());
  }
  EXPECT_GT(clusters, 5);
}

}  // namespace
}  // namespace rnnc
