// A variable's value, typed as PyYAML (YAML 1.1) types a scalar and rendered as Python's str().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xrun::spec {

class Value {
 public:
  enum class Kind { Null, Bool, Int, BigInt, Float, String, List };

  Value() : kind_(Kind::Null) { cache(); }
  static Value null() { return Value(); }
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value big_integer(std::string decimal_digits);  // e.g. "-123456789012345678901234"
  static Value floating(double d);
  static Value string(std::string s);
  static Value list(std::vector<Value> items);

  Kind kind() const { return kind_; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::BigInt || kind_ == Kind::Float; }
  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_float() const { return f_; }
  // The text of a string, or the decimal digits of a big integer.
  const std::string& text() const { return s_; }
  const std::vector<Value>& items() const { return *list_; }

  // Python's str(value): "1.0", "True", "None", "[1, 'a']".
  const std::string& str() const { return str_; }
  // Python's repr(value): strings quoted.
  std::string repr() const;
  // Python's type name, for messages: int, float, str, bool, NoneType, list.
  const char* type_name() const;
  // JSON with the value's type kept (int, float, bool, string, null, array).
  nlohmann::ordered_json to_json() const;
  bool operator==(const Value& o) const;

 private:
  void cache();
  Kind kind_;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<const std::vector<Value>> list_;
  std::string str_;
};

// Python's repr() of a float ("0.3", "100.0", "1e-05", "inf").
std::string py_float_repr(double d);
// Python's repr() of a string ('abc', "it's").
std::string py_str_repr(const std::string& s);

// Resolve a plain (unquoted) YAML scalar as PyYAML's YAML 1.1 resolver does:
// bools (yes/no/on/off/true/false), null (~, null, empty), ints (10_000, 0x1F, 017, 0b101,
// 1:30 sexagesimal), floats (1.0, .5, 1.0e+3, .inf, .nan, 1:30.5); anything else a string.
Value resolve_plain_scalar(const std::string& text);
// A scalar with an explicit tag (`!!float 1` is 1.0, `!!int "3"` is 3, `!!str 1.5` is '1.5').
Value tagged_scalar(const std::string& tag, const std::string& text);
// A YAML 1.1 timestamp as Python's str() renders the date/datetime PyYAML makes of it
// ("2001-12-14t21:59:43.10-05:00" -> "2001-12-14 21:59:43.100000-05:00"); nullopt if not one.
std::optional<std::string> timestamp_text(const std::string& text);

}  // namespace xrun::spec
