// A per-task working directory (issue 38): `workdir: runs/{lr}` runs each task in its own
// folder, made if missing; `creates` is checked there. (Slurm and Docker: tests/slurm, tests/docker.)
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "xrun/util/fs.hpp"

#include "support/env.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

TEST_CASE("workdir with placeholders: each task runs in its own folder, made if missing", "[cli][workdir]") {
  Env e;
  auto f = e.file("exp.yml",
                  "workdir: runs/{lr}/{tagspath}\ntags: [seed]\n"
                  "variables:\n  lr: [0.1, 0.01]\n  seed: [1, 2]\n"
                  "jobs:\n"
                  "  - name: train\n    command: 'pwd > where && echo {lr} >> " + e.path("ledger") + "'\n"
                  "  - name: report\n    command: 'ls > listing'\n");
  auto r = e.x({"run", f, "--quiet"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  for (const char* lr : {"0.1", "0.01"})
    for (const char* seed : {"1", "2"}) {
      std::string dir = e.path(std::string("runs/") + lr + "/seed=" + seed);
      CHECK(test::read(dir + "/where") == util::absolute(dir) + "\n");
      CHECK(util::exists(dir + "/listing"));  // the later stage runs in each task's folder too
    }
  // meta.json: the folder they all lie under; plan.json: each task's own.
  const std::string id = first_line(r.out);
  auto meta = nlohmann::json::parse(test::read(e.exp_dir(id) + "/meta.json"));
  CHECK(meta["workdir"] == util::absolute(e.path("runs")));
  auto plan = nlohmann::json::parse(test::read(e.exp_dir(id) + "/plan.json"));
  CHECK(plan["stages"][0]["tasks"][3]["workdir"] == util::absolute(e.path("runs/0.01/seed=2")));
  // plan --json shows it too.
  auto p = e.x({"plan", f, "--json"});
  REQUIRE(p.code == 0);
  CHECK(nlohmann::json::parse(p.out)["stages"][1]["tasks"][0]["workdir"] == util::absolute(e.path("runs/0.1/seed=1")));
}

TEST_CASE("workdir with placeholders: creates is checked in the task's own folder", "[cli][workdir]") {
  Env e;
  auto f = e.file("exp.yml",
                  "workdir: out/{n}\n"
                  "command:\n  cmd: 'echo {n} > result && echo {n} >> " + e.path("ledger") + "'\n  creates: result\n"
                  "variables:\n  n: [1, 2, 3]\n");
  test::write_file(e.path("out/2"), "result", "done before\n");
  auto dry = e.x({"run", f, "--dry-run", "--skip-existing"});
  CHECK(dry.out.find("1 task left out") != std::string::npos);
  auto r = e.x({"run", f, "--quiet", "--skip-existing", "-j", "1"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(test::read(e.path("ledger")) == "1\n3\n");
  CHECK(test::read(e.path("out/2/result")) == "done before\n");
  auto s = e.status(first_line(r.out));
  CHECK(s["tasks"][1]["state"] == "SKIPPED");
}
