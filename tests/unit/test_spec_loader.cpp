#include <catch2/catch.hpp>

#include "xrun/spec/spec.hpp"

using namespace xrun::spec;

namespace {
xrun::Error err(const std::string& text) {
  auto r = parse_spec(text, "exp.yml");
  REQUIRE_FALSE(r.ok());
  return r.error();
}
}  // namespace

TEST_CASE("command forms: string, list (one stage), mapping", "[spec][loader]") {
  auto a = parse_spec("command: echo hi\n", "dir/exp.yml");
  REQUIRE(a.ok());
  CHECK(a->name == "exp");
  REQUIRE(a->stages.size() == 1);
  CHECK(a->stages[0].commands[0].text == "echo hi");

  auto b = parse_spec("command:\n  - a\n  - b\n", "exp.yml");
  REQUIRE(b.ok());
  CHECK(b->stages.size() == 1);
  CHECK(b->stages[0].commands.size() == 2);

  auto c = parse_spec("command:\n  cmd: >\n    echo x\n  creates: out.txt\n", "exp.yml");
  REQUIRE(c.ok());
  CHECK(c->stages[0].commands[0].text == "echo x");
  CHECK(c->stages[0].creates->text == "out.txt");
}

TEST_CASE("jobs become stages with names and on_failure", "[spec][loader]") {
  auto s = parse_spec("name: n\njobs:\n  - command: a\n  - name: two\n    on_failure: continue\n    command: b\n", "e.yml");
  REQUIRE(s.ok());
  CHECK(s->name == "n");
  REQUIRE(s->stages.size() == 2);
  CHECK(s->stages[0].name == "job1");
  CHECK(s->stages[1].name == "two");
  CHECK(s->stages[1].on_failure == OnFailure::Continue);
}

TEST_CASE("backend sections are kept - True means defaults", "[spec][loader]") {
  auto s = parse_spec("command: a\npbs: True\nscheduler:\n  walltime: 1:00\nslurm:\n  partition: debug\n  setup:\n    - module load x\n", "e.yml");
  REQUIRE(s.ok());
  CHECK(s->has_section("pbs"));
  CHECK(s->options_for("slurm")["walltime"] == "1:00");
  CHECK(s->options_for("slurm")["partition"] == "debug");
  CHECK(s->options_for("slurm")["setup"].size() == 1);
  auto f = parse_spec("command: a\nslurm: False\n", "e.yml");
  REQUIRE(f.ok());
  CHECK_FALSE(f->has_section("slurm"));
}

TEST_CASE("errors name the line and column and suggest a fix", "[spec][loader]") {
  auto e = err("comamnd: echo\n");
  CHECK(e.line == 1);
  CHECK(e.col == 1);
  CHECK(e.what.find("comamnd") != std::string::npos);
  CHECK(e.hint.find("command") != std::string::npos);

  auto y = err("command: echo\nvariables:\n  x: [1, 2\n");
  CHECK(y.what.find("YAML syntax") != std::string::npos);
  CHECK(y.line >= 3);

  CHECK(err("").what.find("empty") != std::string::npos);
  CHECK(err("# only a comment\n").what.find("no settings") != std::string::npos);
  CHECK(err("- a\n- b\n").what.find("mapping") != std::string::npos);
  CHECK(err("command: a\njobs:\n  - command: b\n").what.find("both") != std::string::npos);
  CHECK(err("variables:\n  x: 1\n").what.find("no 'command'") != std::string::npos);
  CHECK(err("command: a\ncommand: b\n").what.find("duplicate") != std::string::npos);
  CHECK(err("jobs:\n  - comand: a\n").hint.find("command") != std::string::npos);
  CHECK(err("jobs:\n  - command: a\n    on_failure: maybe\n").line == 3);
  CHECK(err("command:\n  cmd: a\n  command: b\n").what.find("both") != std::string::npos);
  CHECK(err("command: a\nslurm: 3\n").what.find("True, False") != std::string::npos);
  CHECK(err("a: &x [*x]\ncommand: b\n").what.size() > 0);
  CHECK(err(std::string("command: a\0b", 12)).what.find("NUL") != std::string::npos);
}

TEST_CASE("workdir defaults to the file's directory", "[spec][loader]") {
  auto s = parse_spec("command: a\n", "/tmp/some/exp.yml");
  REQUIRE(s.ok());
  CHECK(s->workdir == "/tmp/some");
  auto w = parse_spec("command: a\nworkdir: runs\n", "/tmp/some/exp.yml");
  REQUIRE(w.ok());
  CHECK(w->workdir == "/tmp/some/runs");
}
