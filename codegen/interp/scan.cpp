#include "codegen/interp/scan.h"

#include <cstring>

#include "codegen/interp/interpreter.h"
#include "ir/error.h"

namespace rnnc::interp {
namespace {

/// Bytes of one row (index along the leading dimension) of `tensor`.
int64_t row_bytes(const Tensor& tensor) {
  return tensor.shape().empty() || tensor.shape()[0] == 0 ? 0
                                                          : tensor.num_bytes() / tensor.shape()[0];
}

/// Row `index` of `tensor` (leading dimension dropped).
Tensor take_row(const Tensor& tensor, int64_t index) {
  Shape shape(tensor.shape().begin() + 1, tensor.shape().end());
  Tensor row(tensor.dtype(), shape);
  std::memcpy(row.raw(), static_cast<const char*>(tensor.raw()) + index * row_bytes(tensor),
              row.num_bytes());
  return row;
}

/// Copies `row` into row `index` of `tensor`.
void put_row(Tensor& tensor, int64_t index, const Tensor& row) {
  std::memcpy(static_cast<char*>(tensor.raw()) + index * row_bytes(tensor), row.raw(),
              row.num_bytes());
}

}  // namespace

std::vector<Tensor> run_scan(const ir::Node& scan, const std::vector<const Tensor*>& operands) {
  const ir::Graph& body = scan.body();
  const auto& attrs = scan.attrs();
  const size_t num_carry = attrs.get_int("num_carry");
  const size_t num_sequences = attrs.get_int("num_sequences");
  const bool reverse = attrs.get_int("reverse") != 0;
  const bool has_lengths = attrs.get_int("has_lengths") != 0;
  const size_t num_bound = operands.size() - (has_lengths ? 1 : 0);
  const int64_t steps = operands[num_carry]->shape()[0];
  const size_t num_outputs = body.outputs().size();

  std::vector<int64_t> lengths;
  if (has_lengths) {
    const Tensor& given = *operands.back();
    for (int64_t b = 0; b < given.num_elements(); ++b) {
      int64_t length = static_cast<int64_t>(given.get(b));
      if (length < 1 || length > steps)
        throw Error("lengths[" + std::to_string(b) + "] = " + std::to_string(length) +
                    " is outside [1, " + std::to_string(steps) + "]");
      lengths.push_back(length);
    }
  }

  std::vector<ir::Node*> inputs = body.nodes_of(ir::OpKind::Input);
  Bindings bound;
  for (size_t i = 0; i < num_bound; ++i)
    if (i < num_carry || i >= num_carry + num_sequences)
      bound[inputs[i]->result()->name()] = *operands[i];

  std::vector<Tensor> results(num_outputs);
  for (size_t i = num_carry; i < num_outputs; ++i) results[i] = Tensor(scan.result(i)->type());

  Interpreter step(body);
  Bindings no_state;
  for (int64_t n = 0; n < steps; ++n) {
    int64_t t = reverse ? steps - 1 - n : n;
    for (size_t i = num_carry; i < num_carry + num_sequences; ++i)
      bound[inputs[i]->result()->name()] = take_row(*operands[i], t);
    Bindings produced = step.run(bound, no_state);
    for (size_t i = 0; i < num_outputs; ++i) {
      Tensor value = produced.at(body.outputs()[i].name);
      if (has_lengths) {
        // Rows past their length: the carry keeps its value, the output is zero.
        for (int64_t b = 0; b < static_cast<int64_t>(lengths.size()); ++b) {
          if (t < lengths[b]) continue;
          if (i < num_carry)
            put_row(value, b, take_row(bound.at(inputs[i]->result()->name()), b));
          else
            put_row(value, b, Tensor(take_row(value, b).type()));
        }
      }
      if (i < num_carry)
        bound[inputs[i]->result()->name()] = std::move(value);
      else
        put_row(results[i], t, value);
    }
  }
  for (size_t i = 0; i < num_carry; ++i) results[i] = bound.at(inputs[i]->result()->name());
  return results;
}

}  // namespace rnnc::interp
