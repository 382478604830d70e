// The pass infrastructure: registry, pipeline parsing, default pipelines, verification
// between passes, timing and printing the IR after a pass.
#include "passes/pass_manager.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "codegen/interp/constant_evaluator.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "tests/support/errors.h"

namespace rnnc {
namespace {

using ir::DType;
using passes::PassManager;

using testerr::error_of;

/// y = x * 1 + x * 1 (a graph canonicalize shrinks to x + x).
std::unique_ptr<ir::Graph> small_graph() {
  auto graph = std::make_unique<ir::Graph>("small");
  ir::Value* x = graph->add_input("x", {DType::f64, {2, 3}});
  ir::Value* one = ir::build::full(*graph, x->type(), 1.0);
  ir::Value* a = ir::build::mul(x, one);
  ir::Value* b = ir::build::mul(x, one);
  graph->add_output("y", ir::build::add(a, b));
  return graph;
}

TEST(PassRegistry, NamesAreUniqueAndDescribed) {
  std::set<std::string_view> names;
  for (const passes::PassInfo& pass : passes::registered_passes()) {
    EXPECT_TRUE(names.insert(pass.name).second) << pass.name;
    EXPECT_FALSE(pass.description.empty()) << pass.name;
    EXPECT_NE(pass.run, nullptr);
    EXPECT_EQ(passes::find_pass(pass.name), &pass);
  }
  for (const char* name : {"canonicalize", "cse", "dce", "fold-constants", "simplify"})
    EXPECT_TRUE(names.count(name)) << name;
  EXPECT_EQ(passes::find_pass("nope"), nullptr);
  EXPECT_EQ(
      passes::known_pass_names(),
      "canonicalize, simplify, fold-constants, cse, dce, fuse-matmuls, "
      "hoist-scan-invariants, sparse-row-updates, split-sliced-elementwise, fuse-elementwise");
}

std::vector<std::string_view> names_of(const std::vector<const passes::PassInfo*>& pipeline) {
  std::vector<std::string_view> names;
  for (const passes::PassInfo* pass : pipeline) names.push_back(pass->name);
  return names;
}

TEST(PipelineParsing, NamesCommasAndBlanks) {
  using Names = std::vector<std::string_view>;
  EXPECT_EQ(names_of(passes::parse_pipeline("canonicalize,dce")), (Names{"canonicalize", "dce"}));
  EXPECT_EQ(names_of(passes::parse_pipeline("  cse , dce\t")), (Names{"cse", "dce"}));
  EXPECT_EQ(names_of(passes::parse_pipeline("dce,dce")), (Names{"dce", "dce"}));
  EXPECT_TRUE(passes::parse_pipeline("").empty());
  EXPECT_TRUE(passes::parse_pipeline("   ").empty());
}

TEST(PipelineParsing, MalformedPipelinesAreClearErrors) {
  std::string unknown = error_of([] { passes::parse_pipeline("canonicalize,fuse-everything"); });
  EXPECT_NE(unknown.find("unknown pass 'fuse-everything'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("known passes: canonicalize, simplify"), std::string::npos) << unknown;
  EXPECT_NE(error_of([] {
              passes::parse_pipeline("can onicalize");
            }).find("unknown pass 'can onicalize'"),
            std::string::npos);
  for (const char* text : {"cse,,dce", ",dce", "dce,", ",", "dce, ,cse"}) {
    std::string message = error_of([&] { passes::parse_pipeline(text); });
    EXPECT_NE(message.find("is empty"), std::string::npos) << text << ": " << message;
    EXPECT_NE(message.find("pipeline '" + std::string(text) + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("known passes"), std::string::npos) << message;
  }
  EXPECT_NE(error_of([] { passes::parse_pipeline("cse,,dce"); }).find("item 2"), std::string::npos);
}

TEST(DefaultPipelines, LevelsParseAndUnknownLevelsAreErrors) {
  EXPECT_EQ(passes::default_pipeline("O0"), "");
  EXPECT_EQ(passes::default_pipeline("O1"),
            "canonicalize,fuse-matmuls,hoist-scan-invariants,sparse-row-updates,canonicalize,"
            "split-sliced-elementwise,fuse-elementwise");
  for (const passes::PipelineLevel& level : passes::default_pipelines())
    EXPECT_NO_THROW(passes::parse_pipeline(level.pipeline)) << level.level;
  std::string message = error_of([] { passes::default_pipeline("O7"); });
  EXPECT_NE(message.find("unknown optimization level 'O7' (known: O0, O1"), std::string::npos)
      << message;
}

TEST(PassManager, RunsAPipelineAndReportsChange) {
  auto graph = small_graph();
  PassManager manager(interp::pass_context_with_kernels());
  manager.add_pipeline("canonicalize");
  EXPECT_TRUE(manager.run(*graph));
  EXPECT_TRUE(graph->nodes_of(ir::OpKind::Mul).empty());
  EXPECT_EQ(graph->nodes_of(ir::OpKind::Add).size(), 1u);
  EXPECT_FALSE(manager.run(*graph));  // already canonical
  PassManager none;
  none.add_pipeline(passes::default_pipeline("O0"));
  EXPECT_FALSE(none.run(*graph));
}

TEST(PassManager, UnknownPassNamesAreErrors) {
  PassManager manager;
  std::string message = error_of([&] { manager.add("frobnicate"); });
  EXPECT_NE(message.find("unknown pass 'frobnicate' (known passes: canonicalize"),
            std::string::npos)
      << message;
  std::ostringstream out;
  message = error_of([&] { manager.print_after("frobnicate", out); });
  EXPECT_NE(message.find("unknown pass 'frobnicate'"), std::string::npos) << message;
}

TEST(PassManager, RejectsAnInvalidGraphBeforeTheFirstPass) {
  auto graph = small_graph();
  // Make the first mul read the final add: a use before its definition.
  ir::Node* mul = graph->nodes_of(ir::OpKind::Mul)[0];
  ir::Value* sum = graph->nodes_of(ir::OpKind::Add)[0]->result();
  mul->set_operand(0, sum);
  PassManager manager;
  manager.add("dce");
  std::string message = error_of([&] { manager.run(*graph); });
  EXPECT_NE(message.find("the graph is invalid before the first pass"), std::string::npos)
      << message;
  EXPECT_NE(message.find("not defined by an earlier node"), std::string::npos) << message;
}

/// A pass that breaks its graph: reverses the node order, so uses come before definitions.
bool reverse_nodes(ir::Graph& graph, const passes::PassContext&) {
  std::vector<ir::Node*> order;
  for (auto it = graph.nodes().rbegin(); it != graph.nodes().rend(); ++it)
    order.push_back(it->get());
  graph.reorder(order);
  return true;
}

bool throwing_pass(ir::Graph&, const passes::PassContext&) { throw Error("out of ideas"); }

TEST(PassManager, VerifierNamesThePassThatBrokeTheGraph) {
  auto graph = small_graph();
  PassManager manager;
  manager.add("cse");
  manager.add(passes::PassInfo{"reverse-nodes", &reverse_nodes, "breaks the order"});
  manager.add("dce");
  std::string message = error_of([&] { manager.run(*graph); });
  EXPECT_NE(message.find("pass 'reverse-nodes' left an invalid graph"), std::string::npos)
      << message;

  // With verification off the broken graph goes through unnoticed (and fails verify later).
  auto unchecked = small_graph();
  passes::PassManagerOptions options;
  options.verify_each = false;
  PassManager lax({}, options);
  lax.add(passes::PassInfo{"reverse-nodes", &reverse_nodes, "breaks the order"});
  EXPECT_NO_THROW(lax.run(*unchecked));
  EXPECT_THROW(ir::verify(*unchecked), Error);
}

TEST(PassManager, ErrorsFromAPassNameIt) {
  auto graph = small_graph();
  PassManager manager;
  manager.add(passes::PassInfo{"give-up", &throwing_pass, "throws"});
  std::string message = error_of([&] { manager.run(*graph); });
  EXPECT_EQ(message, "pass 'give-up' failed: out of ideas");
}

TEST(PassManager, PrintsTheIrAfterANamedPass) {
  auto graph = small_graph();
  std::ostringstream out;
  PassManager manager(interp::pass_context_with_kernels());
  manager.add_pipeline("cse,dce,simplify");
  manager.print_after("dce", out);
  manager.run(*graph);
  std::string text = out.str();
  ASSERT_EQ(text.rfind("// IR after dce\n", 0), 0u) << text;
  // After cse and dce one mul is left; simplify (which removes it) ran after the print.
  std::string printed = text.substr(std::string("// IR after dce\n").size());
  EXPECT_NE(printed.find("= mul("), std::string::npos) << printed;
  EXPECT_EQ(printed.find("= mul(", printed.find("= mul(") + 1), std::string::npos) << printed;
  // simplify then made the add read x directly (leaving the mul unused, for dce).
  const ir::Node& add = *graph->output("y")->producer();
  EXPECT_EQ(add.operand(0), graph->find("x"));
  EXPECT_EQ(add.operand(1), graph->find("x"));
  EXPECT_EQ(text.find("// IR after", 1), std::string::npos) << "printed once only";
}

TEST(PassManager, PrintAfterAPassOutsideThePipelineIsAnError) {
  auto graph = small_graph();
  std::ostringstream out;
  PassManager manager;
  manager.add("dce");
  manager.print_after("cse", out);
  std::string message = error_of([&] { manager.run(*graph); });
  EXPECT_NE(
      message.find("cannot print after pass 'cse': the pipeline does not run it (pipeline: dce)"),
      std::string::npos)
      << message;
}

/// The first two words of the timing report's row that starts with `name` (name and runs).
std::vector<std::string> report_row(const std::string& report, const std::string& name) {
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first, second;
    words >> first >> second;
    if (first == name) return {first, second};
  }
  return {};
}

TEST(PassManager, TimesEachPipelineEntry) {
  auto graph = small_graph();
  passes::PassManagerOptions options;
  options.time_passes = true;
  PassManager manager(interp::pass_context_with_kernels(), options);
  manager.add_pipeline("cse,canonicalize,cse");
  manager.run(*graph);
  manager.run(*graph);
  ASSERT_EQ(manager.timings().size(), 3u);
  EXPECT_EQ(manager.timings()[1].pass, "canonicalize");
  for (const passes::PassTiming& timing : manager.timings()) {
    EXPECT_EQ(timing.runs, 2);
    EXPECT_GE(timing.seconds, 0.0);
  }
  std::ostringstream report;
  manager.print_timing_report(report);
  std::string text = report.str();
  EXPECT_NE(text.find("pass timing"), std::string::npos) << text;
  EXPECT_NE(text.find("canonicalize"), std::string::npos) << text;
  // Runs: 3 entries x 2 runs, 6 verifications, 12 in all.
  EXPECT_EQ(report_row(text, "(verifier)"), (std::vector<std::string>{"(verifier)", "6"})) << text;
  EXPECT_EQ(report_row(text, "total"), (std::vector<std::string>{"total", "12"})) << text;
  EXPECT_EQ(report_row(text, "canonicalize"), (std::vector<std::string>{"canonicalize", "2"}));

  PassManager untimed;
  untimed.add("dce");
  untimed.run(*graph);
  EXPECT_TRUE(untimed.timings().empty());
}

}  // namespace
}  // namespace rnnc
