// The libraries of the GPU check (gpu_check_models.h).
#include "bench/gpu_check_models.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "bench/rnn_graphs.h"
#include "ir/parser.h"
#include "runtime/initializers.h"

namespace rnnc::gpu_check {
namespace {

/// FNV-1a of `name`, never 0 (a xorshift generator's one bad state).
uint64_t seed_of(const std::string& name) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash ? hash : 1;
}

/// The smallest power of two at least the largest magnitude of `values` (0 when all are 0).
double scale_of(const Tensor& values) {
  double largest = 0;
  for (int64_t i = 0; i < values.num_elements(); ++i)
    largest = std::max(largest, std::fabs(values.get(i)));
  if (largest == 0) return 0;
  int exponent = 0;
  const double fraction = std::frexp(largest, &exponent);  // largest = fraction * 2^exponent
  return std::ldexp(1.0, fraction == 0.5 ? exponent - 1 : exponent);
}

/// The generated float inputs of `graph` ("PREFIX.in.NAME", scale 1) into `inputs`.
void generate_float_inputs(const ir::Graph& graph, const std::string& prefix, Bindings& inputs) {
  for (const ir::Node* node : graph.nodes_of(ir::OpKind::Input)) {
    const ir::Value& input = *node->result();
    if (ir::is_float(input.dtype()))
      inputs[input.name()] = generated_values(prefix + ".in." + input.name(), input.type(), 1);
  }
}

/// The inputs of both entries: floats generated, then integers as the benchmarks make them.
void set_inputs(CheckModel& model) {
  generate_float_inputs(*model.forward, "forward", model.forward_inputs);
  bench::generate_inputs(*model.forward, 1, model.forward_inputs);
  if (!model.train) return;
  generate_float_inputs(*model.train, "train", model.train_inputs);
  bench::generate_inputs(*model.train, 2, model.train_inputs);
}

/// generated_scales, and for checked models `initial`: the floating-point weights generated
/// at their initializer's scale, the other parameters as rnnc initializes them.
void set_starting_values(CheckModel& model) {
  Bindings initial = initialize_parameters(model.train ? *model.train : *model.forward);
  for (const ir::Graph* graph : {model.train.get(), model.forward.get()}) {
    if (!graph) continue;
    for (const ir::Node* node : graph->nodes_of(ir::OpKind::Parameter)) {
      const ir::Value& parameter = *node->result();
      if (!initial.count(parameter.name())) initial.merge(initialize_parameters(*graph));
      const bool weight = !node->attrs().has("role") || node->attrs().get_str("role") == "weight";
      if (!weight || !ir::is_float(parameter.dtype()) ||
          model.generated_scales.count(parameter.name()))
        continue;
      const double scale = scale_of(initial.at(parameter.name()));
      model.generated_scales[parameter.name()] = scale;
      if (model.check)
        initial[parameter.name()] =
            generated_values("init." + parameter.name(), parameter.type(), scale);
    }
  }
  if (model.check) model.initial = std::move(initial);
}

}  // namespace

Tensor generated_values(const std::string& name, const ir::TensorType& type, double scale) {
  if (!ir::is_float(type.dtype))
    throw std::runtime_error("generated values for '" + name + "' must be floats");
  Tensor values(type);
  uint64_t state = seed_of(name);
  const double step = scale / 8388608.0;  // scale / 2^23: exact for a power of two
  for (int64_t i = 0; i < values.num_elements(); ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const int64_t v = static_cast<int64_t>(state >> 40) - (int64_t{1} << 23);
    values.set(i, static_cast<double>(v) * step);
  }
  return values;
}

CheckModel lecture_model(const std::string& models_dir, const std::string& stem) {
  CheckModel model;
  model.name = stem;
  model.mode = "model";
  model.forward = ir::parse_graph_file(models_dir + "/" + stem + ".forward.rnn");
  model.train = ir::parse_graph_file(models_dir + "/" + stem + ".train.rnn");
  model.check = true;
  set_inputs(model);
  set_starting_values(model);
  return model;
}

CheckModel benchmark_model(const std::string& cell, const std::string& config,
                           const std::string& mode) {
  CheckModel m;
  size_t at = 0;
  std::vector<std::string> parts;
  for (size_t colon; (colon = config.find(':', at)) != std::string::npos; at = colon + 1)
    parts.push_back(config.substr(at, colon - at));
  parts.push_back(config.substr(at));
  if (parts.size() != 5) throw std::runtime_error("bad configuration '" + config + "'");
  m.config = parts[0];
  m.E = std::stoll(parts[1]);
  m.H = std::stoll(parts[2]);
  m.B = std::stoll(parts[3]);
  m.T = std::stoll(parts[4]);
  m.cell = cell;
  m.mode = mode;
  m.name = cell + "_" + m.config + "_" + mode;
  m.check = m.config == "tiny";
  // The graphs of bench/rnnc_rnn.cpp, the train mode with its embedding.
  auto build_model = [&](bool training) {
    bench::RnnGraphOptions options;
    options.training_step = training;
    return bench::rnn_graph(cell, {m.E, m.H, m.B, m.T}, mode, options);
  };
  m.forward = build_model(false);
  if (mode == "train") m.train = build_model(true);
  set_inputs(m);
  set_starting_values(m);
  return m;
}

}  // namespace rnnc::gpu_check
