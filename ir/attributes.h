#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/op.h"
#include "ir/types.h"

namespace rnnc::ir {

/// One attribute value; the alternative's index is its AttrKind.
using AttrValue =
    std::variant<int64_t, double, std::vector<int64_t>, std::vector<double>, std::string, DType>;

/// The kind of an attribute value.
AttrKind attr_value_kind(const AttrValue& value);

/// A node's attributes by name. Typed getters assert the kind (the node constructor has
/// checked every attribute against ops.def).
class Attributes {
 public:
  Attributes() = default;
  Attributes(std::initializer_list<std::pair<const std::string, AttrValue>> items)
      : values_(items) {}

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const AttrValue& at(const std::string& name) const;
  void set(const std::string& name, AttrValue value) { values_[name] = std::move(value); }

  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  const std::vector<int64_t>& get_ints(const std::string& name) const;
  const std::vector<double>& get_floats(const std::string& name) const;
  const std::string& get_str(const std::string& name) const;
  DType get_dtype(const std::string& name) const;

  const std::map<std::string, AttrValue>& values() const { return values_; }
  bool operator==(const Attributes&) const = default;

 private:
  std::map<std::string, AttrValue> values_;
};

/// Checks `attrs` against ops.def for `info`: fills defaults, rejects unknown names, missing
/// values and wrong kinds. Throws rnnc::Error with a message naming the attribute.
void complete_attributes(const OpInfo& info, Attributes& attrs);

}  // namespace rnnc::ir
