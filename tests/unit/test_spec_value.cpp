#include <catch2/catch.hpp>

#include "xrun/spec/value.hpp"

using xrun::spec::resolve_plain_scalar;
using xrun::spec::Value;
using K = Value::Kind;

TEST_CASE("plain scalars are typed as PyYAML types them (YAML 1.1)", "[spec][value]") {
  struct Case {
    const char* text;
    K kind;
    const char* str;
  };
  const Case cases[] = {
      {"1", K::Int, "1"},           {"-7", K::Int, "-7"},         {"+5", K::Int, "5"},
      {"10_000", K::Int, "10000"},  {"0x1F", K::Int, "31"},       {"017", K::Int, "15"},
      {"0b101", K::Int, "5"},       {"1:30", K::Int, "90"},       {"0", K::Int, "0"},
      {"1.0", K::Float, "1.0"},     {"0.30", K::Float, "0.3"},    {".5", K::Float, "0.5"},
      {"1.", K::Float, "1.0"},      {"1.0e+3", K::Float, "1000.0"}, {"6.02e+23", K::Float, "6.02e+23"},
      {"1e-3", K::String, "1e-3"},  {"1e5", K::String, "1e5"},    {".inf", K::Float, "inf"},
      {"-.inf", K::Float, "-inf"},  {".nan", K::Float, "nan"},    {"1:30.5", K::Float, "90.5"},
      {"yes", K::Bool, "True"},     {"No", K::Bool, "False"},     {"on", K::Bool, "True"},
      {"OFF", K::Bool, "False"},    {"true", K::Bool, "True"},    {"~", K::Null, "None"},
      {"null", K::Null, "None"},    {"", K::Null, "None"},        {"08", K::String, "08"},
      {"abc", K::String, "abc"},    {"1_0.5", K::Float, "10.5"},  {"y", K::String, "y"},
  };
  for (const auto& c : cases) {
    INFO("scalar: '" << c.text << "'");
    Value v = resolve_plain_scalar(c.text);
    CHECK(v.kind() == c.kind);
    CHECK(v.str() == c.str);
  }
}

TEST_CASE("integers beyond 64 bits stay exact", "[spec][value]") {
  Value v = resolve_plain_scalar("123456789012345678901234567890");
  CHECK(v.kind() == K::BigInt);
  CHECK(v.str() == "123456789012345678901234567890");
  CHECK(resolve_plain_scalar("0xFFFFFFFFFFFFFFFFFF").str() == "4722366482869645213695");
  CHECK(resolve_plain_scalar("-9223372036854775808").kind() == K::Int);
}

TEST_CASE("floats render like Python's repr", "[spec][value]") {
  using xrun::spec::py_float_repr;
  CHECK(py_float_repr(100.0) == "100.0");
  CHECK(py_float_repr(102.5) == "102.5");
  CHECK(py_float_repr(0.1 + 0.2) == "0.30000000000000004");
  CHECK(py_float_repr(1e-5) == "1e-05");
  CHECK(py_float_repr(0.0001) == "0.0001");
  CHECK(py_float_repr(1e16) == "1e+16");
  CHECK(py_float_repr(1234567890123456.0) == "1234567890123456.0");
  CHECK(py_float_repr(-0.0) == "-0.0");
  CHECK(py_float_repr(1.5e300) == "1.5e+300");
  CHECK(py_float_repr(-2.5) == "-2.5");
}

TEST_CASE("lists render like Python lists, strings quoted as repr", "[spec][value]") {
  Value v = Value::list({Value::integer(1), Value::string("a"), Value::string("it's"), Value::boolean(false)});
  CHECK(v.str() == "[1, 'a', \"it's\", False]");
  CHECK(Value::string("x").repr() == "'x'");
}

TEST_CASE("values keep their type in JSON", "[spec][value]") {
  CHECK(Value::integer(3).to_json().is_number_integer());
  CHECK(Value::floating(0.5).to_json().is_number_float());
  CHECK(Value::boolean(true).to_json().is_boolean());
  CHECK(Value::string("a").to_json().is_string());
  CHECK(Value::null().to_json().is_null());
  CHECK(Value::floating(1.0 / 0.0).to_json() == "inf");
}
