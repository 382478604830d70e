#include "ir/graph_algorithms.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <unordered_map>

#include "ir/error.h"

namespace rnnc::ir {
namespace {

/// Dependence edges: node index -> index of a node producing one of its operands.
using DependenceGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
using Vertex = DependenceGraph::vertex_descriptor;

/// Records vertices as the depth-first search finishes them: with edges pointing from a
/// node to its producers, that postorder lists producers before their users. A back edge
/// closes a cycle.
class PostorderVisitor : public boost::default_dfs_visitor {
 public:
  PostorderVisitor(const Graph& graph, std::vector<Node*>& order) : graph_(graph), order_(order) {}

  void finish_vertex(Vertex vertex, const DependenceGraph&) const {
    order_.push_back(graph_.nodes()[vertex].get());
  }
  void back_edge(DependenceGraph::edge_descriptor edge, const DependenceGraph& dependences) const {
    const Node& user = *graph_.nodes()[boost::source(edge, dependences)];
    const Node& producer = *graph_.nodes()[boost::target(edge, dependences)];
    // Names only: operands of a graph with a cycle may point at erased values.
    if (&user == &producer)
      throw Error("graph @" + graph_.name() + ": node " + name(user) + " uses its own result");
    throw Error("graph @" + graph_.name() + ": node " + name(producer) +
                " is on a cycle through node " + name(user));
  }

 private:
  static std::string name(const Node& node) {
    return "%" + (node.num_results() ? node.result()->name() : std::string("?")) + " (" +
           std::string(node.info().name) + ")";
  }

  const Graph& graph_;
  std::vector<Node*>& order_;
};

/// Maps each value produced in `graph` to the index of its node.
std::unordered_map<const Value*, size_t> producer_indices(const Graph& graph) {
  std::unordered_map<const Value*, size_t> index_of;
  for (size_t i = 0; i < graph.nodes().size(); ++i)
    for (size_t r = 0; r < graph.nodes()[i]->num_results(); ++r)
      index_of[graph.nodes()[i]->result(r)] = i;
  return index_of;
}

}  // namespace

std::vector<Node*> topological_order(const Graph& graph) {
  const auto& nodes = graph.nodes();
  std::unordered_map<const Value*, size_t> index_of = producer_indices(graph);
  DependenceGraph dependences(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    for (Value* operand : nodes[i]->operands()) {
      // Operands from outside the graph (an enclosing graph) impose no order here.
      auto it = index_of.find(operand);
      if (it != index_of.end()) boost::add_edge(i, it->second, dependences);
    }
  std::vector<Node*> order;
  order.reserve(nodes.size());
  // Roots are visited in graph order, so an already topological order is kept as it is.
  boost::depth_first_search(dependences, boost::visitor(PostorderVisitor(graph, order)));
  return order;
}

void sort_topologically(Graph& graph) { graph.reorder(topological_order(graph)); }

std::vector<Node*> live_nodes(const Graph& graph) {
  std::unordered_map<const Value*, size_t> index_of = producer_indices(graph);
  std::vector<bool> live(graph.nodes().size(), false);
  std::vector<size_t> worklist;
  auto mark = [&](const Value* value) {
    auto it = index_of.find(value);
    if (it == index_of.end() || live[it->second]) return;
    live[it->second] = true;
    worklist.push_back(it->second);
  };
  for (const GraphOutput& output : graph.outputs()) mark(output.value);
  for (const GraphUpdate& update : graph.updates()) {
    mark(update.parameter);
    mark(update.new_value);
  }
  while (!worklist.empty()) {
    const Node& node = *graph.nodes()[worklist.back()];
    worklist.pop_back();
    for (Value* operand : node.operands()) mark(operand);
  }
  std::vector<Node*> result;
  for (size_t i = 0; i < live.size(); ++i)
    if (live[i]) result.push_back(graph.nodes()[i].get());
  return result;
}

}  // namespace rnnc::ir
