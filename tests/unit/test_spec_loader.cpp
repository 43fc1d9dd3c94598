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
  CHECK(err("jobs:\n  - comand: a\n").hint.find("command") != std::string::npos);
  CHECK(err("jobs:\n  - command: a\n    on_failure: maybe\n").line == 3);
  CHECK(err("command:\n  cmd: a\n  command: b\n").what.find("both") != std::string::npos);
  CHECK(err("command: a\nslurm: 3\n").what.find("True, False") != std::string::npos);
  CHECK(err("a: &x [*x]\ncommand: b\n").what.size() > 0);
  CHECK(err(std::string("command: a\0b", 12)).what.find("NUL") != std::string::npos);
}

TEST_CASE("a repeated key keeps its last value, as PyYAML does, with a warning naming both lines", "[spec][loader]") {
  auto s = parse_spec("command: a\nvariables:\n  x: 1\n  y: 2\n  x: [3, 4]\ncommand: b\n", "e.yml");
  REQUIRE(s.ok());
  REQUIRE(s->stages.size() == 1);
  CHECK(s->stages[0].commands[0].text == "b");
  REQUIRE(s->variables["x"].IsSequence());
  CHECK(s->variables["x"].size() == 2);
  CHECK(s->variables.size() == 2);
  REQUIRE(s->warnings.size() == 2);
  CHECK(s->warnings[0].what.find("'x' is given twice (lines 3 and 5)") != std::string::npos);
  CHECK(s->warnings[0].loc.line == 5);
  CHECK(s->warnings[1].what.find("'command' is given twice (lines 1 and 6)") != std::string::npos);
  // Three times: the last wins.
  auto t = parse_spec("command: a\ncommand: b\ncommand: c\n", "e.yml");
  REQUIRE(t.ok());
  CHECK(t->stages[0].commands[0].text == "c");
  CHECK(t->warnings.size() == 2);
}

TEST_CASE("unknown top-level keys are warnings unless they are a typo of the missing command", "[spec][loader]") {
  auto s = parse_spec("command: a\nresult: [1, 2]\nvariabls: 3\n", "e.yml");
  REQUIRE(s.ok());
  REQUIRE(s->warnings.size() == 2);
  CHECK(s->warnings[0].what == "unknown key 'result' is ignored");
  CHECK(s->warnings[0].loc.line == 2);
  CHECK(s->warnings[1].what.find("did you mean 'variables'?") != std::string::npos);
  auto e = parse_spec("comamnd: a\n", "e.yml");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().hint.find("'command'") != std::string::npos);
  auto j = parse_spec("job:\n  - command: a\n", "e.yml");
  REQUIRE_FALSE(j.ok());
  CHECK(j.error().hint.find("'jobs'") != std::string::npos);
}

TEST_CASE("shell: True asks for the shell scheduler (the local backend), a string names the task shell",
          "[spec][loader]") {
  auto t = parse_spec("command: a\nshell: True\n", "e.yml");
  REQUIRE(t.ok());
  CHECK(t->shell_scheduler);
  CHECK(t->shell.empty());
  auto z = parse_spec("command: a\nshell: /bin/zsh\n", "e.yml");
  REQUIRE(z.ok());
  CHECK_FALSE(z->shell_scheduler);
  CHECK(z->shell == "/bin/zsh");
}

TEST_CASE("bytes that are not UTF-8 are an error at their line and column", "[spec][loader]") {
  auto e = parse_spec("command: echo\nvariables:\n  x: [a, b\xe9" "c]\n", "e.yml");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().line == 3);
  CHECK(e.error().col == 11);
  CHECK(e.error().what.find("0xe9") != std::string::npos);
  CHECK_FALSE(parse_spec("command: echo \xc0\xaf\n", "e.yml").ok());      // overlong
  CHECK_FALSE(parse_spec("command: echo \xed\xa0\x80\n", "e.yml").ok());  // surrogate
  CHECK(parse_spec("command: echo h\xc3\xa9 \xf0\x9f\x98\x80\n", "e.yml").ok());
}

TEST_CASE("explicit tags and timestamps are typed and rendered as PyYAML does", "[spec][loader]") {
  CHECK(tagged_scalar("tag:yaml.org,2002:float", "1").str() == "1.0");
  CHECK(tagged_scalar("tag:yaml.org,2002:float", "1e3").str() == "1000.0");
  CHECK(tagged_scalar("tag:yaml.org,2002:int", "3").str() == "3");
  CHECK(tagged_scalar("tag:yaml.org,2002:bool", "yes").str() == "True");
  CHECK(resolve_plain_scalar("2001-12-14").str() == "2001-12-14");
  CHECK(resolve_plain_scalar("2001-12-14t21:59:43.10-05:00").str() == "2001-12-14 21:59:43.100000-05:00");
  CHECK(resolve_plain_scalar("2001-12-14 21:59:43.10 -5").str() == "2001-12-14 21:59:43.100000-05:00");
  CHECK(resolve_plain_scalar("2002-1-4 1:59:43").str() == "2002-01-04 01:59:43");
  CHECK(resolve_plain_scalar("2001-12-14T21:59:43Z").str() == "2001-12-14 21:59:43+00:00");
  CHECK(resolve_plain_scalar("2001-13-14").str() == "2001-13-14");  // not a date: stays the text
}

TEST_CASE("workdir defaults to the file's directory", "[spec][loader]") {
  auto s = parse_spec("command: a\n", "/tmp/some/exp.yml");
  REQUIRE(s.ok());
  CHECK(s->workdir == "/tmp/some");
  auto w = parse_spec("command: a\nworkdir: runs\n", "/tmp/some/exp.yml");
  REQUIRE(w.ok());
  CHECK(w->workdir == "/tmp/some/runs");
}
