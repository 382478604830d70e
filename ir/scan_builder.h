#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace rnnc::ir {

/// Builds a Scan node: declare carries, sequences and invariants (each returns the value the
/// body sees), compute in body(), name the next carries and per-step outputs, then finish().
/// Declarations may come in any order; finish() orders the body inputs as the op requires.
///
///   ScanBuilder scan(graph, "rnn_step");
///   Value* h = scan.carry(h0, "h");
///   Value* x = scan.sequence(xs, "x");       // xs [T, B, E] -> x [B, E]
///   Value* w = scan.invariant(w_hh, "w_hh");
///   Value* next = build::tanh(...);           // built in scan.body()
///   scan.set_next(h, next);
///   scan.add_output("y", next);
///   std::vector<Value*> results = scan.finish();  // h_T, then ys [T, B, H]
class ScanBuilder {
 public:
  /// A scan to be appended to `graph`, its body graph named `body_name`.
  ScanBuilder(Graph& graph, std::string body_name);

  /// The body graph, where the step's computation is built.
  Graph& body() { return *body_; }
  /// Carried state starting at `init` (a value of the outer graph); returns it in the body.
  Value* carry(Value* init, const std::string& name);
  /// The step-t slice of `sequence` ([T, ...] in the outer graph), as the body sees it.
  Value* sequence(Value* sequence, const std::string& name);
  /// A loop-invariant outer value (weights), as the body sees it.
  Value* invariant(Value* value, const std::string& name);
  /// Per-row sequence lengths (i32 [B]); rows past their length keep state, output zeros.
  void set_lengths(Value* lengths) { lengths_ = lengths; }
  /// Runs time backwards (T-1 down to 0).
  void set_reverse(bool reverse) { reverse_ = reverse; }
  /// The value `carry` (returned by carry()) takes at the next step.
  void set_next(Value* carry, Value* next);
  /// A per-step output, stacked to [T, ...] by the scan.
  void add_output(const std::string& name, Value* value);
  /// Appends the Scan node; returns its results: the final carries in declaration order,
  /// then the stacked outputs in add_output order. Throws rnnc::Error (naming the node) on
  /// inconsistent types, or a carry without set_next.
  std::vector<Value*> finish();

 private:
  struct Bound {
    Value* outer;
    Value* inner;
  };
  Graph& graph_;
  std::unique_ptr<Graph> body_;
  std::vector<Bound> carries_, sequences_, invariants_;
  std::vector<Value*> next_;
  std::vector<std::pair<std::string, Value*>> outputs_;
  Value* lengths_ = nullptr;
  bool reverse_ = false;
};

}  // namespace rnnc::ir
