#include "passes/pass_manager.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>

#include "ir/error.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace rnnc::passes {
namespace {

/// Blanks that may surround a pass name in a pipeline.
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

const std::vector<PassInfo>& registered_passes() {
  static const std::vector<PassInfo> passes = {
#define PASS(name, entry, description) {name, &entry, description},
#include "passes/passes.def"
  };
  return passes;
}

const PassInfo* find_pass(std::string_view name) {
  for (const PassInfo& pass : registered_passes())
    if (pass.name == name) return &pass;
  return nullptr;
}

std::string known_pass_names() {
  std::string names;
  for (const PassInfo& pass : registered_passes()) {
    if (!names.empty()) names += ", ";
    names += pass.name;
  }
  return names;
}

namespace {

/// The passes of pipeline `text`; with `lowering_allowed`, plan-memory may be its last item,
/// and `ends_with_lowering` says whether it is.
std::vector<const PassInfo*> parse_items(std::string_view text, bool lowering_allowed,
                                         bool& ends_with_lowering) {
  std::vector<const PassInfo*> pipeline;
  ends_with_lowering = false;
  if (trim(text).empty()) return pipeline;
  const std::string whole(text);
  size_t item = 0;
  while (true) {
    ++item;
    size_t comma = text.find(',');
    std::string_view name = trim(text.substr(0, comma));
    if (name.empty())
      throw Error("pipeline '" + whole + "': item " + std::to_string(item) +
                  " is empty (a stray comma?); known passes: " + known_pass_names());
    const PassInfo* pass = find_pass(name);
    const bool last = comma == std::string_view::npos;
    if (!pass && name == plan_memory_lowering().name) {
      if (last && lowering_allowed) {
        ends_with_lowering = true;
        break;
      }
      throw Error("'" + std::string(name) + "' in pipeline '" + whole +
                  "' must be its last item: it lowers the graph to a program, after which no "
                  "graph pass can run" +
                  (last ? std::string(" (only a command that makes a program, such as rnnc dump "
                                      "--emit=program, takes it)")
                        : std::string()));
    }
    if (!pass)
      throw Error("unknown pass '" + std::string(name) +
                  "' in pipeline (known passes: " + known_pass_names() + ")");
    pipeline.push_back(pass);
    if (last) break;
    text.remove_prefix(comma + 1);
  }
  return pipeline;
}

}  // namespace

std::vector<const PassInfo*> parse_pipeline(std::string_view text) {
  bool ends_with_lowering = false;
  return parse_items(text, false, ends_with_lowering);
}

const LoweringInfo& plan_memory_lowering() {
  static const LoweringInfo info = {
#define LOWERING(name, description) name, description
#include "passes/passes.def"
  };
  return info;
}

PipelineWithLowering split_lowering(std::string_view text) {
  PipelineWithLowering result;
  parse_items(text, true, result.plan_memory);  // checks every item
  if (result.plan_memory) {
    size_t comma = text.rfind(',');
    text = comma == std::string_view::npos ? std::string_view() : text.substr(0, comma);
  }
  result.passes = std::string(text);
  return result;
}

const std::vector<PipelineLevel>& default_pipelines() {
  static const std::vector<PipelineLevel> levels = {
#define PIPELINE(level, passes) {level, passes},
#include "passes/passes.def"
  };
  return levels;
}

std::string_view default_pipeline(std::string_view level) {
  std::string known;
  for (const PipelineLevel& entry : default_pipelines()) {
    if (entry.level == level) return entry.pipeline;
    known += (known.empty() ? "" : ", ") + std::string(entry.level);
  }
  throw Error("unknown optimization level '" + std::string(level) + "' (known: " + known + ")");
}

PassManager::PassManager(PassContext context, PassManagerOptions options)
    : context_(context), options_(options) {}

void PassManager::add(std::string_view name) {
  const PassInfo* pass = find_pass(name);
  if (!pass)
    throw Error("unknown pass '" + std::string(name) + "' (known passes: " + known_pass_names() +
                ")");
  pipeline_.push_back(*pass);
}

void PassManager::add(const PassInfo& pass) { pipeline_.push_back(pass); }

void PassManager::add_pipeline(std::string_view text) {
  for (const PassInfo* pass : parse_pipeline(text)) pipeline_.push_back(*pass);
}

void PassManager::print_after(std::string_view name, std::ostream& out) {
  const PassInfo* pass = find_pass(name);
  if (!pass)
    throw Error("cannot print after unknown pass '" + std::string(name) +
                "' (known passes: " + known_pass_names() + ")");
  print_after_.emplace_back(pass->name, &out);
}

bool PassManager::run(ir::Graph& graph) {
  for (const auto& [name, out] : print_after_) {
    bool runs = std::any_of(pipeline_.begin(), pipeline_.end(),
                            [&](const PassInfo& pass) { return pass.name == name; });
    if (runs) continue;
    std::string names;
    for (const PassInfo& pass : pipeline_)
      names += (names.empty() ? "" : ",") + std::string(pass.name);
    throw Error("cannot print after pass '" + std::string(name) +
                "': the pipeline does not run it (pipeline: " +
                (names.empty() ? std::string("empty") : names) + ")");
  }
  if (options_.time_passes && timings_.size() != pipeline_.size()) {
    timings_.clear();
    for (const PassInfo& pass : pipeline_) timings_.push_back({pass.name, 0, 0});
  }
  try {
    ir::verify(graph);
  } catch (const Error& error) {
    throw Error(std::string("the graph is invalid before the first pass: ") + error.what());
  }
  bool changed = false;
  for (size_t i = 0; i < pipeline_.size(); ++i) {
    const PassInfo& pass = pipeline_[i];
    Clock::time_point start = Clock::now();
    try {
      changed = pass.run(graph, context_) || changed;
    } catch (const Error& error) {
      throw Error("pass '" + std::string(pass.name) + "' failed: " + error.what());
    }
    if (options_.time_passes) {
      timings_[i].runs += 1;
      timings_[i].seconds += seconds_since(start);
    }
    if (options_.verify_each) {
      Clock::time_point verify_start = Clock::now();
      try {
        ir::verify(graph);
      } catch (const Error& error) {
        throw Error("pass '" + std::string(pass.name) + "' left an invalid graph: " + error.what());
      }
      if (options_.time_passes) {
        verify_runs_ += 1;
        verify_seconds_ += seconds_since(verify_start);
      }
    }
    for (const auto& [printed, out] : print_after_)
      if (printed == pass.name)
        *out << "// IR after " << pass.name << "\n" << ir::print_graph(graph);
  }
  return changed;
}

void PassManager::print_timing_report(std::ostream& out) const {
  double total = verify_seconds_;
  for (const PassTiming& timing : timings_) total += timing.seconds;
  auto line = [&](std::string_view name, int64_t runs, double seconds) {
    char text[160];
    double share = total > 0 ? 100.0 * seconds / total : 0.0;
    std::snprintf(text, sizeof text, "  %-24.*s %6lld %12.3f %7.1f%%\n",
                  static_cast<int>(name.size()), name.data(), static_cast<long long>(runs),
                  seconds * 1e3, share);
    out << text;
  };
  out << "=== pass timing ===\n";
  char header[160];
  std::snprintf(header, sizeof header, "  %-24s %6s %12s %8s\n", "pass", "runs", "time (ms)",
                "share");
  out << header;
  for (const PassTiming& timing : timings_) line(timing.pass, timing.runs, timing.seconds);
  if (options_.verify_each) line("(verifier)", verify_runs_, verify_seconds_);
  int64_t runs = verify_runs_;
  for (const PassTiming& timing : timings_) runs += timing.runs;
  line("total", runs, total);
}

}  // namespace rnnc::passes
