#include "ir/attributes.h"

#include <cassert>

#include "ir/error.h"

namespace rnnc::ir {

AttrKind attr_value_kind(const AttrValue& value) { return static_cast<AttrKind>(value.index()); }

const AttrValue& Attributes::at(const std::string& name) const {
  auto it = values_.find(name);
  assert(it != values_.end() && "attribute missing");
  return it->second;
}

int64_t Attributes::get_int(const std::string& name) const { return std::get<int64_t>(at(name)); }
double Attributes::get_float(const std::string& name) const { return std::get<double>(at(name)); }
const std::vector<int64_t>& Attributes::get_ints(const std::string& name) const {
  return std::get<std::vector<int64_t>>(at(name));
}
const std::vector<double>& Attributes::get_floats(const std::string& name) const {
  return std::get<std::vector<double>>(at(name));
}
const std::string& Attributes::get_str(const std::string& name) const {
  return std::get<std::string>(at(name));
}
DType Attributes::get_dtype(const std::string& name) const { return std::get<DType>(at(name)); }

namespace {

AttrValue parse_default(const AttrSpec& spec) {
  const std::string& text = *spec.default_text;
  switch (spec.kind) {
    case AttrKind::Int:
      return static_cast<int64_t>(std::stoll(text));
    case AttrKind::Float:
      return std::stod(text);
    case AttrKind::Ints:
      return std::vector<int64_t>{};
    case AttrKind::Floats:
      return std::vector<double>{};
    case AttrKind::Str:
      return text;
    case AttrKind::DType:
      return *parse_dtype(text);
  }
  return int64_t{0};
}

}  // namespace

void complete_attributes(const OpInfo& info, Attributes& attrs) {
  for (const auto& [name, value] : attrs.values()) {
    const AttrSpec* spec = info.attr(name);
    if (!spec) throw Error("op '" + std::string(info.name) + "' has no attribute '" + name + "'");
    AttrKind kind = attr_value_kind(value);
    // An integer literal is a valid float, and an int list a valid float list.
    if (kind != spec->kind) {
      if (spec->kind == AttrKind::Float && kind == AttrKind::Int) {
        attrs.set(name, static_cast<double>(std::get<int64_t>(value)));
      } else if (spec->kind == AttrKind::Floats && kind == AttrKind::Ints) {
        const auto& ints = std::get<std::vector<int64_t>>(value);
        attrs.set(name, std::vector<double>(ints.begin(), ints.end()));
      } else {
        throw Error("attribute '" + name + "' of op '" + std::string(info.name) +
                    "' must be of kind " + std::string(attr_kind_name(spec->kind)) + ", not " +
                    std::string(attr_kind_name(kind)));
      }
    }
  }
  for (const AttrSpec& spec : info.attrs) {
    if (attrs.has(spec.name)) continue;
    if (!spec.default_text)
      throw Error("op '" + std::string(info.name) + "' needs attribute '" + spec.name + "'");
    attrs.set(spec.name, parse_default(spec));
  }
}

}  // namespace rnnc::ir
