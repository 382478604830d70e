#include "ir/op.h"

#include <cassert>
#include <sstream>
#include <stdexcept>

namespace rnnc::ir {
namespace {

AttrKind parse_attr_kind(const std::string& text) {
  if (text == "int") return AttrKind::Int;
  if (text == "float") return AttrKind::Float;
  if (text == "ints") return AttrKind::Ints;
  if (text == "floats") return AttrKind::Floats;
  if (text == "str") return AttrKind::Str;
  if (text == "dtype") return AttrKind::DType;
  throw std::logic_error("ops.def: unknown attribute kind " + text);
}

std::vector<AttrSpec> parse_attr_specs(std::string_view specs) {
  std::vector<AttrSpec> result;
  std::stringstream stream{std::string(specs)};
  std::string item;
  while (std::getline(stream, item, ',')) {
    AttrSpec spec;
    size_t colon = item.find(':');
    size_t equals = item.find('=');
    spec.name = item.substr(0, colon);
    spec.kind = parse_attr_kind(item.substr(
        colon + 1, equals == std::string::npos ? std::string::npos : equals - colon - 1));
    if (equals != std::string::npos) spec.default_text = item.substr(equals + 1);
    result.push_back(spec);
  }
  return result;
}

std::vector<OpInfo> build_registry() {
  std::vector<OpInfo> registry;
#define OP(Enum, name, arity, attrs, traits) \
  registry.push_back(OpInfo{OpKind::Enum, name, arity, parse_attr_specs(attrs), traits});
#include "ir/ops.def"
#undef OP
  return registry;
}

const std::vector<OpInfo>& registry() {
  static const std::vector<OpInfo> table = build_registry();
  return table;
}

}  // namespace

const AttrSpec* OpInfo::attr(std::string_view attr_name) const {
  for (const AttrSpec& spec : attrs)
    if (spec.name == attr_name) return &spec;
  return nullptr;
}

const OpInfo& op_info(OpKind kind) {
  const OpInfo& info = registry()[static_cast<size_t>(kind)];
  assert(info.kind == kind);
  return info;
}

std::optional<OpKind> op_from_name(std::string_view name) {
  for (const OpInfo& info : registry())
    if (info.name == name) return info.kind;
  return std::nullopt;
}

const std::vector<OpKind>& all_ops() {
  static const std::vector<OpKind> ops = [] {
    std::vector<OpKind> kinds;
    for (const OpInfo& info : registry()) kinds.push_back(info.kind);
    return kinds;
  }();
  return ops;
}

std::string_view attr_kind_name(AttrKind kind) {
  switch (kind) {
    case AttrKind::Int:
      return "int";
    case AttrKind::Float:
      return "float";
    case AttrKind::Ints:
      return "ints";
    case AttrKind::Floats:
      return "floats";
    case AttrKind::Str:
      return "str";
    case AttrKind::DType:
      return "dtype";
  }
  return "?";
}

}  // namespace rnnc::ir
