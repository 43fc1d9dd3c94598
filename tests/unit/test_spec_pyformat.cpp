#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "xrun/spec/pyformat.hpp"

using namespace xrun::spec;

namespace {
std::string fmt1(const Value& v, const std::string& spec) {
  auto sp = parse_format_spec(spec);
  REQUIRE(sp.ok());
  auto r = format_value(v, 0, sp.value());
  REQUIRE(r.ok());
  return r.value();
}
std::string err1(const Value& v, const std::string& spec) {
  auto sp = parse_format_spec(spec);
  if (!sp) return sp.error().what;
  auto r = format_value(v, 0, sp.value());
  return r ? std::string("no error") : r.error().what;
}
}  // namespace

TEST_CASE("format specs follow Python's mini-language", "[spec][pyformat]") {
  CHECK(fmt1(Value::floating(0.3), ".2f") == "0.30");
  CHECK(fmt1(Value::integer(7), "04d") == "0007");
  CHECK(fmt1(Value::integer(-7), "04d") == "-007");
  CHECK(fmt1(Value::string("ab"), ">6") == "    ab");
  CHECK(fmt1(Value::string("ab"), "*^6") == "**ab**");
  CHECK(fmt1(Value::string("abcdef"), ".3") == "abc");
  CHECK(fmt1(Value::floating(12345.678), ".1e") == "1.2e+04");
  CHECK(fmt1(Value::integer(1234567), ",") == "1,234,567");
  CHECK(fmt1(Value::integer(1234567), "_") == "1_234_567");
  CHECK(fmt1(Value::floating(1234.5), ",.2f") == "1,234.50");
  CHECK(fmt1(Value::integer(255), "#x") == "0xff");
  CHECK(fmt1(Value::integer(255), "08b") == "11111111");
  CHECK(fmt1(Value::integer(5), "+d") == "+5");
  CHECK(fmt1(Value::integer(3), ".2f") == "3.00");
  CHECK(fmt1(Value::floating(0.25), ".1%") == "25.0%");
  CHECK(fmt1(Value::floating(1.0), ".3") == "1.0");
  CHECK(fmt1(Value::floating(1234.0), ".3") == "1.23e+03");
  CHECK(fmt1(Value::floating(2.5), "g") == "2.5");
  CHECK(fmt1(Value::floating(2.5), "") == "2.5");
  CHECK(fmt1(Value::floating(-2.5), "=+8.2f") == "-   2.50");
  CHECK(fmt1(Value::boolean(true), "d") == "1");
  CHECK(fmt1(Value::boolean(true), "") == "True");
  CHECK(fmt1(Value::integer(65), "c") == "A");
  CHECK(fmt1(Value::integer(42), "<5") == "42   ");
  CHECK(fmt1(Value::floating(3.14159), "10.3f") == "     3.142");
}

TEST_CASE("format specs that do not fit the value are errors", "[spec][pyformat]") {
  CHECK(err1(Value::string("abc"), ".2f") == "Unknown format code 'f' for object of type 'str'");
  CHECK(err1(Value::floating(1.5), "d") == "Unknown format code 'd' for object of type 'float'");
  CHECK(err1(Value::integer(1), ".2d") == "Precision not allowed in integer format specifier");
  CHECK(err1(Value::string("a"), "+") == "Sign not allowed in string format specifier");
  CHECK(err1(Value::integer(1), ".") == "Format specifier missing precision");
  CHECK(err1(Value::integer(1), "xx") != "no error");
  CHECK(err1(Value::null(), ">3") != "no error");
  CHECK(err1(Value::integer(1), "999999999") != "no error");
}

TEST_CASE("templates parse like str.format", "[spec][pyformat]") {
  auto t = Template::parse("a {x} {{lit}} {y:>4} {z!r} {v[1]}");
  REQUIRE(t.ok());
  REQUIRE(t->fields().size() == 4);
  CHECK(t->fields()[0].name == "x");
  CHECK(t->fields()[1].spec.width == 4);
  CHECK(t->fields()[2].conversion == 'r');
  CHECK(t->fields()[3].index == std::vector<long>{1});

  for (const char* bad : {"{x", "x}", "{}", "{0}", "{x!q}", "{x.attr}", "{x[a]}", "{x!r x}"}) {
    INFO(bad);
    CHECK_FALSE(Template::parse(bad).ok());
  }
}

TEST_CASE("templates render bound values, nested specs included", "[spec][pyformat]") {
  auto t = Template::parse("{a:{w}} {b} {{}} {c!r} {l[0]}");
  REQUIRE(t.ok());
  t->for_each_field([](Field& f) { f.slot = f.name == "a" ? 0 : f.name == "w" ? 1 : f.name == "b" ? 2 : f.name == "c" ? 3 : 4; });
  Value a = Value::integer(7), w = Value::integer(3), b = Value::floating(0.5), c = Value::string("s"),
        l = Value::list({Value::string("first")});
  std::vector<const Value*> vals{&a, &w, &b, &c, &l};
  std::string out;
  REQUIRE(t->render(vals, out).ok());
  CHECK(out == "  7 0.5 {} 's' first");
  vals[2] = nullptr;
  std::string out2;
  CHECK_FALSE(t->render(vals, out2).ok());
}

namespace {
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char c = s[++i];
      out += c == 't' ? '\t' : c == 'n' ? '\n' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

Value table_value(const std::string& kind, const std::string& text) {
  if (kind == "int") return Value::integer(std::stoll(text));
  if (kind == "bigint") return Value::big_integer(text);
  if (kind == "float") {
    if (text == "inf") return Value::floating(HUGE_VAL);
    if (text == "-inf") return Value::floating(-HUGE_VAL);
    if (text == "nan") return Value::floating(std::nan(""));
    return Value::floating(std::strtod(text.c_str(), nullptr));
  }
  if (kind == "bool") return Value::boolean(text == "True");
  if (kind == "str") return Value::string(unescape(text));
  return Value::null();
}
}  // namespace

// tests/unit/data/pyformat_table.tsv is Python's own output (tests/tools/gen_pyformat_table.py).
TEST_CASE("every value x spec of the table renders as Python renders it", "[spec][pyformat]") {
  std::ifstream in(std::string(XRUN_SOURCE_DIR) + "/tests/unit/data/pyformat_table.tsv");
  REQUIRE(in.good());
  std::string line;
  size_t rows = 0, bad = 0;
  std::string report;
  while (std::getline(in, line)) {
    auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1), t3 = line.find('\t', t2 + 1);
    REQUIRE(t3 != std::string::npos);
    std::string kind = line.substr(0, t1), text = line.substr(t1 + 1, t2 - t1 - 1);
    std::string field = line.substr(t2 + 1, t3 - t2 - 1), want = line.substr(t3 + 1);
    ++rows;
    Value v = table_value(kind, text);
    std::string got;
    auto tpl = Template::parse("{x" + field + "}");
    if (!tpl) {
      got = "ERROR";
    } else {
      tpl->for_each_field([](Field& f) { f.slot = 0; });
      std::vector<const Value*> values{&v};
      got.clear();
      got = tpl->render(values, got) ? got : "ERROR";
    }
    std::string expect = want == "ERROR" ? want : unescape(want);
    if (got != expect) {
      ++bad;
      report += kind + " " + text + " {x" + field + "}: python '" + expect + "', xrun '" + got + "'\n";
    }
  }
  CHECK(rows > 2000);
  INFO(report);
  CHECK(bad == 0);
}
