#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

/// The pass infrastructure: the registry of passes (passes/passes.def), pipelines given as
/// text ("canonicalize,dce"), the default pipeline of each optimization level, and the
/// PassManager that runs a pipeline with verification, timing and IR printing on request.
namespace rnnc::passes {

/// Computes the value of a node from constant operands, for constant folding. Passes may
/// include only ir/ (see DESIGN.md), so folding cannot call the interpreter's kernels
/// directly: the interpreter provides an implementation (interp::KernelConstantEvaluator in
/// codegen/interp/constant_evaluator.h) and whoever runs the passes hands it in through
/// PassContext. Without one, fold-constants folds nothing.
class ConstantEvaluator {
 public:
  virtual ~ConstantEvaluator() = default;
  /// The elements (row-major, as doubles) of the single result of `node`, given each
  /// operand's elements in the same form. For a Constant or Iota node `operands` is empty.
  /// Throws rnnc::Error when the data is bad (an index out of range, an integer division by
  /// zero): the folding pass then leaves the node for run time to report.
  virtual std::vector<double> evaluate(const ir::Node& node,
                                       const std::vector<std::vector<double>>& operands) const = 0;
};

/// What a pass may consult besides the graph it rewrites.
struct PassContext {
  /// Evaluates nodes for constant folding; null disables folding.
  const ConstantEvaluator* evaluator = nullptr;
  /// The most elements a folded constant (and each operand it is computed from) may have,
  /// so that folding never materializes huge constants. Results whose elements are all equal
  /// are stored as one value and may be larger.
  int64_t fold_limit_elements = int64_t{1} << 14;
};

/// The signature of every pass's entry function: rewrites `graph` (and its body graphs) in
/// place; returns true when anything changed.
using PassFunction = bool (*)(ir::Graph& graph, const PassContext& context);

// Every registered entry function, declared from passes.def so that a pass whose header
// disagrees with the registered signature fails to compile.
#define PASS(name, entry, description) bool entry(ir::Graph& graph, const PassContext& context);
#include "passes/passes.def"

/// One registered pass.
struct PassInfo {
  std::string_view name;         ///< as pipelines spell it ("fold-constants")
  PassFunction run;              ///< the entry function
  std::string_view description;  ///< one line, for --help
};

/// Every registered pass, in passes.def order.
const std::vector<PassInfo>& registered_passes();
/// The pass named `name`, or null.
const PassInfo* find_pass(std::string_view name);
/// "canonicalize, simplify, ..." : the registered names, for error messages and help.
std::string known_pass_names();

/// Parses a pipeline: pass names separated by commas, blanks around names ignored. An empty
/// or all-blank text is the empty pipeline. Throws rnnc::Error for an unknown name (listing
/// the known passes), an empty item (a stray, leading or trailing comma), or plan-memory
/// (a lowering, not a graph pass: see split_lowering).
std::vector<const PassInfo*> parse_pipeline(std::string_view text);

/// The name and description of the lowering that may end a pipeline (passes.def's LOWERING:
/// "plan-memory", passes/plan_memory.h).
struct LoweringInfo {
  std::string_view name;
  std::string_view description;
};
/// plan-memory's entry in passes.def.
const LoweringInfo& plan_memory_lowering();

/// A pipeline text split at its end: the graph passes, and whether "plan-memory" ends it
/// (meaning: then lower the graph to a program).
struct PipelineWithLowering {
  std::string passes;  ///< the pipeline text before plan-memory (all of it when absent)
  bool plan_memory = false;
};
/// Splits `text` as above and checks the graph passes (see parse_pipeline). Throws
/// rnnc::Error when plan-memory is named anywhere but last.
PipelineWithLowering split_lowering(std::string_view text);

/// One optimization level and its default pipeline (passes.def).
struct PipelineLevel {
  std::string_view level;     ///< "O0", "O1", ...
  std::string_view pipeline;  ///< pipeline text, possibly empty
};
/// Every level in passes.def order.
const std::vector<PipelineLevel>& default_pipelines();
/// The default pipeline text of `level` ("O1"). Throws rnnc::Error naming the known levels.
std::string_view default_pipeline(std::string_view level);

/// How a PassManager runs its pipeline.
struct PassManagerOptions {
  /// Runs ir::verify after every pass; a failure names the pass that broke the graph.
  bool verify_each = true;
  /// Measures each pass (and the verifier); see PassManager::print_timing_report.
  bool time_passes = false;
};

/// The time one pipeline entry took (summed over runs of the manager).
struct PassTiming {
  std::string_view pass;  ///< the entry's pass name
  int64_t runs = 0;       ///< how many times it ran
  double seconds = 0;     ///< wall-clock time of those runs, verification excluded
};

/// Runs a pipeline of registered passes on graphs.
///
///   PassManager manager(context);
///   manager.add_pipeline("canonicalize");
///   manager.print_after("canonicalize", std::cerr);
///   manager.run(graph);
class PassManager {
 public:
  explicit PassManager(PassContext context = {}, PassManagerOptions options = {});

  /// Appends the registered pass named `name`. Throws rnnc::Error listing the known passes.
  void add(std::string_view name);
  /// Appends `pass`, registered or not (tests and experiments; its name must outlive the
  /// manager).
  void add(const PassInfo& pass);
  /// Appends every pass of pipeline text `text` (see parse_pipeline).
  void add_pipeline(std::string_view text);
  /// The passes to run, in order.
  const std::vector<PassInfo>& pipeline() const { return pipeline_; }

  /// After each run of the pass named `name`, prints the text IR of the graph to `out` under
  /// a "// IR after NAME" line. Throws rnnc::Error when no such pass is registered.
  void print_after(std::string_view name, std::ostream& out);

  /// Verifies `graph`, then runs each pass in order (verifying after each when enabled).
  /// Returns true when some pass changed the graph. Throws rnnc::Error when the graph is
  /// invalid before the first pass, when a pass fails or leaves an invalid graph (naming the
  /// pass), or when a pass given to print_after is not in the pipeline.
  bool run(ir::Graph& graph);

  /// Per pipeline entry, the time spent so far (time_passes only; empty otherwise).
  const std::vector<PassTiming>& timings() const { return timings_; }
  /// Time spent in the verifier so far (time_passes only).
  double verify_seconds() const { return verify_seconds_; }
  /// A table of timings(): each entry's runs, milliseconds and share, then the verifier and
  /// the total.
  void print_timing_report(std::ostream& out) const;

 private:
  PassContext context_;
  PassManagerOptions options_;
  std::vector<PassInfo> pipeline_;
  std::vector<std::pair<std::string_view, std::ostream*>> print_after_;
  std::vector<PassTiming> timings_;
  int64_t verify_runs_ = 0;
  double verify_seconds_ = 0;
};

}  // namespace rnnc::passes
