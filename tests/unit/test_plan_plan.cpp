#include <catch2/catch.hpp>

#include <sstream>

#include <fmt/format.h>

#include "support/support.hpp"
#include "xrun/plan/expander.hpp"
#include "xrun/plan/plan_cache.hpp"

using namespace xrun;

namespace {
Result<plan::Expander> ex(const std::string& yaml, uint64_t max = plan::kDefaultMaxCombinations) {
  auto s = spec::parse_spec(yaml, "/tmp/exp.yml");
  REQUIRE(s.ok());
  return plan::Expander::create(std::move(s.value()), {}, max);
}
std::vector<std::vector<std::string>> tasks(const std::string& yaml) {
  auto e = ex(yaml);
  REQUIRE(e.ok());
  auto p = e->materialize();
  REQUIRE(p.ok());
  std::vector<std::vector<std::string>> out;
  for (const auto& st : p->stages) {
    out.emplace_back();
    for (const auto& t : st.tasks) {
      std::string joined;
      for (const auto& c : t.commands) joined += (joined.empty() ? "" : " && ") + c;
      out.back().push_back(joined);
    }
  }
  return out;
}
using VV = std::vector<std::vector<std::string>>;
}  // namespace

TEST_CASE("tasks are unique per stage over their whole command list", "[plan]") {
  CHECK(tasks("jobs:\n  - command: echo a\n  - command: echo {x}\nvariables:\n  x: [1, 2, 1]\n") ==
        VV{{"echo a"}, {"echo 1", "echo 2"}});
  CHECK(tasks("command:\n  - echo {x}\n  - echo {y}\nvariables:\n  x: [1, 1]\n  y: [2, 3]\n") ==
        VV{{"echo 1 && echo 2", "echo 1 && echo 3"}});
}

TEST_CASE("creates and requires render and are placeholders of the command", "[plan]") {
  auto e = ex("command:\n  cmd: make {creates} from {requires}\n  creates: out-{x}.txt\n  requires: in-{x}.txt\nvariables:\n  x: [1]\n");
  REQUIRE(e.ok());
  auto p = e->materialize();
  REQUIRE(p.ok());
  const auto& t = p->stages[0].tasks[0];
  CHECK(t.commands[0] == "make out-1.txt from in-1.txt");
  CHECK(*t.creates == "out-1.txt");
  CHECK(*t.requires_ == "in-1.txt");
}

TEST_CASE("the plan JSON keeps variable types and only used variables", "[plan]") {
  auto e = ex("command: run {i} {f} {s} {b}\nvariables:\n  i: 1\n  f: 0.5\n  s: x\n  b: yes\n  unused: 3\n");
  REQUIRE(e.ok());
  std::ostringstream os;
  REQUIRE(e->write_json(os, "local").ok());
  auto j = nlohmann::json::parse(os.str());
  auto vars = j["stages"][0]["tasks"][0]["variables"];
  CHECK(vars["i"].is_number_integer());
  CHECK(vars["f"].is_number_float());
  CHECK(vars["s"].is_string());
  CHECK(vars["b"].is_boolean());
  CHECK_FALSE(vars.contains("unused"));
  CHECK(j["stages"][0]["tasks"][0]["creates"].is_null());
  CHECK(j["stages"][0]["on_failure"] == "stop");
}

TEST_CASE("placeholder errors are found before anything is expanded", "[plan]") {
  auto a = ex("command: echo {nope}\nvariables:\n  nop: 1\n");
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().what.find("{nope}") != std::string::npos);
  CHECK(a.error().hint.find("nop") != std::string::npos);
  CHECK(a.error().line == 1);
  CHECK(a.error().col == 15);  // the placeholder itself: "command: echo {nope}"

  auto q = ex("jobs:\n  - command:\n      - 'echo {x} {s:.2f}'\nvariables:\n  x: 1\n  s: abc\n");
  REQUIRE_FALSE(q.ok());
  CHECK(q.error().line == 3);
  CHECK(q.error().col == 19);  // inside the quoted scalar: quote at 9, "{s" at 19

  auto b = ex("command: echo {s:.2f}\nvariables:\n  s: [1.5, abc]\n");
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().what.find("'abc'") != std::string::npos);

  auto c = ex("command: echo {b}\nvariables:\n  chain:\n    - a: 1\n    - b: 2\n");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().what.find("every combination") != std::string::npos);

}

TEST_CASE("{creates} and {requires} without their keys render empty, with a warning (as in experi)", "[plan]") {
  auto d = ex("command: echo a{creates}b{requires}c\n");
  REQUIRE(d.ok());
  auto p = d->materialize();
  REQUIRE(p.ok());
  CHECK(p->stages[0].tasks[0].commands[0] == "echo abc");
  REQUIRE(d->warnings().size() == 2);
  CHECK(d->warnings()[0].what.find("{creates} renders empty") != std::string::npos);
  CHECK(d->warnings()[0].loc.col == 16);
}

TEST_CASE("sweeps over the limit are refused before expansion", "[plan]") {
  auto e = ex("command: echo {a} {b}\nvariables:\n  a:\n    arange: 100000\n  b:\n    arange: 100000\n");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().hint.find("--max-combinations") != std::string::npos);
  auto ok = ex("command: echo {a}\nvariables:\n  a:\n    arange: 20\n", 0);
  CHECK(ok.ok());
}

TEST_CASE("check counts duplicates and warns about unused variables and large sweeps", "[plan]") {
  auto e = ex("command: echo {a}\nvariables:\n  a: [1, 1, 2]\n  b: [x, y]\n");
  REQUIRE(e.ok());
  auto r = e->check();
  REQUIRE(r.ok());
  CHECK(r->stages[0].combinations == 6);
  CHECK(r->stages[0].tasks == 2);
  CHECK(r->stages[0].duplicates == 4);
  bool unused = false;
  for (const auto& w : r->warnings) unused |= w.what.find("'b' is not used") != std::string::npos;
  CHECK(unused);
  auto big = ex("command: echo {a}\nvariables:\n  a:\n    arange: 10001\n");
  REQUIRE(big.ok());
  auto rb = big->check();
  REQUIRE(rb.ok());
  CHECK(rb->warnings.back().what.find("10001 tasks") != std::string::npos);
}

TEST_CASE("plans round-trip through JSON", "[plan]") {
  auto e = ex("jobs:\n  - command: a {x}\n    on_failure: continue\nvariables:\n  x: [1, 2.5, t, yes]\n");
  REQUIRE(e.ok());
  auto p = e->materialize();
  REQUIRE(p.ok());
  auto back = plan::Plan::from_json(p->to_json());
  REQUIRE(back.ok());
  CHECK(back->to_json() == p->to_json());
  CHECK(back->stages[0].on_failure == spec::OnFailure::Continue);
  CHECK_FALSE(plan::Plan::from_json(nlohmann::ordered_json::object()).ok());
}

TEST_CASE("max_tasks keeps the first n tasks, or a seeded random subset in order, --limit over both", "[plan][caps]") {
  util::TempDir d;
  auto make = [&](const std::string& yaml) {
    test::write_file(d.path(), "cap.yml", yaml);
    auto sp = spec::load_spec(d.path() + "/cap.yml");
    REQUIRE(sp.ok());
    auto ex = plan::Expander::create(sp.value());
    REQUIRE(ex.ok());
    return std::move(ex.value());
  };
  auto xs = [](plan::Expander& ex, size_t stage) {
    std::vector<std::string> out;
    REQUIRE(ex.for_each_task(stage, [&](const plan::TaskRef& r) { out.push_back(r.commands[0]); }).ok());
    return out;
  };
  auto first = make("command: echo {x}\nmax_tasks: 3\nvariables:\n  x: [a, b, c, d, e]\n");
  CHECK(xs(first, 0) == std::vector<std::string>{"echo a", "echo b", "echo c"});
  // Seeded: the same draw on every machine (SplitMix64 and selection sampling), in the tasks' order.
  auto drawn = make("command: echo {x}\nmax_tasks: {n: 3, seed: 7}\nvariables:\n  x:\n    range: 0:10:1\n");
  CHECK(xs(drawn, 0) == std::vector<std::string>{"echo 1", "echo 5", "echo 7"});
  auto again = make("command: echo {x}\nmax_tasks: {n: 3, seed: 7}\nvariables:\n  x:\n    range: 0:10:1\n");
  CHECK(xs(again, 0) == xs(drawn, 0));
  // A stage's own cap over the top-level one; --limit over both.
  auto stages = make("max_tasks: 4\njobs:\n  - command: echo a{x}\n  - command: echo b{x}\n    max_tasks: 1\n"
                     "variables:\n  x: [1, 2, 3, 4, 5]\n");
  CHECK(xs(stages, 0).size() == 4);
  CHECK(xs(stages, 1) == std::vector<std::string>{"echo b1"});
  stages.set_limit(2);
  CHECK(xs(stages, 0).size() == 2);
  CHECK(xs(stages, 1).size() == 2);
  auto p = stages.materialize();
  REQUIRE(p.ok());
  CHECK(p->task_count() == 4);
  CHECK(p->stages[1].tasks[1].id == 3);
  // A cap larger than the stage keeps it whole.
  auto big = make("command: echo {x}\nmax_tasks: {n: 50, seed: 1}\nvariables:\n  x: [a, b]\n");
  CHECK(xs(big, 0).size() == 2);
}

TEST_CASE("max_tasks: bad values are located errors", "[plan][caps]") {
  util::TempDir d;
  for (const char* bad : {"max_tasks: 0\n", "max_tasks: x\n", "max_tasks: {n: 2, sed: 1}\n", "max_tasks: {seed: 1}\n",
                          "max_tasks: {n: 2, seed: -1}\n"}) {
    test::write_file(d.path(), "bad.yml", std::string("command: echo {x}\nvariables:\n  x: [1]\n") + bad);
    auto sp = spec::load_spec(d.path() + "/bad.yml");
    INFO(bad);
    REQUIRE_FALSE(sp.ok());
    CHECK(sp.error().line == 4);
    CHECK(!sp.error().hint.empty());
  }
}

TEST_CASE("formatted fields are formatted per task, {creates} and {requires} included", "[plan]") {
  // Formatted values are remembered by address; {creates} changes in place from task to task.
  CHECK(tasks("command:\n  cmd: echo {creates:>6} {x:.1f} {x!r}\n  creates: o{x:.2f}\nvariables:\n  x: [0.25, 1.5, 0.25]\n  y: [1, 2]\n") ==
        VV{{"echo  o0.25 0.2 0.25", "echo  o1.50 1.5 1.5"}});
  VV expected{{}};
  for (int i = 0; i < 40; ++i) expected[0].push_back(fmt::format("cat   {:02d}", i));
  CHECK(tasks("command:\n  cmd: cat {requires:>4}\n  requires: '{i:02d}'\nvariables:\n  i:\n    arange: 40\n") == expected);
}

TEST_CASE("a stored plan's ids are the tasks' own: any unique numbers, found by Plan::find", "[plan]") {
  const std::string text =
      "{\"name\": \"p\", \"stages\": [{\"name\": \"a\", \"on_failure\": \"stop\", \"tasks\": ["
      "{\"id\": 5, \"index\": 0, \"commands\": [\"echo 1\"], \"variables\": {}},"
      "{\"id\": 0, \"index\": 1, \"commands\": [\"echo 2\"], \"variables\": {}}]},"
      "{\"name\": \"b\", \"on_failure\": \"stop\", \"tasks\": [{\"id\": 9, \"index\": 0, \"commands\": [\"x\"], \"variables\": {}}]}]}";
  for (bool streamed : {true, false}) {
    auto p = streamed ? plan::Plan::parse(text) : plan::Plan::from_json(nlohmann::ordered_json::parse(text));
    REQUIRE(p.ok());
    CHECK(p->id_end() == 10);
    auto w = p->find(9);
    REQUIRE(w);
    CHECK(w->stage == 1);
    CHECK(w->index == 0);
    CHECK(w->slot == 2);
    CHECK(p->find(0)->slot == 1);
    CHECK_FALSE(p->find(1));
    CHECK_FALSE(p->find(10));
    // The cache keeps them.
    auto d = plan::decode_cache(plan::encode_cache(p.value(), plan::SourceStamp{}), plan::SourceStamp{});
    REQUIRE(d);
    CHECK(d->stages[0].tasks[0].id == 5);
    CHECK(d->find(9)->slot == 2);
    // Changed after indexing: still found (by a scan).
    p->stages[0].tasks[0].id = 3;
    CHECK(p->find(3)->slot == 0);
    CHECK_FALSE(p->find(5));
  }
  std::string twice = text;
  twice.replace(twice.find("\"id\": 9"), 7, "\"id\": 5");
  for (bool streamed : {true, false}) {
    auto p = streamed ? plan::Plan::parse(twice) : plan::Plan::from_json(nlohmann::ordered_json::parse(twice));
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().what.find("two tasks 5") != std::string::npos);
  }
}
