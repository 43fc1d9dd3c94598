// experi's interface and its leniencies, through the built binary: ./experiment.yml by default,
// -f, -s shell, `shell: True`, warnings where experi is silent, --set errors.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "support/env.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

TEST_CASE("experi: with no file, plan/check/run read ./experiment.yml, -f names another", "[cli][experi]") {
  Env e;
  auto none = e.x({"plan"});
  CHECK(none.code == 2);
  CHECK(none.err.find("no experiment file given, and there is no experiment.yml") != std::string::npos);
  CHECK(none.err.find("hint:") != std::string::npos);

  e.file("experiment.yml", "command: echo default {x}\nvariables:\n  x: [1, 2]\n");
  e.file("other.yml", "command: echo other\n");
  auto p = e.x({"plan", "--json"});
  REQUIRE(p.code == 0);
  CHECK(p.out.find("echo default 2") != std::string::npos);
  auto c = e.x({"check"});
  CHECK(c.code == 0);
  CHECK(c.out.find("tasks: 2") != std::string::npos);
  auto f = e.x({"plan", "-f", "other.yml", "--json"});
  REQUIRE(f.code == 0);
  CHECK(f.out.find("echo other") != std::string::npos);
  auto lf = e.x({"plan", "--input-file", "other.yml", "--json"});
  CHECK(lf.out.find("echo other") != std::string::npos);
  auto both = e.x({"plan", "experiment.yml", "-f", "other.yml"});
  CHECK(both.code == 2);
  auto r = e.x({"run", "--quiet"});
  REQUIRE(r.code == 0);
  CHECK(e.status(first_line(r.out))["counts"]["SUCCEEDED"] == 2);
}

TEST_CASE("experi: -s shell and `shell: True` run on the local backend", "[cli][experi]") {
  Env e;
  auto f = e.file("exp.yml", "command: echo hi\n");
  auto r = e.x({"run", f, "-s", "shell", "--quiet"});
  REQUIRE(r.code == 0);
  CHECK(e.status(first_line(r.out))["backend"] == "local");
  auto g = e.file("shell.yml", "command: echo hi\nshell: True\n");
  auto s = e.x({"run", g, "--quiet"});
  REQUIRE(s.code == 0);
  CHECK(e.status(first_line(s.out))["backend"] == "local");
  auto d = e.x({"run", g, "--dry-run"});
  CHECK(d.code == 0);
  CHECK(d.out.find("backend local") != std::string::npos);
}

TEST_CASE("experi's silent leniencies are warnings on stderr for plan, check and run", "[cli][experi]") {
  Env e;
  auto f = e.file("exp.yml",
                  "command: echo {x}{creates}\nresult: [1, 2]\nvariables:\n  x: [1]\n  x: [2, 3]\n");
  for (const char* cmd : {"plan", "check", "run"}) {
    INFO(cmd);
    auto r = e.x({cmd, f});
    REQUIRE(r.code == 0);
    CHECK(r.err.find("exp.yml:2:1: warning: unknown key 'result' is ignored") != std::string::npos);
    CHECK(r.err.find("exp.yml:5:3: warning: key 'x' is given twice (lines 4 and 5)") != std::string::npos);
    CHECK(r.err.find("exp.yml:1:18: warning: {creates} renders empty") != std::string::npos);
  }
  auto p = e.x({"plan", f, "--json"});
  CHECK(p.out.find("\"echo 2\"") != std::string::npos);
  CHECK(p.out.find("\"echo 3\"") != std::string::npos);
  CHECK(p.out.find("warning") == std::string::npos);  // stdout holds only the JSON
}

TEST_CASE("set values (--set): a malformed value or bytes that are not UTF-8 are input errors", "[cli][experi]") {
  Env e;
  auto f = e.file("exp.yml", "command: echo {seed}\nvariables:\n  seed: [1]\n");
  auto bad = e.x({"plan", f, "--set", "seed=[1,2"});
  CHECK(bad.code == 2);
  CHECK(bad.err.find("not valid YAML") != std::string::npos);
  auto ok = e.x({"plan", f, "--set", "seed=[1, '2', 3.0]", "--json"});
  REQUIRE(ok.code == 0);
  CHECK(ok.out.find("\"echo 3.0\"") != std::string::npos);
  for (const char* cmd : {"plan", "check", "run"}) {
    auto u = e.x({cmd, f, "--set", "seed=\xff"});
    CHECK(u.code == 2);
    CHECK(u.err.find("not valid UTF-8") != std::string::npos);
  }
  auto file_bad = e.file("latin1.yml", "command: echo caf\xe9\n");
  for (const char* cmd : {"plan", "check", "run"}) {
    auto u = e.x({cmd, file_bad});
    CHECK(u.code == 2);
    CHECK(u.err.find("latin1.yml:1:18: error: byte 0xe9 is not valid UTF-8") != std::string::npos);
  }
  CHECK(e.x({"list"}).out.find("latin1") == std::string::npos);  // nothing was created
}

TEST_CASE("errors inside multi-line commands point at the real line and column", "[cli][experi]") {
  Env e;
  auto check_at = [&](const std::string& text, const std::string& where) {
    auto f = e.file("ml.yml", text);
    auto r = e.x({"check", f});
    INFO(text << "\n" << r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find("ml.yml:" + where + ": error:") != std::string::npos);
  };
  check_at("variables:\n  x: [1]\ncommand: |\n  echo start\n  echo {x} {y}\n", "5:12");
  check_at("variables:\n  x: [1]\ncommand: >\n  echo a\n  b {x}\n  {z}\n", "6:3");
  check_at("variables:\n  x: [1]\ncommand: \"echo \\t{x}\n  and {w}\"\n", "4:7");
  check_at("variables:\n  x: [1]\ncommand: 'it''s {x} {v}'\n", "3:21");
  check_at("variables:\n  x: [1]\ncommand:\n  - echo {x}\n  - |\n    echo {x}\n    echo {x:q}\n", "7:10");
}

TEST_CASE("shell ${...} written with single braces and YAML 1.1's 1e-3 get hints", "[cli][experi]") {
  Env e;
  auto f = e.file("h.yml", "command: 'echo ${HOME:-x}'\n");
  auto r = e.x({"check", f});
  CHECK(r.code == 2);
  CHECK(r.err.find("h.yml:1:17: error: placeholder {HOME} has no variable") != std::string::npos);
  CHECK(r.err.find("write `${{HOME:-x}}`") != std::string::npos);
  auto g = e.file("g.yml", "command: 'echo ${x:-1}'\nvariables:\n  x: [1]\n");
  auto w = e.x({"check", g});
  CHECK(w.code == 0);
  CHECK(w.err.find("g.yml:1:17: warning: '${x:-1}' is formatted by xrun as a placeholder") != std::string::npos);
  auto n = e.file("n.yml", "command: echo {x}\nvariables:\n  x:\n    arange: {stop: 1e-2, step: 1e-3}\n");
  auto m = e.x({"check", n});
  CHECK(m.code == 2);
  CHECK(m.err.find("n.yml:4:20: error: arange 'stop' must be a number, got '1e-2'") != std::string::npos);
  CHECK(m.err.find("write `1.0e-2`") != std::string::npos);
  auto c = e.file("c.yml", "command: echo {x}\nvariables:\n  cycle:\n    times: 2e0\n    x: [1]\n");
  CHECK(e.x({"check", c}).err.find("write `2.0e+0`") != std::string::npos);
}

TEST_CASE("requires is informational unless --skip-existing/--use-dependencies", "[cli][experi]") {
  Env e;
  auto f = e.file("exp.yml", "command:\n  cmd: echo {n} > out{n}\n  creates: out{n}\n  requires: in{n}\n"
                             "variables:\n  n: [1, 2, 3]\n");
  e.file("in1", "");
  e.file("out3", "old\n");
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  CHECK(e.status(first_line(r.out))["counts"]["SUCCEEDED"] == 3);  // as in experi: nothing skipped
  e.file("out1", "");
  ::unlink(e.path("out2").c_str());
  auto d = e.x({"run", f, "-n", "--skip-existing"});
  REQUIRE(d.code == 0);
  CHECK(d.out.find("echo 1 > out1") == std::string::npos);  // creates exists
  CHECK(d.out.find("echo 2 > out2") == std::string::npos);  // requires missing
  CHECK(d.out.find("echo 3 > out3") == std::string::npos);  // creates exists
  CHECK(d.out.find("--skip-existing: 3 tasks left out") != std::string::npos);
  auto s = e.x({"run", f, "--use-dependencies", "--quiet"});
  CHECK(s.code == 1);  // a task whose requires is missing is SKIPPED and not done
  auto st = e.status(first_line(s.out));
  CHECK(st["tasks"][0]["state"] == "SKIPPED");
  CHECK(st["tasks"][1]["state"] == "SKIPPED");
  CHECK(st["tasks"][1]["reason"].get<std::string>().find("required file in2") != std::string::npos);
}

TEST_CASE("experiment ids are ASCII and never start with '-', the name is kept", "[cli][experi]") {
  Env e;
  auto f = e.file("exp.yml", "name: \"-M\xc3\xbcller \xe5\xae\x9e\xe9\xaa\x8c\"\ncommand: echo hi\n");
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  CHECK(id.rfind("Muller-", 0) == 0);
  for (char c : id) CHECK(static_cast<unsigned char>(c) < 0x80);
  CHECK(e.status(id)["name"] == "-M\xc3\xbcller \xe5\xae\x9e\xe9\xaa\x8c");
}

TEST_CASE("check validates the backend options run would refuse, at their line, run creates nothing then",
          "[cli][experi]") {
  Env e;
  auto j = e.file("jobs.yml", "command: echo hi\nlocal:\n  jobs: 0\n");
  auto c = e.x({"check", j});
  CHECK(c.code == 2);
  CHECK(c.err.find("jobs.yml:3:9: error: option 'jobs' must be a whole number from 1 to 100000, got '0'") !=
        std::string::npos);
  auto w = e.file("wall.yml", "command: echo hi\nscheduler:\n  walltime: abc\n");
  CHECK(e.x({"check", w}).err.find("wall.yml:3:13: error: walltime 'abc' is not a duration") != std::string::npos);
  auto r = e.x({"run", w});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(util::list_dir(e.path("store/experiments")).empty());  // nothing was created
  auto s = e.file("slurm.yml", "command: echo hi\nslurm:\n  max_parallel: x\n");
  CHECK(e.x({"check", s}).err.find("slurm.yml:3:17: error:") != std::string::npos);
  auto two = e.file("two.yml", "command: echo hi\nslurm: True\ndocker:\n  image: x\n");
  CHECK(e.x({"check", two}).err.find("several backends") != std::string::npos);
}

TEST_CASE("a --set that names no variable is a warning, --set flattens nested lists like the file", "[cli][experi]") {
  Env e;
  auto f = e.file("exp.yml", "command: echo {seed}\nvariables:\n  seed: [1]\n");
  auto r = e.x({"plan", f, "--set", "sed=3", "--set", "seed=[[1, 2], 3]", "--json"});
  REQUIRE(r.code == 0);
  CHECK(r.err.find("xrun: warning: --set sed: the file defines no variable 'sed'; it is added as a new one (did you "
                   "mean 'seed'?)") != std::string::npos);
  CHECK(r.out.find("\"echo 3\"") != std::string::npos);
  CHECK(r.out.find("\"echo 2\"") != std::string::npos);
}

TEST_CASE("a scheduler's walltime is checked like the local one: located, exit 2", "[cli][check]") {
  Env e;
  for (const char* section : {"slurm", "pbs"}) {
    auto f = e.file(std::string(section) + ".yml", std::string("command: echo hi\n") + section + ":\n  walltime: abc\n");
    auto c = e.x({"check", f});
    INFO(section);
    CHECK(c.code == 2);
    CHECK(c.err.find(std::string(section) + ".yml:3:13: error: walltime 'abc' is not a duration") != std::string::npos);
  }
  auto ok = e.file("ok.yml", "command: echo hi\nslurm:\n  walltime: UNLIMITED\n");
  CHECK(e.x({"check", ok}).code == 0);
}
