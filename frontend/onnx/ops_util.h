#pragma once
#include <cstdint>
#include <vector>

#include "frontend/onnx/node_context.h"
#include "ir/graph.h"

/// Helpers the op handlers share: numpy broadcasting in the IR and on the host.
namespace rnnc::onnx_import {

/// The numpy broadcast of shapes `a` and `b`; throws `context`'s error when they disagree.
ir::Shape broadcast_shapes(const NodeContext& context, const ir::Shape& a, const ir::Shape& b);
/// `x` broadcast to `shape` (x itself when it already has that shape).
ir::Value* broadcast_to(ir::Value* x, const ir::Shape& shape);
/// `x` broadcast to `shape` on the host.
HostTensor broadcast_host(const HostTensor& x, const ir::Shape& shape);
/// `x` with a size-1 axis inserted at `axis` (keepdims after a reduction).
ir::Value* insert_axis(ir::Value* x, int64_t axis);
/// [0, 1, ..., n-1].
std::vector<int64_t> iota(int64_t n);
/// `x` with the values of `perm` (a permutation) as its axes, on the host.
HostTensor transpose_host(const HostTensor& x, const std::vector<int64_t>& perm);
/// `x` with axis `axis` indexed by `indices` (each in [0, dim)): the result's axis `axis`
/// has indices.size() entries. In the IR (a gather along the axis).
ir::Value* take_along_axis(ir::Value* x, int64_t axis, const std::vector<int64_t>& indices);
/// The same on the host.
HostTensor take_along_axis_host(const HostTensor& x, int64_t axis,
                                const std::vector<int64_t>& indices);

}  // namespace rnnc::onnx_import
