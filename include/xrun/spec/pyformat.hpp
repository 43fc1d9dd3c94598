// Python str.format templates: "{x}", "{x:.2f}", "{n:04d}", "{s:>6}", "{{", "}}", "{v[0]}".
// Parsing follows Python's MarkupIterator; format specs follow Python's mini-language and are
// rendered with fmt for the number bodies.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "xrun/spec/value.hpp"
#include "xrun/util/pointer_memo.hpp"
#include "xrun/util/result.hpp"

namespace xrun::spec {

struct FormatSpec {
  char fill = ' ';
  bool fill_given = false;
  char align = 0;  // 0, '<', '>', '^', '='
  char sign = 0;   // 0, '+', '-', ' '
  bool z = false;
  bool alt = false;
  bool zero = false;
  int width = -1;
  char grouping = 0;  // 0, ',', '_'
  int precision = -1;
  char type = 0;
  bool empty() const;
};

// Errors carry only `what` (Python's message) and a hint; callers add the location.
Result<FormatSpec> parse_format_spec(std::string_view spec);
Result<std::string> format_value(const Value& v, char conversion, const FormatSpec& spec);

struct Field {
  std::string name;          // the variable
  std::vector<long> index;   // {v[0][1]} -> {0, 1}
  char conversion = 0;       // 0, 'r', 's', 'a'
  std::string spec_text;     // raw spec after ':'
  bool spec_nested = false;  // the spec holds {fields} itself
  FormatSpec spec;           // parsed when !spec_nested
  size_t offset = 0;         // byte offset of '{' in the template
  int slot = -1;             // set by whoever binds names to slots
  bool simple() const { return index.empty() && conversion == 0 && !spec_nested && spec.empty(); }
};

class Template {
 public:
  static Result<Template> parse(std::string_view text);
  // One piece: literal text or a field (index into fields()).
  struct Piece {
    std::string literal;
    int field = -1;
  };
  const std::vector<Piece>& pieces() const { return pieces_; }
  std::vector<Field>& fields() { return fields_; }
  const std::vector<Field>& fields() const { return fields_; }
  const std::string& text() const { return text_; }
  // Every field, nested spec fields included (for binding names to slots and listing names).
  void for_each_field(const std::function<void(Field&)>& fn);
  void for_each_field(const std::function<void(const Field&)>& fn) const;
  bool has_fields() const { return !fields_.empty(); }

  // Render with values looked up by slot (fields must be bound). Appends to `out`.
  // `values[slot]` may be null: then the error names the missing variable.
  // `memo`: remembers fields with a format spec by (field, value) address, for callers whose
  // values keep their addresses and contents (vars::Sweep::stable_values()).
  Result<void> render(const std::vector<const Value*>& values, std::string& out,
                      util::PointerMemo* memo = nullptr) const;

 private:
  std::string text_;
  std::vector<Piece> pieces_;
  std::vector<Field> fields_;
  std::vector<Template> nested_specs_;  // parallel to fields_ when spec_nested
};

// Format one field's value (index, conversion and spec applied).
Result<std::string> format_field(const Field& f, const Value& v);

}  // namespace xrun::spec
