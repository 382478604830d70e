#pragma once
#include <vector>

#include "ir/attributes.h"
#include "ir/graph.h"

namespace rnnc::ir {

/// The result types of an op applied to `operands` with `attrs` (complete, as checked by
/// complete_attributes). Sources return `declared` after checking it. Throws rnnc::Error
/// saying what is wrong (the caller adds which node).
/// `bodies` are the node's body graphs (a scan's loop body).
std::vector<TensorType> infer_result_types(OpKind kind, const std::vector<Value*>& operands,
                                           const Attributes& attrs,
                                           const std::vector<TensorType>& declared,
                                           const std::vector<std::unique_ptr<Graph>>& bodies = {});

}  // namespace rnnc::ir
