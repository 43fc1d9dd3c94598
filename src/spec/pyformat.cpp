#include "xrun/spec/pyformat.hpp"

#include <cmath>
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace xrun::spec {

namespace {

constexpr int kMaxWidth = 100000;

bool is_align(char c) { return c == '<' || c == '>' || c == '^' || c == '='; }

size_t utf8_len(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string utf8_prefix(std::string_view s, size_t count) {
  size_t n = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (n == count) break;
      ++n;
    }
  }
  return std::string(s.substr(0, i));
}

Error spec_error(std::string what) {
  return make_error(std::move(what),
                    "see Python's format specification mini-language, e.g. {x:.2f}, {n:04d}, {s:>6}");
}

std::string pad(const std::string& prefix, const std::string& body, const FormatSpec& s,
                char default_align) {
  size_t len = utf8_len(prefix) + utf8_len(body);
  char align = s.align ? s.align : default_align;
  if (s.width < 0 || len >= static_cast<size_t>(s.width)) return prefix + body;
  size_t n = static_cast<size_t>(s.width) - len;
  std::string fill(n, s.fill);
  switch (align) {
    case '<': return prefix + body + fill;
    case '^': return std::string(n / 2, s.fill) + prefix + body + std::string(n - n / 2, s.fill);
    case '=': return prefix + fill + body;
    default: return fill + prefix + body;
  }
}

// Insert a separator every `every` digits in the leading run of digits of `body`.
std::string group_digits(const std::string& body, char sep, int every) {
  size_t end = 0;
  while (end < body.size() && std::isxdigit(static_cast<unsigned char>(body[end]))) ++end;
  if (body.find_first_of(".eE") != std::string::npos)
    end = std::min(end, body.find_first_of(".eE"));
  std::string digits = body.substr(0, end), out;
  int count = 0;
  for (size_t i = digits.size(); i-- > 0;) {
    out.insert(out.begin(), digits[i]);
    if (++count % every == 0 && i > 0) out.insert(out.begin(), sep);
  }
  return out + body.substr(end);
}

Result<std::string> format_string(const std::string& s, const FormatSpec& sp) {
  if (sp.type != 0 && sp.type != 's')
    return spec_error(fmt::format("Unknown format code '{}' for object of type 'str'", sp.type));
  if (sp.sign) return spec_error("Sign not allowed in string format specifier");
  if (sp.alt) return spec_error("Alternate form (#) not allowed in string format specifier");
  if (sp.align == '=') return spec_error("'=' alignment not allowed in string format specifier");
  if (sp.grouping) return spec_error(fmt::format("Cannot specify '{}' with 's'.", sp.grouping));
  std::string body = sp.precision >= 0 ? utf8_prefix(s, static_cast<size_t>(sp.precision)) : s;
  return pad("", body, sp, '<');
}

// Digits of a non-negative decimal number (any length) in base 2, 8 or 16.
std::string decimal_to_base(std::string dec, int base, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  while (!(dec.empty() || (dec.size() == 1 && dec[0] == '0'))) {
    std::string q;
    int rem = 0;
    for (char c : dec) {
      int cur = rem * 10 + (c - '0');
      int d = cur / base;
      rem = cur % base;
      if (!q.empty() || d) q += static_cast<char>('0' + d);
    }
    out += digits[rem];
    dec = q;
  }
  if (out.empty()) out = "0";
  return std::string(out.rbegin(), out.rend());
}

// Python's ascii(): repr() with every non-ASCII code point escaped as \xNN, \uNNNN or \UNNNNNNNN.
std::string ascii_escape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    uint32_t cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : len == 4 ? c & 0x07 : c;
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    if (cp < 0x100) out += fmt::format("\\x{:02x}", cp);
    else if (cp < 0x10000) out += fmt::format("\\u{:04x}", cp);
    else out += fmt::format("\\U{:08x}", cp);
  }
  return out;
}

std::string sign_of(bool negative, const FormatSpec& sp) {
  if (negative) return "-";
  if (sp.sign == '+') return "+";
  if (sp.sign == ' ') return " ";
  return "";
}

// Python's general format ('g', and no type with a precision), as CPython's
// format_float_short does it: p significant digits (0 counts as 1); exponent notation when the
// decimal exponent X < -4 or X >= p (X >= p - 1 when `add_dot_0`, the no-type case); trailing
// zeros and a bare '.' removed unless `alt`; `add_dot_0` adds ".0" to a fixed result without a
// decimal point.
std::string general_format(double a, int p, bool upper, bool alt, bool add_dot_0) {
  if (!std::isfinite(a)) return std::isnan(a) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
  if (p == 0) p = 1;
  std::string e = fmt::format(fmt::runtime("{:." + std::to_string(p - 1) + "e}"), a);
  int x = std::atoi(e.c_str() + e.find('e') + 1);
  bool use_exp = x < -4 || x >= (add_dot_0 ? p - 1 : p);
  auto strip = [&](std::string s) {
    if (alt || s.find('.') == std::string::npos) return s;
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  std::string body;
  if (use_exp) {
    std::string mant = strip(e.substr(0, e.find('e')));
    if (alt && mant.find('.') == std::string::npos) mant += '.';
    body = fmt::format("{}{}{}{:02d}", mant, upper ? 'E' : 'e', x < 0 ? '-' : '+', std::abs(x));
  } else {
    body = strip(fmt::format(fmt::runtime("{:." + std::to_string(std::max(0, p - 1 - x)) + "f}"), a));
    if (alt && body.find('.') == std::string::npos) body += '.';
    if (add_dot_0 && body.find('.') == std::string::npos) body += ".0";
  }
  return body;
}

Result<std::string> format_float(double d, const FormatSpec& sp, const char* type_name) {
  char t = sp.type;
  if (!(t == 0 || t == 'e' || t == 'E' || t == 'f' || t == 'F' || t == 'g' || t == 'G' || t == 'n' ||
        t == '%'))
    return spec_error(fmt::format("Unknown format code '{}' for object of type '{}'", t, type_name));
  if (sp.grouping && t == 'n') return spec_error("Cannot specify ',' with 'n'.");
  bool neg = std::signbit(d) && !(sp.z && d == 0) && !std::isnan(d);
  double a = std::fabs(d);
  if (sp.z && a == 0) a = 0.0;
  std::string body;
  std::string alt = sp.alt ? "#" : "";
  if (t == 0 && sp.precision < 0) {
    body = py_float_repr(a);
  } else if (t == 0) {
    body = general_format(a, sp.precision, false, sp.alt, true);
  } else if (t == 'g' || t == 'G' || t == 'n') {
    body = general_format(a, sp.precision < 0 ? 6 : sp.precision, t == 'G', sp.alt, false);
  } else if (t == '%') {
    int p = sp.precision < 0 ? 6 : sp.precision;
    body = fmt::format(fmt::runtime("{:" + alt + "." + std::to_string(p) + "f}"), a * 100) + "%";
  } else {
    char ft = t == 'n' ? 'g' : t;
    int p = sp.precision < 0 ? 6 : sp.precision;
    body = fmt::format(fmt::runtime("{:" + alt + "." + std::to_string(p) + ft + "}"), a);
  }
  if (sp.grouping) body = group_digits(body, sp.grouping, 3);
  return pad(sign_of(neg, sp), body, sp, '>');
}

Result<std::string> format_int(const Value& v, const FormatSpec& sp) {
  char t = sp.type;
  if (t == 'e' || t == 'E' || t == 'f' || t == 'F' || t == 'g' || t == 'G' || t == '%')
    return format_float(v.kind() == Value::Kind::Bool ? (v.as_bool() ? 1.0 : 0.0) : v.as_float(), sp,
                        v.kind() == Value::Kind::Bool ? "bool" : "int");
  if (!(t == 0 || t == 'b' || t == 'c' || t == 'd' || t == 'o' || t == 'x' || t == 'X' || t == 'n'))
    return spec_error(fmt::format("Unknown format code '{}' for object of type 'int'", t));
  if (sp.precision >= 0) return spec_error("Precision not allowed in integer format specifier");
  if (sp.grouping == ',' && (t == 'b' || t == 'o' || t == 'x' || t == 'X' || t == 'n' || t == 'c'))
    return spec_error(fmt::format("Cannot specify ',' with '{}'.", t));
  if (v.kind() == Value::Kind::BigInt) {
    if (t == 'c') return spec_error("%c arg not in range(0x110000)");
    bool neg = v.text()[0] == '-';
    std::string body = neg ? v.text().substr(1) : v.text();
    std::string prefix;
    if (t == 'b' || t == 'o' || t == 'x' || t == 'X') {
      body = decimal_to_base(body, t == 'b' ? 2 : t == 'o' ? 8 : 16, t == 'X');
      if (sp.alt) prefix = t == 'b' ? "0b" : t == 'o' ? "0o" : t == 'x' ? "0x" : "0X";
    }
    if (sp.grouping) body = group_digits(body, sp.grouping, (t == 'b' || t == 'o' || t == 'x' || t == 'X') ? 4 : 3);
    return pad(sign_of(neg, sp) + prefix, body, sp, '>');
  }
  int64_t i = v.as_int();
  if (t == 'c') {
    if (sp.sign) return spec_error("Sign not allowed with integer format specifier 'c'");
    if (i < 0 || i > 0x10FFFF) return spec_error("%c arg not in range(0x110000)");
    std::string body;
    auto cp = static_cast<uint32_t>(i);
    if (cp < 0x80) {
      body += static_cast<char>(cp);
    } else if (cp < 0x800) {
      body += static_cast<char>(0xC0 | (cp >> 6));
      body += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      body += static_cast<char>(0xE0 | (cp >> 12));
      body += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      body += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      body += static_cast<char>(0xF0 | (cp >> 18));
      body += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      body += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      body += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return pad("", body, sp, '>');
  }
  bool neg = i < 0;
  uint64_t a = neg ? static_cast<uint64_t>(-(i + 1)) + 1 : static_cast<uint64_t>(i);
  std::string prefix, body;
  switch (t) {
    case 'b': body = fmt::format("{:b}", a); prefix = sp.alt ? "0b" : ""; break;
    case 'o': body = fmt::format("{:o}", a); prefix = sp.alt ? "0o" : ""; break;
    case 'x': body = fmt::format("{:x}", a); prefix = sp.alt ? "0x" : ""; break;
    case 'X': body = fmt::format("{:X}", a); prefix = sp.alt ? "0X" : ""; break;
    default: body = fmt::format("{}", a); break;
  }
  if (sp.grouping) body = group_digits(body, sp.grouping, (t == 'b' || t == 'o' || t == 'x' || t == 'X') ? 4 : 3);
  return pad(sign_of(neg, sp) + prefix, body, sp, '>');
}

}  // namespace

bool FormatSpec::empty() const {
  return !fill_given && align == 0 && sign == 0 && !z && !alt && !zero && width < 0 && grouping == 0 &&
         precision < 0 && type == 0;
}

Result<FormatSpec> parse_format_spec(std::string_view s) {
  FormatSpec sp;
  size_t i = 0;
  // Fill and align: the fill may be any character (we accept one byte or one UTF-8 char as byte).
  if (s.size() >= 2 && is_align(s[1])) {
    sp.fill = s[0];
    sp.fill_given = true;
    sp.align = s[1];
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    sp.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sp.sign = s[i++];
  if (i < s.size() && s[i] == 'z') {
    sp.z = true;
    ++i;
  }
  if (i < s.size() && s[i] == '#') {
    sp.alt = true;
    ++i;
  }
  if (i < s.size() && s[i] == '0') {
    sp.zero = true;
    ++i;
  }
  auto read_int = [&](int& out) -> bool {
    size_t start = i;
    long long v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i] - '0');
      if (v > kMaxWidth) return false;
      ++i;
    }
    if (i > start) out = static_cast<int>(v);
    return true;
  };
  if (!read_int(sp.width)) return spec_error(fmt::format("width or precision too large in '{}'", s));
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) sp.grouping = s[i++];
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) return spec_error("Cannot specify both ',' and '_'.");
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t before = i;
    if (!read_int(sp.precision)) return spec_error(fmt::format("width or precision too large in '{}'", s));
    if (i == before) return spec_error("Format specifier missing precision");
  }
  if (i < s.size()) sp.type = s[i++];
  if (i < s.size()) return spec_error(fmt::format("Invalid format specifier '{}'", s));
  if (sp.zero) {
    if (!sp.fill_given) sp.fill = '0';
    if (!sp.align) sp.align = '=';
  }
  return sp;
}

Result<std::string> format_value(const Value& v, char conversion, const FormatSpec& sp) {
  if (conversion == 'r') return format_string(v.repr(), sp);
  if (conversion == 'a') return format_string(ascii_escape(v.repr()), sp);
  if (conversion == 's') return format_string(v.str(), sp);
  if (sp.empty()) return v.str();
  switch (v.kind()) {
    case Value::Kind::String: {
      FormatSpec s2 = sp;
      if (s2.zero && s2.align == '=' && !(sp.align && !sp.zero)) s2.align = '<';
      return format_string(v.text(), s2);
    }
    case Value::Kind::Bool:
    case Value::Kind::Int:
    case Value::Kind::BigInt: return format_int(v, sp);
    case Value::Kind::Float: return format_float(v.as_float(), sp, "float");
    case Value::Kind::Null:
      return spec_error("unsupported format string passed to NoneType.__format__");
    case Value::Kind::List: return spec_error("unsupported format string passed to list.__format__");
  }
  return spec_error("unsupported value");
}

Result<std::string> format_field(const Field& f, const Value& v0) {
  const Value* v = &v0;
  for (long idx : f.index) {
    if (v->kind() != Value::Kind::List)
      return make_error(fmt::format("'{}' object is not subscriptable in {{{}}}", v->type_name(), f.name),
                        "index only list values, e.g. {v[0]} with v: [[1, 2], [3, 4]]");
    long n = static_cast<long>(v->items().size());
    long k = idx < 0 ? idx + n : idx;
    if (k < 0 || k >= n)
      return make_error(fmt::format("list index {} out of range in {{{}}} (value {})", idx, f.name, v->str()));
    v = &v->items()[static_cast<size_t>(k)];
  }
  if (f.simple()) return v->str();
  return format_value(*v, f.conversion, f.spec);
}

Result<Template> Template::parse(std::string_view text) {
  Template t;
  t.text_ = std::string(text);
  std::string lit;
  size_t i = 0, n = text.size();
  auto fail = [&](size_t at, std::string what, std::string hint) {
    Error e = make_error(std::move(what), std::move(hint));
    e.col = static_cast<int>(at);  // byte offset; callers convert to a position
    return e;
  };
  while (i < n) {
    char c = text[i];
    if (c == '}') {
      if (i + 1 < n && text[i + 1] == '}') {
        lit += '}';
        i += 2;
        continue;
      }
      return fail(i, "single '}' in command template",
                  "write '}}' for a literal brace, e.g. awk '{{print $1}}'");
    }
    if (c != '{') {
      lit += c;
      ++i;
      continue;
    }
    if (i + 1 < n && text[i + 1] == '{') {
      lit += '{';
      i += 2;
      continue;
    }
    // A replacement field: find its closing brace, counting nested braces.
    size_t start = i;
    int depth = 1;
    size_t j = i + 1;
    bool in_bracket = false;
    for (; j < n; ++j) {
      if (text[j] == '[' ) in_bracket = true;
      else if (text[j] == ']') in_bracket = false;
      else if (!in_bracket && text[j] == '{') ++depth;
      else if (!in_bracket && text[j] == '}' && --depth == 0) break;
    }
    if (j >= n)
      return fail(start, "unbalanced '{' in command template: no closing '}'",
                  "close the placeholder, e.g. {name}, or write '{{' for a literal brace");
    std::string_view body = text.substr(i + 1, j - i - 1);
    Field f;
    f.offset = start;
    // name part ends at '!' or ':' outside brackets
    size_t k = 0;
    bool br = false;
    for (; k < body.size(); ++k) {
      if (body[k] == '[') br = true;
      else if (body[k] == ']') br = false;
      else if (!br && (body[k] == '!' || body[k] == ':')) break;
    }
    std::string_view name_part = body.substr(0, k);
    size_t dot = name_part.find_first_of(".[");
    f.name = std::string(name_part.substr(0, dot));
    if (f.name.empty())
      return fail(start, fmt::format("empty placeholder '{{{}}}': every placeholder must name a variable", body),
                  "write the variable's name inside the braces, e.g. {lr}; '{{}}' gives a literal '{}'");
    if (std::all_of(f.name.begin(), f.name.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return fail(start, fmt::format("positional placeholder '{{{}}}': placeholders name variables", body),
                  "use a variable name, e.g. {seed}");
    if (dot != std::string_view::npos) {
      std::string_view rest = name_part.substr(dot);
      while (!rest.empty()) {
        if (rest[0] == '.')
          return fail(start, fmt::format("attribute access '{{{}}}' is not supported", body),
                      "variables are plain values; use {name} or an index {name[0]}");
        size_t close = rest.find(']');
        if (rest[0] != '[' || close == std::string_view::npos)
          return fail(start, fmt::format("bad index in placeholder '{{{}}}'", body), "write {name[0]}");
        std::string idx(rest.substr(1, close - 1));
        char* endp = nullptr;
        long v = std::strtol(idx.c_str(), &endp, 10);
        if (idx.empty() || *endp != '\0')
          return fail(start, fmt::format("index '{}' in '{{{}}}' is not an integer", idx, body),
                      "list values are indexed by number, e.g. {v[0]}");
        f.index.push_back(v);
        rest = rest.substr(close + 1);
      }
    }
    std::string_view after = body.substr(k);
    if (!after.empty() && after[0] == '!') {
      if (after.size() < 2)
        return fail(start, "end of placeholder while expecting conversion specifier", "use !r, !s or !a");
      f.conversion = after[1];
      if (f.conversion != 'r' && f.conversion != 's' && f.conversion != 'a')
        return fail(start, fmt::format("unknown conversion specifier '{}' in '{{{}}}'", after[1], body),
                    "use !r, !s or !a");
      after = after.substr(2);
      if (!after.empty() && after[0] != ':')
        return fail(start, fmt::format("expected ':' after conversion specifier in '{{{}}}'", body),
                    "write e.g. {x!r:>10}");
    }
    Template nested;
    if (!after.empty()) {  // after[0] == ':'
      f.spec_text = std::string(after.substr(1));
      if (f.spec_text.find('{') != std::string::npos) {
        auto r = Template::parse(f.spec_text);
        if (!r) {
          Error e = r.error();
          e.col = static_cast<int>(start);
          return e;
        }
        nested = std::move(r.value());
        f.spec_nested = true;
      } else {
        auto r = parse_format_spec(f.spec_text);
        if (!r) {
          Error e = r.error();
          e.what = fmt::format("bad format spec in '{{{}}}': {}", body, e.what);
          e.col = static_cast<int>(start);
          return e;
        }
        f.spec = r.value();
      }
    }
    if (!lit.empty()) {
      t.pieces_.push_back({std::move(lit), -1});
      lit.clear();
    }
    t.pieces_.push_back({"", static_cast<int>(t.fields_.size())});
    t.fields_.push_back(std::move(f));
    t.nested_specs_.push_back(std::move(nested));
    i = j + 1;
  }
  if (!lit.empty()) t.pieces_.push_back({std::move(lit), -1});
  return t;
}

void Template::for_each_field(const std::function<void(Field&)>& fn) {
  for (size_t k = 0; k < fields_.size(); ++k) {
    fn(fields_[k]);
    nested_specs_[k].for_each_field(fn);
  }
}

void Template::for_each_field(const std::function<void(const Field&)>& fn) const {
  for (size_t k = 0; k < fields_.size(); ++k) {
    fn(fields_[k]);
    nested_specs_[k].for_each_field(fn);
  }
}

Result<void> Template::render(const std::vector<const Value*>& values, std::string& out,
                              util::PointerMemo* memo) const {
  for (const auto& p : pieces_) {
    if (p.field < 0) {
      out += p.literal;
      continue;
    }
    const Field& f = fields_[static_cast<size_t>(p.field)];
    const Value* v = (f.slot >= 0 && static_cast<size_t>(f.slot) < values.size()) ? values[static_cast<size_t>(f.slot)] : nullptr;
    if (v == nullptr)
      return make_error(fmt::format("placeholder {{{}}} has no value", f.name),
                        fmt::format("define '{}' under variables:", f.name));
    if (f.simple()) {
      out += v->str();
      continue;
    }
    if (f.spec_nested) {
      const Template& nested = nested_specs_[static_cast<size_t>(p.field)];
      std::string spec_text;
      XRUN_TRY(nested.render(values, spec_text, memo));
      auto sp = parse_format_spec(spec_text);
      if (!sp) return sp.error();
      Field g = f;
      g.spec_nested = false;
      g.spec = sp.value();
      auto r = format_field(g, *v);
      if (!r) return r.error();
      out += r.value();
      continue;
    }
    if (memo) {
      if (const std::string* hit = memo->find(&f, v)) {
        out += *hit;
        continue;
      }
    }
    auto r = format_field(f, *v);
    if (!r) return r.error();
    out += memo ? memo->put(&f, v, std::move(r.value())) : r.value();
  }
  return {};
}

}  // namespace xrun::spec
