// Value generators against numpy's values (tests/unit/data/generator_table.tsv, made by
// tests/tools/gen_generator_table.py), their compact forms, composition and bad input.
#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "support/support.hpp"
#include "xrun/util/text.hpp"
#include "xrun/vars/engine.hpp"

#include <fmt/format.h>

using namespace xrun;

namespace {
std::vector<std::string> values_of(const std::string& yaml) {
  auto s = vars::Sweep::compile(YAML::Load(yaml), "t.yml");
  INFO(yaml);
  REQUIRE(s.ok());
  std::vector<std::string> out;
  s->reset();
  while (s->next()) out.push_back(s->current()[0]->str());
  return out;
}
xrun::Error fail(const std::string& yaml) {
  auto s = vars::Sweep::compile(YAML::Load(yaml), "t.yml");
  INFO(yaml);
  REQUIRE_FALSE(s.ok());
  return s.error();
}
// Python's repr of an argument, as YAML 1.1 reads a float (a dot in the mantissa).
std::string yaml_number(std::string t) {
  auto e = t.find('e');
  if (e != std::string::npos && t.find('.') == std::string::npos) t.insert(e, ".0");
  return t;
}
using V = std::vector<std::string>;
}  // namespace

TEST_CASE("generators give numpy's values, digit for digit", "[vars][generators]") {
  auto table = test::read(test::source_dir() + "/tests/unit/data/generator_table.tsv");
  size_t rows = 0;
  for (const auto& line : util::split(table, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    auto f = util::split(line, '\t');
    REQUIRE(f.size() == 3);
    auto args = util::split(f[1], ' ');
    for (auto& a : args) a = yaml_number(a);
    std::string params = f[0] == "range" ? fmt::format("{{start: {}, stop: {}, step: {}}}", args[0], args[1], args[2])
                                         : fmt::format("{{start: {}, stop: {}, num: {}{}}}", args[0], args[1], args[2],
                                                       args.size() > 3 ? ", base: " + args[3] : "");
    CHECK(values_of("x:\n  " + f[0] + ": " + params) == util::split(f[2], ' '));
    ++rows;
  }
  CHECK(rows > 20);
}

TEST_CASE("generators: Polyaxon's compact forms, values, and composition with iterators", "[vars][generators]") {
  CHECK(values_of("x:\n  linspace: 0.01:0.1:5") == V{"0.01", "0.0325", "0.05500000000000001", "0.0775", "0.1"});
  CHECK(values_of("x:\n  range: 0:10:2") == V{"0", "2", "4", "6", "8"});
  CHECK(values_of("x:\n  logspace: 0:2:3") == V{"1.0", "10.0", "100.0"});
  CHECK(values_of("x:\n  logspace: 0:3:4:2") == V{"1.0", "2.0", "4.0", "8.0"});
  CHECK(values_of("x:\n  geomspace: 1:1000:4") == V{"1.0", "10.0", "100.0", "1000.0"});
  CHECK(values_of("x:\n  values: [a, b]") == V{"a", "b"});
  // Wherever values go: inside zip and product.
  auto s = vars::Sweep::compile(YAML::Load("zip:\n  a:\n    linspace: 0:1:3\n  b:\n    values: [x, y, z]\nc:\n  range: 0:2:1\n"),
                                "t.yml");
  REQUIRE(s.ok());
  CHECK(s->combinations() == 6);
}

TEST_CASE("generators: bad parameters are located errors with a hint", "[vars][generators]") {
  auto e = fail("x:\n  linspace: {start: 0, stop: 1, num: 0}");
  CHECK(e.what.find("num") != std::string::npos);
  CHECK(e.line == 2);
  CHECK(!e.hint.empty());
  CHECK(fail("x:\n  linspace: {start: 0, stop: 1}").what.find("has no 'num'") != std::string::npos);
  CHECK(fail("x:\n  linspace: {start: 0, stop: 1, nmu: 3}").hint.find("did you mean 'num'") != std::string::npos);
  CHECK(fail("x:\n  linspace: 0:1").what.find("is not start:stop:num") != std::string::npos);
  CHECK(fail("x:\n  linspace: 0:1:x").what.find("must be a number") != std::string::npos);
  CHECK(fail("x:\n  range: {start: 0, stop: 10, step: 0}").what.find("step") != std::string::npos);
  CHECK(fail("x:\n  range: 10:0:1").what.find("gives no values") != std::string::npos);
  CHECK(fail("x:\n  range: 10:0:1").line == 2);
  CHECK(fail("x:\n  geomspace: 0:10:3").what.find("zero") != std::string::npos);
  CHECK(fail("x:\n  geomspace: -1:10:3").what.find("signs differ") != std::string::npos);
  CHECK(fail("x:\n  logspace: {start: 0, stop: 1, num: 3, base: -2}").what.find("base") != std::string::npos);
  CHECK(fail("x:\n  values: 3").what.find("must be a list") != std::string::npos);
  CHECK(fail("x:\n  linspace: {start: 1e-3, stop: 1, num: 3}").hint.find("1.0e-3") != std::string::npos);
}
