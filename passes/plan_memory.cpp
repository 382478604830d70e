#include "passes/plan_memory.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <set>
#include <unordered_map>

#include "ir/error.h"
#include "passes/plan_memory/arena.h"

namespace rnnc::passes {
namespace {

using ir::Buffer;
using ir::BufferId;
using ir::BufferRole;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Placement;
using ir::Program;
using ir::Step;
using ir::StepKind;
using ir::Value;
using plan_memory_detail::root_buffer;

/// The kernel kind that computes a node (not a source, Reshape or Scan).
StepKind step_kind(OpKind kind) {
  switch (kind) {
    case OpKind::Input:
    case OpKind::Parameter:
    case OpKind::Constant:
    case OpKind::Iota:
      assert(false && "sources are buffers, not steps");
      return StepKind::copy;
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Cast:
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Pow:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Greater:
    case OpKind::Less:
    case OpKind::Equal:
    case OpKind::Select:
    case OpKind::Fused:
      return StepKind::elementwise;
    case OpKind::Broadcast:
    case OpKind::Reshape:
    case OpKind::Transpose:
    case OpKind::Slice:
    case OpKind::Pad:
    case OpKind::Concat:
      return StepKind::layout;
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
      return StepKind::reduce;
    case OpKind::MatMul:
      return StepKind::matmul;
    case OpKind::Gather:
      return StepKind::gather;
    case OpKind::ScatterAdd:
      return StepKind::scatter_add;
    case OpKind::CoalesceRows:
      return StepKind::coalesce_rows;
    case OpKind::ScatterRows:
      return StepKind::scatter_rows;
    case OpKind::Scan:
      return StepKind::loop;
  }
  return StepKind::copy;
}

bool is_source(OpKind kind) { return ir::op_info(kind).has(ir::kSource); }

/// The value `value` is a view of (through Reshapes), or itself.
const Value* root_value(const Value* value) {
  while (value->producer()->kind() == OpKind::Reshape) value = value->producer()->operand(0);
  return value;
}

/// The values of the top-level graph that are written straight into an external buffer (a
/// graph output's, or an updated parameter's in place) instead of a scratch buffer.
using Destinations = std::unordered_map<const Value*, BufferId>;

/// Lowers graphs (the top level and scan bodies) to steps over buffers.
class Lowering {
 public:
  explicit Lowering(Program& program) : program_(program) {}

  /// A new buffer; its name is made unique among the program's buffers.
  BufferId add_buffer(Buffer buffer) {
    std::string name = buffer.name;
    for (int suffix = 1; names_.count(name); ++suffix)
      name = buffer.name + "." + std::to_string(suffix);
    names_.insert(name);
    buffer.name = name;
    buffer.bytes = buffer.type.num_elements() * ir::dtype_size(buffer.type.dtype);
    program_.buffers.push_back(std::move(buffer));
    return static_cast<BufferId>(program_.buffers.size() - 1);
  }
  BufferId add_arena(const std::string& name, const ir::TensorType& type) {
    Buffer buffer;
    buffer.name = name;
    buffer.type = type;
    return add_buffer(std::move(buffer));
  }
  BufferId add_view(const std::string& name, const ir::TensorType& type, BufferId base,
                    int64_t step_stride = 0, int32_t loop_id = -1) {
    Buffer buffer;
    buffer.name = name;
    buffer.type = type;
    buffer.placement = Placement::view;
    buffer.base = base;
    buffer.step_stride = step_stride;
    buffer.loop_id = loop_id;
    return add_buffer(std::move(buffer));
  }

  void bind(const Value* value, BufferId id) { buffer_of_[value] = id; }
  BufferId buffer_of(const Value* value) const { return buffer_of_.at(value); }

  /// Appends the steps of `graph`'s nodes to `steps`; body values are named `prefix` + name.
  /// A slice of a computed value is lowered just before its first reader, so that a backend
  /// may read it in place there (the value it slices cannot change in between).
  void lower_graph(const Graph& graph, const std::string& prefix, std::vector<Step>& steps,
                   const Destinations& destinations) {
    std::vector<const Node*> deferred;
    // Lowers the deferred slices `reader` reads (and those they read) before it.
    auto flush = [&](auto&& self, const Node& reader) -> void {
      for (const Value* operand : reader.operands()) {
        auto at = std::find(deferred.begin(), deferred.end(), operand->producer());
        if (at == deferred.end()) continue;
        const Node* slice = *at;
        deferred.erase(at);
        self(self, *slice);
        lower_node(*slice, prefix, steps, destinations);
      }
    };
    for (const auto& node : graph.nodes()) {
      if (node->kind() == OpKind::Slice && !destinations.count(node->result()) &&
          !is_source(node->operand(0)->producer()->kind())) {
        deferred.push_back(node.get());
        continue;
      }
      flush(flush, *node);
      lower_node(*node, prefix, steps, destinations);
    }
    while (!deferred.empty()) {  // read by outputs only
      const Node* slice = deferred.front();
      deferred.erase(deferred.begin());
      flush(flush, *slice);
      lower_node(*slice, prefix, steps, destinations);
    }
  }

 private:
  void lower_node(const Node& node, const std::string& prefix, std::vector<Step>& steps,
                  const Destinations& destinations) {
    const Value* result = node.result();
    const OpKind kind = node.kind();
    if (kind == OpKind::Input || kind == OpKind::Parameter) {
      if (!buffer_of_.count(result))
        throw Error("plan-memory: " + ir::describe_node(node) + " is not bound to a buffer");
      return;
    }
    if (kind == OpKind::Constant || kind == OpKind::Iota) {
      bind(result, add_constant(node, prefix));
      return;
    }
    if (kind == OpKind::Reshape) {
      bind(result, add_view(prefix + result->name(), result->type(), buffer_of(node.operand(0))));
      return;
    }
    if (kind == OpKind::Scan) {
      lower_scan(node, prefix, steps, destinations);
      return;
    }
    Step step;
    step.kind = step_kind(node.kind());
    step.node = &node;
    for (const Value* operand : node.operands()) step.operands.push_back(buffer_of(operand));
    step.results = result_buffers(node, prefix, destinations);
    steps.push_back(std::move(step));
  }

  /// The buffers `node`'s results are computed into: their destinations, or new arena buffers.
  std::vector<BufferId> result_buffers(const Node& node, const std::string& prefix,
                                       const Destinations& destinations) {
    std::vector<BufferId> results;
    for (size_t i = 0; i < node.num_results(); ++i) {
      const Value* value = node.result(i);
      auto found = destinations.find(value);
      BufferId id = found != destinations.end() ? found->second
                                                : add_arena(prefix + value->name(), value->type());
      bind(value, id);
      results.push_back(id);
    }
    return results;
  }

  BufferId add_constant(const Node& node, const std::string& prefix) {
    Buffer buffer;
    buffer.name = prefix + node.result()->name();
    buffer.type = node.result()->type();
    buffer.role = BufferRole::constant;
    buffer.placement = Placement::constant;
    if (node.kind() == OpKind::Constant) {
      buffer.constant_values = node.attrs().get_floats("value");
    } else {
      const ir::Shape& shape = buffer.type.shape;
      const int64_t axis = node.attrs().get_int("axis");
      std::vector<int64_t> strides = ir::row_major_strides(shape);
      buffer.constant_values.resize(buffer.type.num_elements());
      for (int64_t i = 0; i < buffer.type.num_elements(); ++i)
        buffer.constant_values[i] = static_cast<double>(i / strides[axis] % shape[axis]);
    }
    return add_buffer(std::move(buffer));
  }

  void lower_scan(const Node& scan, const std::string& prefix, std::vector<Step>& steps,
                  const Destinations& destinations) {
    const size_t num_carry = scan.attrs().get_int("num_carry");
    const size_t num_sequences = scan.attrs().get_int("num_sequences");
    Step loop;
    loop.kind = StepKind::loop;
    loop.node = &scan;
    for (const Value* operand : scan.operands()) loop.operands.push_back(buffer_of(operand));
    loop.results = result_buffers(scan, prefix, destinations);
    loop.loop_id = next_loop_id_++;
    loop.trip_count = scan.operand(num_carry)->shape()[0];
    for (size_t i = 0; i < num_carry; ++i) {
      Step copy;
      copy.operands = {loop.operands[i]};
      copy.results = {loop.results[i]};
      steps.push_back(std::move(copy));
    }

    const Graph& body = scan.body();
    const std::string body_prefix = prefix + scan.result()->name() + "/";
    std::vector<Node*> inputs = body.nodes_of(OpKind::Input);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Value* input = inputs[i]->result();
      if (i < num_carry) {
        bind(input, loop.results[i]);
      } else if (i < num_carry + num_sequences) {
        const int64_t row_bytes = input->type().num_elements() * ir::dtype_size(input->dtype());
        bind(input, add_view(body_prefix + input->name(), input->type(), loop.operands[i],
                             row_bytes, loop.loop_id));
      } else {
        bind(input, loop.operands[i]);
      }
    }
    // A per-step output is computed straight into its row t of the stacked result (a view
    // whose write-back is skipped, Program::writes_back_in_place), the first time its value
    // is yielded as one.
    const std::vector<ir::GraphOutput>& outputs = body.outputs();
    std::vector<BufferId> rows(outputs.size(), -1);
    Destinations body_destinations;
    for (size_t i = num_carry; i < outputs.size(); ++i) {
      const Value* value = outputs[i].value;
      const int64_t row_bytes = value->type().num_elements() * ir::dtype_size(value->dtype());
      rows[i] = add_view(body_prefix + outputs[i].name + ".row", value->type(), loop.results[i],
                         row_bytes, loop.loop_id);
      const OpKind producer = value->producer()->kind();
      if (!is_source(producer) && producer != OpKind::Reshape && !body_destinations.count(value))
        body_destinations[value] = rows[i];
    }
    const BufferId first_body_buffer = static_cast<BufferId>(program_.buffers.size());
    lower_graph(body, body_prefix, loop.body, body_destinations);
    for (size_t i = 0; i < outputs.size(); ++i) {
      BufferId id = buffer_of(outputs[i].value);
      const bool own_memory =
          (id >= first_body_buffer && program_.buffers[id].placement == Placement::arena) ||
          (i < num_carry && std::find(rows.begin(), rows.end(), id) != rows.end());
      if (id != rows[i] && !own_memory) {
        // Not the body's own memory or a row (a body input, a view, a constant): copy it, into
        // its row or (a carry) a buffer of its own, so that writing the carries back cannot
        // clobber what another output still reads.
        BufferId own = i >= num_carry
                           ? rows[i]
                           : add_arena(body_prefix + outputs[i].name, outputs[i].value->type());
        Step copy;
        copy.operands = {id};
        copy.results = {own};
        loop.body.push_back(std::move(copy));
        id = own;
      }
      loop.body_outputs.push_back(id);
    }
    steps.push_back(std::move(loop));
  }

  Program& program_;
  std::unordered_map<const Value*, BufferId> buffer_of_;
  std::set<std::string> names_;
  int32_t next_loop_id_ = 0;
};

/// A node's position in the top-level graph.
using Positions = std::unordered_map<const Node*, size_t>;

/// True when `node`, an elementwise step computing `new_value`, may write it over `parameter`
/// in place: each of its operands viewing `parameter` is read element by element at the
/// positions it writes.
bool reads_elementwise(const Node& node, const Value* parameter, const Value* new_value) {
  if (step_kind(node.kind()) != StepKind::elementwise) return false;
  for (const Value* operand : node.operands())
    if (root_value(operand) == parameter &&
        (operand->type().num_elements() != new_value->type().num_elements() ||
         operand->dtype() != new_value->dtype()))
      return false;
  return true;
}

/// True when `node`, a scatter_rows computing `new_value`, may write it over `parameter` in
/// place: the table it copies is `parameter` itself, and neither its indices nor its rows
/// are views of it (the step then writes only the rows).
bool scatters_rows_into(const Node& node, const Value* parameter, const Value* new_value) {
  return node.kind() == OpKind::ScatterRows && root_value(node.operand(0)) == parameter &&
         node.operand(0)->type() == new_value->type() && root_value(node.operand(1)) != parameter &&
         root_value(node.operand(2)) != parameter;
}

/// Chooses where top-level values are computed: outputs straight into the caller's output
/// buffer, updates in place into their parameter. Records the updates done in place.
Destinations choose_destinations(const Graph& graph, const std::vector<BufferId>& output_buffers,
                                 const Lowering& lowering, std::set<size_t>& in_place) {
  Positions position;
  for (size_t i = 0; i < graph.nodes().size(); ++i) position[graph.nodes()[i].get()] = i;
  std::map<const Value*, int> output_count;
  for (const ir::GraphOutput& output : graph.outputs()) output_count[output.value] += 1;
  std::set<const Value*> new_values;
  for (const ir::GraphUpdate& update : graph.updates()) new_values.insert(update.new_value);

  auto computed_by_step = [](const Value* value) {
    OpKind kind = value->producer()->kind();
    return !is_source(kind) && kind != OpKind::Reshape;
  };

  Destinations destinations;
  for (size_t k = 0; k < graph.outputs().size(); ++k) {
    const Value* value = graph.outputs()[k].value;
    if (output_count[value] == 1 && computed_by_step(value) && !new_values.count(value))
      destinations[value] = output_buffers[k];
  }

  // Parameters read after the last step (by output or update copies) are never overwritten
  // early.
  std::set<const Value*> read_at_end;
  for (const ir::GraphOutput& output : graph.outputs())
    read_at_end.insert(root_value(output.value));
  for (const ir::GraphUpdate& update : graph.updates())
    read_at_end.insert(root_value(update.new_value));

  for (size_t u = 0; u < graph.updates().size(); ++u) {
    const ir::GraphUpdate& update = graph.updates()[u];
    const Value* value = update.new_value;
    if (!computed_by_step(value) || output_count.count(value) || destinations.count(value) ||
        read_at_end.count(update.parameter))
      continue;
    const Node* producer = value->producer();
    bool safe = true;
    for (const auto& node : graph.nodes()) {
      if (node->kind() == OpKind::Reshape) continue;  // a view, not a read
      bool reads = false;
      for (const Value* operand : node->operands())
        reads = reads || root_value(operand) == update.parameter;
      if (!reads) continue;
      size_t at = position.at(node.get());
      if (at < position.at(producer)) continue;
      if (node.get() == producer && (reads_elementwise(*producer, update.parameter, value) ||
                                     scatters_rows_into(*producer, update.parameter, value)))
        continue;
      safe = false;
    }
    if (!safe) continue;
    destinations[value] = lowering.buffer_of(update.parameter);
    in_place.insert(u);
  }
  return destinations;
}

/// An external buffer for a graph input, parameter or output.
Buffer external(const std::string& name, const ir::TensorType& type, BufferRole role,
                int32_t index) {
  Buffer buffer;
  buffer.name = name;
  buffer.type = type;
  buffer.role = role;
  buffer.placement = Placement::external;
  buffer.external_index = index;
  return buffer;
}

Step copy_step(BufferId from, BufferId to) {
  Step step;
  step.operands = {from};
  step.results = {to};
  return step;
}

}  // namespace

Program plan_memory(const Graph& graph) {
  Program program;
  program.graph = &graph;
  Lowering lowering(program);
  int32_t index = 0;
  for (const Node* node : graph.nodes_of(OpKind::Input)) {
    const Value* value = node->result();
    BufferId id =
        lowering.add_buffer(external(value->name(), value->type(), BufferRole::input, index++));
    lowering.bind(value, id);
    program.inputs.push_back(id);
  }
  for (const Node* node : graph.nodes_of(OpKind::Parameter)) {
    const Value* value = node->result();
    BufferRole role =
        node->attrs().get_str("role") == "state" ? BufferRole::state : BufferRole::parameter;
    BufferId id = lowering.add_buffer(external(value->name(), value->type(), role, index++));
    lowering.bind(value, id);
    program.parameters.push_back(id);
  }
  for (const ir::GraphOutput& output : graph.outputs())
    program.outputs.push_back(lowering.add_buffer(
        external(output.name, output.value->type(), BufferRole::output, index++)));

  std::set<size_t> in_place;
  Destinations destinations = choose_destinations(graph, program.outputs, lowering, in_place);
  lowering.lower_graph(graph, "", program.steps, destinations);

  // Outputs not computed in place, then updates not done in place (each read before any is
  // written: an update's source that another update overwrites is staged in scratch first).
  for (size_t k = 0; k < graph.outputs().size(); ++k) {
    BufferId from = lowering.buffer_of(graph.outputs()[k].value);
    if (from != program.outputs[k]) program.steps.push_back(copy_step(from, program.outputs[k]));
  }
  std::set<BufferId> overwritten;
  for (size_t u = 0; u < graph.updates().size(); ++u)
    if (!in_place.count(u)) overwritten.insert(lowering.buffer_of(graph.updates()[u].parameter));
  std::vector<Step> writes;
  for (size_t u = 0; u < graph.updates().size(); ++u) {
    if (in_place.count(u)) continue;
    const ir::GraphUpdate& update = graph.updates()[u];
    BufferId from = lowering.buffer_of(update.new_value);
    BufferId to = lowering.buffer_of(update.parameter);
    BufferId root = root_buffer(program, from);
    if (root == to) continue;  // the parameter itself (or a view of it): nothing changes
    if (overwritten.count(root)) {
      BufferId staged =
          lowering.add_arena(update.parameter->name() + ".next", update.new_value->type());
      program.steps.push_back(copy_step(from, staged));
      from = staged;
    }
    writes.push_back(copy_step(from, to));
  }
  for (Step& step : writes) program.steps.push_back(std::move(step));

  plan_memory_detail::place_in_arena(program);
  return program;
}

}  // namespace rnnc::passes
