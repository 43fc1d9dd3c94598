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
  // numpy: arange(0, 0.0001, 0.00001) starts 0.0, 1e-05, 2e-05 (small floats pass through exactly).
  auto small = values_of("x:\n  range: 0:0.0001:0.00001");
  REQUIRE(small.size() == 10);
  CHECK(V(small.begin(), small.begin() + 3) == V{"0.0", "1e-05", "2e-05"});
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

namespace {
std::vector<std::string> rows_of(const std::string& yaml) {
  auto s = vars::Sweep::compile(YAML::Load(yaml), "t.yml");
  INFO(yaml);
  REQUIRE(s.ok());
  std::vector<std::string> out;
  s->reset();
  while (s->next()) {
    std::string row;
    for (size_t i = 0; i < s->slot_count(); ++i)
      if (s->current()[i]) row += (row.empty() ? "" : " ") + s->variables()[i].name + "=" + s->current()[i]->str();
    out.push_back(row);
  }
  return out;
}
}  // namespace

TEST_CASE("sample: seeded random search, the same tasks on every machine", "[vars][sample]") {
  const std::string y = "sample:\n  n: 4\n  seed: 42\n  lr: {loguniform: [1.0e-4, 0.1]}\n  drop: {quniform: 0:0.5:0.1}\n"
                        "  opt: {choice: [adam, sgd]}\n  bs: {pvalues: [[32, 0.25], [64, 0.75]]}\n"
                        "  w: {normal: [0, 1]}\n  m: {qlognormal: [0, 1, 0.5]}\n";
  auto a = rows_of(y);
  REQUIRE(a.size() == 4);
  CHECK(rows_of(y) == a);  // reproducible
  // Pinned against an independent SplitMix64 (Python): the uniforms of seed 7.
  auto pinned = rows_of("sample:\n  n: 3\n  seed: 7\n  u: {uniform: [0, 1]}\n");
  CHECK(pinned == std::vector<std::string>{"u=0.3898297483912715", "u=0.01678829452815611", "u=0.9007606806068834"});
  for (const auto& row : a) {
    CHECK((row.find("opt=adam") != std::string::npos || row.find("opt=sgd") != std::string::npos));
    CHECK((row.find("bs=32") != std::string::npos || row.find("bs=64") != std::string::npos));
  }
  // Composes like any iterator: a product with a list of datasets.
  CHECK(rows_of("data: [a, b]\nsample:\n  n: 3\n  seed: 1\n  x: {uniform: [0, 1]}\n").size() == 6);
  auto other = rows_of("sample:\n  n: 3\n  seed: 8\n  u: {uniform: [0, 1]}\n");
  CHECK(other != pinned);
}

TEST_CASE("sample without a seed draws one and says so", "[vars][sample]") {
  auto s = vars::Sweep::compile(YAML::Load("sample:\n  n: 2\n  u: {uniform: [0, 1]}\n"), "t.yml");
  REQUIRE(s.ok());
  REQUIRE(s->drawn_seeds().size() == 1);
  bool said = false;
  for (const auto& w : s->warnings()) said = said || w.what.find("drew seed") != std::string::npos;
  CHECK(said);
}

TEST_CASE("sample: bad distributions are located errors with a hint", "[vars][sample]") {
  CHECK(fail("sample:\n  n: 2\n  x: {unifrom: [0, 1]}").hint.find("did you mean 'uniform'") != std::string::npos);
  CHECK(fail("sample:\n  seed: 1\n  x: {uniform: [0, 1]}").what.find("no 'n'") != std::string::npos);
  CHECK(fail("sample:\n  n: 2\n  x: {loguniform: [0, 1]}").what.find("above 0") != std::string::npos);
  CHECK(fail("sample:\n  n: 2\n  x: {pvalues: [[a, 0.5], [b, 0.4]]}").what.find("sum to") != std::string::npos);
  CHECK(fail("sample:\n  n: 2\n  x: {uniform: [1, 0]}").what.find("low must be below high") != std::string::npos);
  CHECK(fail("sample:\n  n: 2\n  x: {normal: [0]}").what.find("takes loc, scale") != std::string::npos);
  CHECK(fail("sample:\n  n: 2\n  x: {normal: [0, 1]}\n  y: 3").line == 4);
  CHECK(fail("sample:\n  n: 2\n  x: {choice: [[32, 64], 128]}").what.find("single values") != std::string::npos);
}
