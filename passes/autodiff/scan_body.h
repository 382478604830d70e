#pragma once
#include <map>
#include <memory>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"

/// The parts of the scan gradient (scan.cpp) that work on one loop body: the body's
/// vector-Jacobian product, built in a graph of its own, and the plan of what the backward
/// body recomputes and what it reads from the forward pass.
namespace rnnc::passes::autodiff {

/// How a scan node's operands, body inputs and body outputs divide into roles.
struct ScanSignature {
  size_t num_carry = 0;       ///< carried states
  size_t num_sequences = 0;   ///< sequences sliced per step
  size_t num_invariants = 0;  ///< loop invariants
  size_t num_outputs = 0;     ///< body outputs: next carries, then per-step outputs
  bool reverse = false;       ///< time runs from T-1 down to 0
  bool has_lengths = false;   ///< the last operand is the per-row lengths
  int64_t steps = 0;          ///< T, the sequences' leading dimension

  /// The signature of `scan` (a Scan node).
  static ScanSignature of(const ir::Node& scan);
  /// Body inputs (and the operands bound to them): carries, sequences, invariants.
  size_t num_bound() const { return num_carry + num_sequences + num_invariants; }
  /// Index of sequence `i` among the body inputs and operands.
  size_t sequence(size_t i) const { return num_carry + i; }
  /// Index of invariant `i` among the body inputs and operands.
  size_t invariant(size_t i) const { return num_carry + num_sequences + i; }
};

/// A scan body's vector-Jacobian product, in a graph of its own: a copy of the body (its
/// outputs kept as outputs), one input per seeded body output holding that output's adjoint,
/// and the product appended by the backward pass (which may have replaced nested scans).
struct BodyGradient {
  std::unique_ptr<ir::Graph> graph;
  /// The copies of the body inputs, in order (carries, sequence slices, invariants).
  std::vector<ir::Value*> inputs;
  /// Per body output: the input holding its adjoint, or null where it is not seeded.
  std::vector<ir::Value*> output_adjoints;
  /// Per body input: its adjoint, or null where none flows or none was wanted.
  std::vector<ir::Value*> input_grads;
  /// The graph's nodes that are not part of the product (see VectorJacobianProduct).
  std::unordered_set<const ir::Node*> forward_nodes;
};

/// The vector-Jacobian product of `body` seeded at the outputs marked in `seeded_outputs`
/// (float ones), with respect to the inputs marked in `wanted_inputs` (float ones).
BodyGradient differentiate_body(const ir::Graph& body, const std::vector<bool>& seeded_outputs,
                                const std::vector<bool>& wanted_inputs);

/// Where the backward body gets each value of a BodyGradient it needs.
struct BackwardBodyPlan {
  /// Nodes of the gradient graph copied into the backward body, in graph order: the product
  /// and the forward values that depend only on invariants and constants (recomputed; a
  /// hoisting pass can move them out of the loop).
  std::vector<const ir::Node*> recomputed;
  /// Forward values that depend on a carry or a sequence slice, and the carry inputs, that
  /// the product reads: the forward scan stacks them, the backward scan reads step t's slice.
  std::vector<ir::Value*> residuals;
  /// Sequences whose slices the product reads (from the forward sequences themselves).
  std::vector<size_t> read_sequences;
  /// Invariants the product reads.
  std::vector<size_t> read_invariants;
  /// Per-step outputs (body output indices) whose adjoint the product reads.
  std::vector<size_t> read_output_adjoints;
};

/// Plans the backward body that computes `roots` (values of `gradient.graph`: the adjoints
/// the backward scan outputs; null entries are skipped).
BackwardBodyPlan plan_backward_body(const BodyGradient& gradient, const ScanSignature& signature,
                                    const std::vector<ir::Value*>& roots);

/// The nodes of `graph` needed to compute `roots` without crossing `stop` values (whose
/// producers are not included), in graph order.
std::vector<const ir::Node*> nodes_computing(const ir::Graph& graph,
                                             const std::vector<ir::Value*>& roots,
                                             const std::unordered_set<const ir::Value*>& stop);

/// A per-step row mask inside a body: m_t (i32 [B], 1 where the row is within its length)
/// broadcast to the shape of any value whose leading dimension is the batch.
class RowMask {
 public:
  explicit RowMask(ir::Value* mask) : mask_(mask) {}
  /// The mask broadcast to `like`'s shape.
  ir::Value* like(ir::Value* like);
  /// `value` in rows within their length, `otherwise` elsewhere.
  ir::Value* keep(ir::Value* value, ir::Value* otherwise);
  /// `value` in rows within their length, zero elsewhere.
  ir::Value* keep_or_zero(ir::Value* value);

 private:
  ir::Value* mask_;
  std::map<ir::Shape, ir::Value*> broadcast_;
};

}  // namespace rnnc::passes::autodiff
