#include "xrun/spec/value.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <regex>

#include <fmt/format.h>

namespace xrun::spec {

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  v.i_ = b ? 1 : 0;
  v.cache();
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  v.f_ = static_cast<double>(i);
  v.cache();
  return v;
}
Value Value::big_integer(std::string digits) {
  Value v;
  v.kind_ = Kind::BigInt;
  v.s_ = std::move(digits);
  v.f_ = std::strtod(v.s_.c_str(), nullptr);
  v.cache();
  return v;
}
Value Value::floating(double d) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = d;
  v.cache();
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.s_ = std::move(s);
  v.cache();
  return v;
}
Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::List;
  v.list_ = std::make_shared<const std::vector<Value>>(std::move(items));
  v.cache();
  return v;
}

void Value::cache() {
  switch (kind_) {
    case Kind::Null: str_ = "None"; break;
    case Kind::Bool: str_ = b_ ? "True" : "False"; break;
    case Kind::Int: str_ = fmt::format_int(i_).str(); break;
    case Kind::BigInt: str_ = s_; break;
    case Kind::Float: str_ = py_float_repr(f_); break;
    case Kind::String: str_ = s_; break;
    case Kind::List: {
      str_ = "[";
      for (size_t k = 0; k < list_->size(); ++k) {
        if (k) str_ += ", ";
        str_ += (*list_)[k].repr();
      }
      str_ += "]";
      break;
    }
  }
}

std::string Value::repr() const { return kind_ == Kind::String ? py_str_repr(s_) : str_; }

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::Null: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int:
    case Kind::BigInt: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return "list";
  }
  return "?";
}

nlohmann::ordered_json Value::to_json() const {
  switch (kind_) {
    case Kind::Null: return nullptr;
    case Kind::Bool: return b_;
    case Kind::Int: return i_;
    case Kind::BigInt: return s_;  // beyond 64 bits: kept exact as its decimal text
    case Kind::Float:
      if (std::isfinite(f_)) return f_;
      return str_;  // JSON has no inf/nan
    case Kind::String: return s_;
    case Kind::List: {
      auto a = nlohmann::ordered_json::array();
      for (const auto& x : *list_) a.push_back(x.to_json());
      return a;
    }
  }
  return nullptr;
}

bool Value::operator==(const Value& o) const { return kind_ == o.kind_ && str_ == o.str_; }

std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's layout: fixed for 1e-4 <= |d| < 1e16.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  int exp = std::atoi(sci.c_str() + epos + 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp >= -4 && exp < 16) {
    // Python uses fixed notation when -4 <= exp10 < 16 (repr of 1e-05 is '1e-05').
    if (exp >= 0) {
      if (static_cast<int>(digits.size()) <= exp + 1) {
        out = digits + std::string(static_cast<size_t>(exp + 1) - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, static_cast<size_t>(exp + 1)) + "." +
              digits.substr(static_cast<size_t>(exp + 1));
      }
    } else {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
    return neg ? "-" + out : out;
  }
  out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
  return neg ? "-" + out : out;
}

std::string py_str_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(q) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += q;
  return out;
}

namespace {

// Decimal digits of a non-negative integer written in `base`, of any size.
std::string to_decimal(const std::string& digits, int base) {
  std::vector<int> dec{0};  // little-endian base-10
  for (char c : digits) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : c - 'A' + 10;
    int carry = d;
    for (auto& x : dec) {
      int v = x * base + carry;
      x = v % 10;
      carry = v / 10;
    }
    while (carry) {
      dec.push_back(carry % 10);
      carry /= 10;
    }
  }
  std::string out;
  for (auto it = dec.rbegin(); it != dec.rend(); ++it) out += static_cast<char>('0' + *it);
  size_t nz = out.find_first_not_of('0');
  return nz == std::string::npos ? "0" : out.substr(nz);
}

Value make_int(bool neg, const std::string& digits, int base) {
  std::string dec = to_decimal(digits, base);
  int64_t v = 0;
  auto r = std::from_chars(dec.data(), dec.data() + dec.size(), v);
  if (r.ec == std::errc() && r.ptr == dec.data() + dec.size()) return Value::integer(neg ? -v : v);
  if (neg && dec == "9223372036854775808") return Value::integer(std::numeric_limits<int64_t>::min());
  return Value::big_integer(neg ? "-" + dec : dec);
}

std::string strip_underscores(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != '_') out += c;
  return out;
}

}  // namespace

Value resolve_plain_scalar(const std::string& text) {
  static const std::regex re_bool(
      "yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF");
  static const std::regex re_null("~|null|Null|NULL|");
  static const std::regex re_int(
      "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|"
      "[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+");
  static const std::regex re_float(
      "[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9_]+(?:[eE][-+][0-9]+)?|"
      "[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)");

  if (text.size() > 4096) return Value::string(text);  // no number is that long; skip the regexes
  if (std::regex_match(text, re_null)) return Value::null();
  if (std::regex_match(text, re_bool)) {
    char c = text[0];
    return Value::boolean(c == 'y' || c == 'Y' || c == 't' || c == 'T' || text == "on" ||
                          text == "On" || text == "ON");
  }
  if (std::regex_match(text, re_int)) {
    std::string s = strip_underscores(text);
    bool neg = false;
    if (s[0] == '-' || s[0] == '+') {
      neg = s[0] == '-';
      s.erase(0, 1);
    }
    if (s == "0") return Value::integer(0);
    if (s.rfind("0b", 0) == 0) return make_int(neg, s.substr(2), 2);
    if (s.rfind("0x", 0) == 0) return make_int(neg, s.substr(2), 16);
    if (s[0] == '0') return make_int(neg, s.substr(1), 8);
    if (s.find(':') != std::string::npos) {
      // sexagesimal: 1:30 = 90 (PyYAML); parts are small
      long double v = 0;
      for (const auto& part : [&] {
             std::vector<std::string> p;
             size_t st = 0, pos;
             while ((pos = s.find(':', st)) != std::string::npos) {
               p.push_back(s.substr(st, pos - st));
               st = pos + 1;
             }
             p.push_back(s.substr(st));
             return p;
           }())
        v = v * 60 + std::stold(part);
      if (v < 9.2e18L) return Value::integer(static_cast<int64_t>(neg ? -v : v));
      return Value::floating(static_cast<double>(neg ? -v : v));
    }
    return make_int(neg, s, 10);
  }
  if (std::regex_match(text, re_float)) {
    std::string s = strip_underscores(text);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s.find(".inf") != std::string::npos)
      return Value::floating(s[0] == '-' ? -std::numeric_limits<double>::infinity()
                                         : std::numeric_limits<double>::infinity());
    if (s.find(".nan") != std::string::npos)
      return Value::floating(std::numeric_limits<double>::quiet_NaN());
    if (s.find(':') != std::string::npos) {
      bool neg = s[0] == '-';
      if (s[0] == '-' || s[0] == '+') s.erase(0, 1);
      double v = 0;
      size_t st = 0, pos;
      while ((pos = s.find(':', st)) != std::string::npos) {
        v = v * 60 + std::strtod(s.substr(st, pos - st).c_str(), nullptr);
        st = pos + 1;
      }
      v = v * 60 + std::strtod(s.substr(st).c_str(), nullptr);
      return Value::floating(neg ? -v : v);
    }
    return Value::floating(std::strtod(s.c_str(), nullptr));
  }
  if (auto ts = timestamp_text(text)) return Value::string(*ts);
  return Value::string(text);
}

std::optional<std::string> timestamp_text(const std::string& text) {
  // PyYAML's implicit timestamp resolver, then str() of the date or datetime it constructs.
  static const std::regex re_date("([0-9]{4})-([0-9]{2})-([0-9]{2})");
  static const std::regex re_time(
      "([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\\.([0-9]*))?"
      "(?:[ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?");
  if (text.size() > 64) return std::nullopt;
  std::smatch m;
  auto valid_date = [](int y, int mo, int d) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[mo - 1] + (mo == 2 && leap ? 1 : 0);
  };
  if (std::regex_match(text, m, re_date)) {
    int y = std::stoi(m[1]), mo = std::stoi(m[2]), d = std::stoi(m[3]);
    if (!valid_date(y, mo, d)) return std::nullopt;
    return fmt::format("{:04d}-{:02d}-{:02d}", y, mo, d);
  }
  if (!std::regex_match(text, m, re_time)) return std::nullopt;
  int y = std::stoi(m[1]), mo = std::stoi(m[2]), d = std::stoi(m[3]);
  int h = std::stoi(m[4]), mi = std::stoi(m[5]), s = std::stoi(m[6]);
  if (!valid_date(y, mo, d) || h > 23 || mi > 59 || s > 59) return std::nullopt;
  std::string out = fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}", y, mo, d, h, mi, s);
  std::string frac = m[7].matched ? m[7].str().substr(0, 6) : "";
  while (!frac.empty() && frac.size() < 6) frac += '0';
  if (!frac.empty() && frac != "000000") out += "." + frac;
  if (m[8].matched) {
    if (m[8] == "Z") {
      out += "+00:00";
    } else {
      int th = std::stoi(m[10]), tm = m[11].matched ? std::stoi(m[11]) : 0;
      if (th > 23) return std::nullopt;
      out += fmt::format("{}{:02d}:{:02d}", m[9].str(), th, tm);
    }
  }
  return out;
}

Value tagged_scalar(const std::string& tag, const std::string& text) {
  const std::string core = "tag:yaml.org,2002:";
  if (tag.rfind(core, 0) != 0) return Value::string(text);
  const std::string t = tag.substr(core.size());
  Value plain = resolve_plain_scalar(text);
  if (t == "float") {
    if (plain.kind() == Value::Kind::Float) return plain;
    if (plain.kind() == Value::Kind::Int) return Value::floating(static_cast<double>(plain.as_int()));
    if (plain.kind() == Value::Kind::BigInt) return Value::floating(std::strtod(plain.text().c_str(), nullptr));
    std::string s = strip_underscores(text);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0') return Value::floating(d);  // Python's float() ("1e3")
    return Value::string(text);
  }
  if (t == "int") {
    if (plain.kind() == Value::Kind::Int || plain.kind() == Value::Kind::BigInt) return plain;
    return Value::string(text);
  }
  if (t == "bool") return plain.kind() == Value::Kind::Bool ? plain : Value::string(text);
  if (t == "null") return Value::null();
  if (t == "timestamp") {
    if (auto ts = timestamp_text(text)) return Value::string(*ts);
  }
  return Value::string(text);
}

}  // namespace xrun::spec
