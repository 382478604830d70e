#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "ir/graph.h"

namespace rnnc::ir {

/// Parses text IR (see docs/text-ir.md). `filename` is used in messages only. Throws
/// rnnc::Error "FILE:LINE:COLUMN: message" on any malformed line, unknown op or attribute,
/// undefined or redefined value, or type that disagrees with shape inference.
std::unique_ptr<Graph> parse_graph(std::string_view text, const std::string& filename);

/// Reads and parses the file at `path` (an unreadable file is an rnnc::Error too).
std::unique_ptr<Graph> parse_graph_file(const std::string& path);

}  // namespace rnnc::ir
