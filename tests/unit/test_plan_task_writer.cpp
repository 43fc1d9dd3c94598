#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include "xrun/plan/expander.hpp"
#include "xrun/plan/task_writer.hpp"

using namespace xrun;

namespace {

plan::Expander expander(const std::string& yaml) {
  auto s = spec::parse_spec(yaml, "/tmp/exp.yml");
  REQUIRE(s.ok());
  auto e = plan::Expander::create(std::move(s.value()));
  REQUIRE(e.ok());
  return std::move(e.value());
}

// Every task of every stage written by TaskWriter, and the same tasks as nlohmann's compact
// dump of TaskRef::to_json() (the reference the writer must equal byte for byte).
// `keyed`: with each task's content key, on `backend`.
std::pair<std::string, std::string> written_and_reference(plan::Expander& e, bool stable, bool keyed = false,
                                                          const std::string& backend = "local") {
  std::ostringstream os;
  std::string reference;
  for (size_t s = 0; s < e.stage_count(); ++s) {
    plan::KeyContext keys(e.key_stage(s, backend)), ref_keys(e.key_stage(s, backend));
    plan::TaskWriter w(os, stable, keyed ? &keys : nullptr);
    bool first = true;
    auto r = e.for_each_task(s, [&](const plan::TaskRef& t) {
      w.add(t);
      reference += (first ? "" : ", ") + t.to_json(keyed ? &ref_keys : nullptr).dump();
      first = false;
    });
    REQUIRE(r.ok());
    w.flush();
    os << "|";
    reference += "|";
  }
  return {os.str(), reference};
}

}  // namespace

TEST_CASE("TaskWriter writes what nlohmann's dump of each task gives, byte for byte", "[plan]") {
  // Strings to escape (quotes, backslashes, tabs, control characters, UTF-8), floats in every
  // notation, ints, big ints, bools, null, inf and nan (strings in JSON), creates/requires.
  auto e = expander(
      "jobs:\n"
      "  - command:\n"
      "      cmd: ['echo {s!r} {x:>8.2e} {n:04d} {b} {z} {big} {inf}', 'cp \"{s}\" {creates}']\n"
      "      creates: 'out/{s}_{n}.txt'\n"
      "  - command:\n"
      "      cmd: 'cat {requires:>30} {x}'\n"
      "      requires: 'in\\{s}'\n"
      "variables:\n"
      "  s: [\"a\\\"b\", \"tab\\there\", \"\\u00e9 \\u65e5\", \"back\\\\slash\", \"ctl\\u0001x\", \"del\\u007f\", plain]\n"
      "  x: [1.0e+3, 0.1, -2.5, .inf, 1.0e-7, 100000000000000000000.0]\n"
      "  n: [1, -2, 1]\n"
      "  b: [yes, ~]\n"
      "  z: [1e-5, 0.30]\n"
      "  big: 123456789012345678901234567890\n"
      "  inf: [.nan, -.inf]\n");
  for (bool stable : {true, false}) {
    for (bool keyed : {false, true}) {
      auto [written, reference] = written_and_reference(e, stable, keyed);
      CHECK(written.size() > 1000);
      CHECK(written == reference);
      CHECK((written.find("\"key\":\"") != std::string::npos) == keyed);
    }
  }
}

TEST_CASE("TaskWriter's keys: tasks without variables, and stages whose names change from task to task",
          "[plan][task_key]") {
  auto e = expander(
      "jobs:\n  - command: 'true'\n  - command: ['echo {x}', 'echo {y}']\n  - command: 'echo {y}'\n"
      "variables:\n  x: [1, 2]\n  y: [a, b]\n");
  for (bool stable : {true, false}) {
    auto [written, reference] = written_and_reference(e, stable, true);
    CHECK(written == reference);
    CHECK(written.find("\"key\":\"") != std::string::npos);
  }
}

TEST_CASE("TaskWriter's keys are task_key's, from the values as written", "[plan][task_key]") {
  auto e = expander(
      "docker:\n  image: 'python:3.11'\n  setup: ['module load x']\n"
      "command: 'echo {s} {x} {n}'\nvariables:\n  s: [\"a\\\"b\", \"\\u00e9\"]\n  x: [0.1, 1.0e+20]\n  n: [1, 2]\n");
  for (const char* backend : {"docker", "local"}) {
    auto [written, reference] = written_and_reference(e, true, true, backend);
    auto tasks = nlohmann::json::parse("[" + written.substr(0, written.size() - 1) + "]");
    REQUIRE(tasks.size() == 8);
    std::set<std::string> keys;
    for (const auto& t : tasks) {
      plan::KeyInputs in;
      in.stage = e.spec().stages[0].name;
      in.workdir = e.spec().workdir;
      if (std::string(backend) == "docker") {  // (the docker section's setup runs on docker only)
        in.setup = {"module load x"};
        in.image = "python:3.11";
      }
      for (const auto& c : t["commands"]) in.commands.push_back(c.get<std::string>());
      for (const auto& [k, v] : t["variables"].items()) in.variables.emplace_back(k, v.dump());
      CHECK(t["key"] == plan::task_key(in));
      keys.insert(t["key"].get<std::string>());
    }
    CHECK(keys.size() == 8);
  }
}

TEST_CASE("TaskWriter hands its buffer to the stream in blocks", "[plan]") {
  auto e = expander("command: 'run {i} {f:.3f}'\nvariables:\n  i:\n    arange: 30000\n  f: [0.5, 1.5]\n");
  auto [written, reference] = written_and_reference(e, true);
  CHECK(written.size() > (size_t{1} << 21));  // more than two blocks
  CHECK(written == reference);
}

TEST_CASE("TaskWriter writes a task's own workdir as TaskRef::to_json does", "[plan]") {
  auto e = expander("workdir: 'runs/{s}/{tagspath}'\ntags: [n]\ncommand: echo\n"
                    "variables:\n  s: [\"q\\\"uote\", \u00e9]\n  n: [1, 2]\n");
  for (bool stable : {true, false}) {
    auto [written, reference] = written_and_reference(e, stable, true);
    CHECK(written == reference);
    CHECK(written.find("\"workdir\":\"") != std::string::npos);
  }
}

TEST_CASE("ThreadedTaskWriter writes the same bytes as TaskWriter, over many batches", "[plan]") {
  auto e = expander(
      "workdir: 'w/{s}'\n"
      "jobs:\n"
      "  - command:\n"
      "      cmd: ['run {i} {f:.3f} {s}', 'echo {creates}']\n"
      "      creates: 'out \"{i}\"'\n"
      "  - command:\n"
      "      cmd: 'cat {requires} {s!r}'\n"
      "      requires: 'in_{i}'\n"
      "variables:\n  i:\n    arange: 9000\n  f: [0.5, 1.5]\n  s: [\"tab\\t\", plain, plain]\n");
  for (size_t s = 0; s < e.stage_count(); ++s) {
    std::ostringstream one, two;
    plan::KeyContext k1(e.key_stage(s, "local")), k2(e.key_stage(s, "local"));
    plan::TaskWriter w(one, true, &k1);
    REQUIRE(e.for_each_task(s, [&](const plan::TaskRef& t) { w.add(t); }).ok());
    w.flush();
    {
      plan::ThreadedTaskWriter tw(two, &k2);
      REQUIRE(e.for_each_task(s, [&](const plan::TaskRef& t) { tw.add(t); }).ok());
      tw.finish();
    }
    CHECK(one.str().size() > 100000);
    CHECK(one.str() == two.str());
  }
}
