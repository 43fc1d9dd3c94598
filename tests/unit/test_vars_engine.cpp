#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "xrun/vars/engine.hpp"

using namespace xrun;

namespace {
// Every combination as "a=1 b=x" strings (unset slots omitted).
std::vector<std::string> expand(const std::string& yaml, const vars::Overrides& ov = {}) {
  auto s = vars::Sweep::compile(YAML::Load(yaml), "t.yml", ov);
  REQUIRE(s.ok());
  std::vector<std::string> out;
  s->reset();
  while (s->next()) {
    std::string row;
    for (size_t i = 0; i < s->slot_count(); ++i) {
      const auto* v = s->current()[i];
      if (!v || s->variables()[i].hidden) continue;
      if (!row.empty()) row += ' ';
      row += s->variables()[i].name + "=" + v->str();
    }
    out.push_back(row);
  }
  CHECK(out.size() == s->combinations());
  return out;
}
xrun::Error fail(const std::string& yaml) {
  auto s = vars::Sweep::compile(YAML::Load(yaml), "t.yml");
  REQUIRE_FALSE(s.ok());
  return s.error();
}
using V = std::vector<std::string>;
}  // namespace

TEST_CASE("plain keys are a product, first key slowest", "[vars]") {
  CHECK(expand("a: [1, 2]\nb: [x, y]") == V{"a=1 b=x", "a=1 b=y", "a=2 b=x", "a=2 b=y"});
  CHECK(expand("a: 5") == V{"a=5"});
  CHECK(expand("{}").size() == 1);
}

TEST_CASE("zip stops at the shortest and warns", "[vars]") {
  auto s = vars::Sweep::compile(YAML::Load("zip:\n  a: [1, 2, 3]\n  b: [x, y]"), "t.yml");
  REQUIRE(s.ok());
  CHECK(s->combinations() == 2);
  REQUIRE(s->warnings().size() == 1);
  CHECK(s->warnings()[0].what.find("shortest") != std::string::npos);
  CHECK(expand("zip:\n  - a: [1, 2]\n    b: [3, 4]\n  - c: [5, 6]\n") ==
        V{"a=1 b=3 c=5", "a=1 b=3 c=6", "a=2 b=4 c=5", "a=2 b=4 c=6"});
}

TEST_CASE("chain runs branches one after another - a list under variables is a chain", "[vars]") {
  CHECK(expand("chain:\n  - p: 1\n    t: [a, b]\n  - p: 2\n    t: c\n") == V{"p=1 t=a", "p=1 t=b", "p=2 t=c"});
  CHECK(expand("- a: 1\n- a: 2\n") == V{"a=1", "a=2"});
  CHECK(expand("append:\n  - a: 1\n  - b: 2\n") == V{"a=1", "b=2"});
  // Restarting a chain inside a product must not leak the previous branch's variables.
  CHECK(expand("x: [1, 2]\nchain:\n  - a: 1\n  - b: 2\n") == V{"x=1 a=1", "x=1 b=2", "x=2 a=1", "x=2 b=2"});
}

TEST_CASE("cycle repeats - nesting is free", "[vars]") {
  CHECK(expand("cycle:\n  times: 2\n  s: [1, 2]\n") == V{"s=1", "s=2", "s=1", "s=2"});
  CHECK(expand("repeat:\n  times: 1\n  s: 1\n") == V{"s=1"});
  CHECK(expand("zip:\n  v:\n    arange: 4\n  cycle:\n    times: 3\n    w: [e, o]\n") ==
        V{"v=0 w=e", "v=1 w=o", "v=2 w=e", "v=3 w=o"});
  CHECK(expand("product:\n  zip:\n    a: [1, 2]\n    b: [3, 4]\n  c: [5]\n") == V{"a=1 b=3 c=5", "a=2 b=4 c=5"});
}

TEST_CASE("arange follows numpy", "[vars]") {
  CHECK(expand("x:\n  arange: 3") == V{"x=0", "x=1", "x=2"});
  CHECK(expand("x:\n  arange: {start: 100, stop: 110, step: 2.5, dtype: float}") ==
        V{"x=100.0", "x=102.5", "x=105.0", "x=107.5"});
  CHECK(expand("x:\n  arange: {start: 5, stop: 0, step: -2}") == V{"x=5", "x=3", "x=1"});
  CHECK(expand("x:\n  arange: {stop: 1, step: 0.25}") == V{"x=0.0", "x=0.25", "x=0.5", "x=0.75"});
  CHECK(expand("x:\n  arange: 2.0") == V{"x=0.0", "x=1.0"});
  CHECK(expand("x:\n  arange: {stop: 5, step: 1.5, dtype: int}") == V{"x=0", "x=1", "x=2", "x=3"});
  CHECK(expand("x:\n  arange: {start: 0, stop: 10, step: 3}") == V{"x=0", "x=3", "x=6", "x=9"});
}

TEST_CASE("overrides from --set replace or add values", "[vars]") {
  auto o = vars::parse_override("a=[7, 8]");
  REQUIRE(o.ok());
  CHECK(expand("a: [1, 2]\nb: x\n", {o.value()}) == V{"a=7 b=x", "a=8 b=x"});
  auto n = vars::parse_override("c=z");
  REQUIRE(n.ok());
  CHECK(expand("a: 1\n", {n.value()}) == V{"a=1 c=z"});
  CHECK_FALSE(vars::parse_override("novalue").ok());
  CHECK_FALSE(vars::parse_override("=3").ok());
}

TEST_CASE("bad iterators are located errors", "[vars]") {
  CHECK(fail("product:\n  - a: 1\n").what.find("mapping") != std::string::npos);
  CHECK(fail("cycle:\n  s: [1]\n").what.find("times") != std::string::npos);
  CHECK(fail("cycle:\n  times: -1\n  s: [1]\n").what.find("at least 1") != std::string::npos);
  CHECK(fail("x:\n  arange: {start: 1}\n").what.find("stop") != std::string::npos);
  CHECK(fail("x:\n  arange: {stop: 3, step: 0}\n").what.find("0") != std::string::npos);
  CHECK(fail("x:\n  arange: {stop: 3, stpe: 1}\n").hint.find("step") != std::string::npos);
  CHECK(fail("x:\n  arange: {start: 5, stop: 1}\n").what.find("no values") != std::string::npos);
  CHECK(fail("x: []\n").what.find("empty") != std::string::npos);
  CHECK(fail("chain: {a: 1}\n").what.find("list") != std::string::npos);
  CHECK(fail("x:\n  arange: 1e400\n").what.size() > 0);
  auto e = fail("a: 1\nb:\n  arange: {stop: 0}\n");
  CHECK(e.line == 3);
}

TEST_CASE("a list inside a variable's list is flattened, as experi does", "[vars]") {
  CHECK(expand("t: [[1, 2], [3, [4]]]") == V{"t=1", "t=2", "t=3", "t=4"});
  CHECK(expand("low: &low [1, 2]\nt: [*low, 5]").back() == "low=2 t=5");
}

TEST_CASE("mappings under a variable expand in its place, as experi's variable_matrix does", "[vars]") {
  auto s = vars::Sweep::compile(YAML::Load("x:\n  - {a: 1, b: 2}\n  - {a: 3, b: [4, 5]}\n  - 9\n"), "t.yml");
  REQUIRE(s.ok());
  CHECK(expand("x:\n  - {a: 1, b: 2}\n  - {a: 3, b: [4, 5]}\n  - 9\n") ==
        V{"a=1 b=2", "a=3 b=4", "a=3 b=5", "x=9"});
  REQUIRE(s->warnings().size() == 2);
  CHECK(s->warnings()[0].what.find("'a', 'b' become variables of their own") != std::string::npos);
  // `arange` under a mapping assigns the parent variable, even inside cycle.
  CHECK(expand("x:\n  cycle: {times: 2, arange: 2}\n") == V{"x=0", "x=1", "x=0", "x=1"});
  CHECK(expand("x:\n  foo: [1, 2]\n") == V{"foo=1", "foo=2"});
  auto w = vars::Sweep::compile(YAML::Load("x:\n  arnge: 3\n"), "t.yml");
  REQUIRE(w.ok());
  CHECK(w->warnings()[0].what.find("did you mean 'arange'?") != std::string::npos);
}

TEST_CASE("a variable defined twice in one combination takes experi's value, with a warning", "[vars]") {
  // experi merges with ChainMap: special keys (zip, product, arange, chain, append, cycle,
  // repeat) come first, then plain keys in document order; the first one wins.
  CHECK(expand("a: [1, 9]\nzip:\n  a: [2, 3]\n  b: [4, 5]\n") == V{"a=2 b=4", "a=3 b=5", "a=2 b=4", "a=3 b=5"});
  CHECK(expand("zip:\n  b: [4]\n  a: [2]\na: 1\n") == V{"b=4 a=2"});
  CHECK(expand("a: 1\nc: [7]\nproduct:\n  a: 2\n") == V{"a=2 c=7"});
  CHECK(expand("b: 5\na: 1\nx: 2\na: 3\n").size() == 1);  // duplicate key: the loader's job
  auto s = vars::Sweep::compile(YAML::Load("a: [1]\nzip:\n  a: [2]\n  b: [3]\n"), "t.yml");
  REQUIRE(s.ok());
  REQUIRE(s->warnings().size() == 1);
  CHECK(s->warnings()[0].what ==
        "variable 'a' is defined twice in the same combination (line 1 and 'zip' at line 2): the value from 'zip' at "
        "line 2 is used, as experi does");
  CHECK(s->warnings()[0].loc.line == 1);
  // Two zips of a product of zips: the first defines it.
  CHECK(expand("zip:\n  - {a: [1], b: [2]}\n  - {a: [3], c: [4]}\n") == V{"a=1 b=2 c=4"});
}

TEST_CASE("combination counts saturate instead of overflowing", "[vars]") {
  auto s = vars::Sweep::compile(YAML::Load("a:\n  arange: 1000000000000\nb:\n  arange: 1000000000000\n"), "t.yml");
  REQUIRE(s.ok());
  CHECK(s->combinations() == UINT64_MAX);
}
