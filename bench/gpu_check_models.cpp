// The libraries of the GPU check (gpu_check_models.h).
#include "bench/gpu_check_models.h"

#include <stdexcept>
#include <vector>

#include "bench/rnn_graphs.h"
#include "ir/parser.h"

namespace rnnc::gpu_check {

CheckModel lecture_model(const std::string& models_dir, const std::string& stem) {
  CheckModel model;
  model.name = stem;
  model.mode = "model";
  model.forward = ir::parse_graph_file(models_dir + "/" + stem + ".forward.rnn");
  model.train = ir::parse_graph_file(models_dir + "/" + stem + ".train.rnn");
  bench::generate_inputs(*model.forward, 1, model.forward_inputs);
  bench::generate_inputs(*model.train, 2, model.train_inputs);
  model.check = true;
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
  bench::generate_inputs(*m.forward, 1, m.forward_inputs);
  if (m.train) bench::generate_inputs(*m.train, 2, m.train_inputs);
  return m;
}

}  // namespace rnnc::gpu_check
