#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rnnc::ir {

/// Every primitive operation, from ops.def.
enum class OpKind {
#define OP(Enum, name, arity, attrs, traits) Enum,
#include "ir/ops.def"
#undef OP
};

/// Trait bits of ops.def.
enum OpTrait : uint32_t {
  kSource = 1u << 0,       ///< no operands; result type declared
  kElementwise = 1u << 1,  ///< result element i depends on operand elements i only
  kCommutative = 1u << 2,  ///< binary and symmetric
  kReduction = 1u << 3,    ///< reduces over its `axes`
  kLayout = 1u << 4,       ///< moves or copies data without arithmetic
  kHasBody = 1u << 5,      ///< owns a body graph (a loop)
};

/// Kinds of attribute values.
enum class AttrKind { Int, Float, Ints, Floats, Str, DType };

/// One attribute an op takes, with its default when it has one (text form, as in ops.def).
struct AttrSpec {
  std::string name;
  AttrKind kind;
  std::optional<std::string> default_text;
};

/// What ops.def says of one op.
struct OpInfo {
  OpKind kind;
  std::string_view name;
  int arity;  ///< -1: variadic
  std::vector<AttrSpec> attrs;
  uint32_t traits;

  bool has(OpTrait trait) const { return (traits & trait) != 0; }
  /// The spec of attribute `name`, or null.
  const AttrSpec* attr(std::string_view name) const;
};

/// The registry entry of `kind`.
const OpInfo& op_info(OpKind kind);
/// The op whose text name is `name`, or nothing.
std::optional<OpKind> op_from_name(std::string_view name);
/// All ops in ops.def order.
const std::vector<OpKind>& all_ops();
/// The text name of an attribute kind ("int", "ints", ...).
std::string_view attr_kind_name(AttrKind kind);

}  // namespace rnnc::ir
