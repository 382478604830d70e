#pragma once
// Comparing interpreter runs before and after a rewrite: what every pass test does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "codegen/backend.h"
#include "codegen/interp/interpreter.h"

namespace rnnc::testcmp {

/// The outputs of one interpreter run, and the state after it as "state.NAME".
inline Bindings run_all(const ir::Graph& graph, const Bindings& inputs, Bindings state) {
  Bindings results = interp::run_graph(graph, inputs, state);
  for (auto& [name, tensor] : state) results["state." + name] = tensor;
  return results;
}

/// Equal names and types, and every element equal within `tolerance` relative (NaN matching
/// NaN); failures name `context`, the tensor and the element.
inline void expect_close(const Bindings& expected, const Bindings& actual, double tolerance,
                         const std::string& context = "") {
  ASSERT_EQ(expected.size(), actual.size()) << context;
  for (const auto& [name, want] : expected) {
    ASSERT_TRUE(actual.count(name)) << context << name;
    const Tensor& got = actual.at(name);
    ASSERT_EQ(want.type(), got.type()) << context << name;
    for (int64_t i = 0; i < want.num_elements(); ++i) {
      double a = want.get(i), b = got.get(i);
      if (a == b || (std::isnan(a) && std::isnan(b))) continue;
      EXPECT_LE(std::abs(a - b), tolerance * std::max(std::abs(a), std::abs(b)))
          << context << name << "[" << i << "]: " << a << " vs " << b;
    }
  }
}

/// Runs `graph` on the interpreter and, compiled, on backend `backend` from the same `inputs`
/// and `state`, and expects every output within `tolerance` (max_relative_difference: relative
/// beyond magnitude 1, absolute below); failures name the output and `context`. `options`:
/// how the backend compiles it (a target CPU).
inline void expect_backend_matches_interpreter(const ir::Graph& graph, const std::string& backend,
                                               const Bindings& inputs, const Bindings& state,
                                               double tolerance, const std::string& context = "",
                                               const codegen::CompileOptions& options = {}) {
  Bindings interp_state = state, backend_state = state;
  Bindings want = interp::run_graph(graph, inputs, interp_state);
  Bindings got = codegen::compile(graph, backend, options)->run(inputs, backend_state);
  for (const auto& [name, tensor] : want)
    EXPECT_LE(max_relative_difference(got.at(name), tensor), tolerance) << name << " " << context;
}

}  // namespace rnnc::testcmp
