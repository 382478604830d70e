// Parameter initialization from the spec strings of runtime/initializers.h.
//
// Numbers in specs are parsed in full ("uniform:1" and "normal:0,1x" are errors) and must
// be finite; uniform needs LOW <= HIGH and normal STD >= 0. Integer (i32) tensors accept
// only zeros, ones and integral constants: a random fill truncated to integers is never
// what a model wants. Every random spec draws one variate per element, in row-major order,
// from Rng(seed), so a tensor is reproducible from (type, spec, seed) alone.
#include "runtime/initializers.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>
#include <vector>

#include "ir/error.h"
#include "runtime/random.h"

namespace rnnc {
namespace {

/// `text` as a finite double, or nothing when it is not one in full.
std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value))
    return std::nullopt;
  return value;
}

/// The arguments after "NAME:" of `spec`, which must be exactly `count` numbers separated
/// by commas; throws naming the spec and the expected form otherwise.
std::vector<double> parse_arguments(const std::string& spec, std::string_view arguments,
                                    size_t count, const char* form) {
  std::vector<double> values;
  size_t start = 0;
  for (;;) {
    const size_t comma = arguments.find(',', start);
    const std::string_view piece = arguments.substr(start, comma - start);
    const std::optional<double> value = parse_number(piece);
    if (!value)
      throw Error("malformed initializer '" + spec + "': '" + std::string(piece) +
                  "' is not a finite number (expected " + form + ")");
    values.push_back(*value);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (values.size() != count)
    throw Error("malformed initializer '" + spec + "': expected " + form + ", found " +
                std::to_string(values.size()) + " number" + (values.size() == 1 ? "" : "s"));
  return values;
}

/// Glorot's fans: for a weight [..., in, out] (y = x W), the last two dimensions; a vector
/// counts its size for both; a scalar 1 for both.
std::pair<double, double> fans(const Shape& shape) {
  if (shape.empty()) return {1.0, 1.0};
  if (shape.size() == 1) return {double(shape[0]), double(shape[0])};
  return {double(shape[shape.size() - 2]), double(shape[shape.size() - 1])};
}

void fill_constant(Tensor& tensor, const std::string& spec, double value) {
  if (tensor.dtype() == DType::i32 && value != std::floor(value))
    throw Error("initializer '" + spec + "' needs an integer for an i32 tensor");
  if (tensor.dtype() == DType::i32 && std::abs(value) > 2147483647.0)
    throw Error("initializer '" + spec + "' is out of range for an i32 tensor");
  for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, value);
}

template <class Draw>
void fill_random(Tensor& tensor, const std::string& spec, uint64_t seed, Draw draw) {
  if (!ir::is_float(tensor.dtype()))
    throw Error("initializer '" + spec + "' needs a float tensor, not " +
                tensor.type().to_string());
  Rng rng(seed);
  for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.set(i, draw(rng));
}

}  // namespace

Tensor initialize(const TensorType& type, const std::string& init, uint64_t seed) {
  Tensor tensor(type);
  const size_t colon = init.find(':');
  const std::string_view name = std::string_view(init).substr(0, colon);
  const bool has_arguments = colon != std::string::npos;
  const std::string_view arguments =
      has_arguments ? std::string_view(init).substr(colon + 1) : std::string_view();
  const auto no_arguments = [&]() {
    if (has_arguments)
      throw Error("malformed initializer '" + init + "': '" + std::string(name) +
                  "' takes no arguments");
  };

  if (name == "zeros") {
    no_arguments();
    return tensor;
  }
  if (name == "ones") {
    no_arguments();
    fill_constant(tensor, init, 1.0);
    return tensor;
  }
  if (name == "constant") {
    fill_constant(tensor, init, parse_arguments(init, arguments, 1, "constant:V")[0]);
    return tensor;
  }
  if (name == "uniform") {
    const std::vector<double> bounds = parse_arguments(init, arguments, 2, "uniform:LOW,HIGH");
    if (bounds[0] > bounds[1])
      throw Error("malformed initializer '" + init + "': LOW is greater than HIGH");
    fill_random(tensor, init, seed, [&](Rng& rng) { return rng.uniform(bounds[0], bounds[1]); });
    return tensor;
  }
  if (name == "normal") {
    const std::vector<double> moments = parse_arguments(init, arguments, 2, "normal:MEAN,STD");
    if (moments[1] < 0) throw Error("malformed initializer '" + init + "': STD is negative");
    fill_random(tensor, init, seed,
                [&](Rng& rng) { return moments[0] + moments[1] * rng.normal(); });
    return tensor;
  }
  if (name == "xavier_uniform" || name == "xavier_normal") {
    no_arguments();
    if (tensor.num_elements() == 0) return tensor;  // fans may be zero; nothing to fill
    const auto [fan_in, fan_out] = fans(type.shape);
    if (name == "xavier_uniform") {
      const double limit = std::sqrt(6.0 / (fan_in + fan_out));
      fill_random(tensor, init, seed, [&](Rng& rng) { return rng.uniform(-limit, limit); });
    } else {
      const double std_dev = std::sqrt(2.0 / (fan_in + fan_out));
      fill_random(tensor, init, seed, [&](Rng& rng) { return std_dev * rng.normal(); });
    }
    return tensor;
  }
  throw Error("unknown initializer '" + init +
              "' (known: zeros, ones, constant:V, uniform:LOW,HIGH, normal:MEAN,STD, "
              "xavier_uniform, xavier_normal)");
}

Bindings initialize_parameters(const ir::Graph& graph, uint64_t seed_offset) {
  Bindings bindings;
  for (const ir::Node* node : graph.nodes_of(ir::OpKind::Parameter)) {
    const ir::Value* parameter = node->result();
    // Seeds are int64 attributes; adding in uint64 wraps instead of overflowing, so a
    // negative seed plus an offset is still well defined.
    const uint64_t seed = static_cast<uint64_t>(node->attrs().get_int("seed")) + seed_offset;
    try {
      bindings[parameter->name()] =
          initialize(parameter->type(), node->attrs().get_str("init"), seed);
    } catch (const Error& error) {
      throw Error("parameter '" + parameter->name() + "': " + error.what());
    }
  }
  return bindings;
}

}  // namespace rnnc
