// Reuse of finished work across experiments (issue 38): `run --reuse` / `reuse: true` records a
// task whose content key SUCCEEDED in an earlier experiment as SUCCEEDED "reused from EXP/TASK",
// without running it. A ledger outside the store counts the real runs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

#include "support/env.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {
// seed in `seeds`; seed 5 fails; each real run appends its seed to the ledger and a metric.
std::string sweep(const Env& e, const std::string& seeds, const std::string& extra = "") {
  return e.file("exp.yml", "command: 'echo {seed} >> " + e.path("ledger") +
                               " && echo out {seed} && echo \"{{\\\"loss\\\": {seed}}}\" >> \"$XRUN_METRICS\" && "
                               "[ {seed} != 5 ]'\nvariables:\n  seed: [" +
                               seeds + "]\n" + extra);
}
size_t runs(const Env& e) {
  std::string l = test::read(e.path("ledger"));
  return static_cast<size_t>(std::count(l.begin(), l.end(), '\n'));
}
}  // namespace

TEST_CASE("reuse: a task that succeeded in an earlier experiment is recorded as reused, not run again",
          "[cli][reuse]") {
  Env e;
  auto a = e.x({"run", sweep(e, "1, 2, 5"), "--quiet", "--keep-going"});
  REQUIRE(a.code == 1);  // seed 5 failed
  const std::string first = first_line(a.out);
  REQUIRE(runs(e) == 3);
  // Without --reuse every task runs.
  auto plain = e.x({"run", sweep(e, "1, 2"), "--quiet"});
  CHECK(plain.code == 0);
  CHECK(runs(e) == 5);
  const std::string second = first_line(plain.out);
  // With it: seeds 1 and 2 are reused (from the newest experiment that ran them), the failed
  // seed 5 and the new seed 3 run.
  auto b = e.x({"run", sweep(e, "1, 2, 3, 5"), "--reuse", "--keep-going"});
  INFO(b.err);
  CHECK(b.code == 1);
  CHECK(b.err.find("2 tasks reused from earlier experiments") != std::string::npos);
  CHECK(runs(e) == 7);
  const std::string id = first_line(b.out);
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][0]["reason"] == "reused from " + second + "/0");
  CHECK(s["tasks"][1]["reason"] == "reused from " + second + "/1");
  CHECK(s["tasks"][2]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][2]["reason"].is_null());
  CHECK(s["tasks"][3]["state"] == "FAILED");
  // One index line, no task folder; the source's metrics and logs.
  CHECK_FALSE(util::exists(e.exp_dir(id) + "/tasks/0"));
  CHECK(s["tasks"][1]["metrics"]["loss"] == 2);
  CHECK(s["tasks"][1]["stdout"] == e.exp_dir(second) + "/tasks/1/stdout");
  auto logs = e.x({"logs", id, "1"});
  CHECK(logs.code == 0);
  CHECK(logs.out == "out 2\n");
  CHECK(logs.err.find("reused from " + second + "/1") != std::string::npos);
  auto where = e.x({"logs", id, "--where", "seed=1"});
  CHECK(where.out.find("reused from " + second + "/0") != std::string::npos);
  // A resume never runs the reused tasks.
  e.x({"resume", id, "--quiet"});
  CHECK(runs(e) == 8);  // seed 5 again, only
  CHECK(e.status(id)["tasks"][0]["reason"] == "reused from " + second + "/0");
  (void)first;
}

TEST_CASE("reuse: when the source experiment is removed, status and logs say so, and it is no source any more",
          "[cli][reuse]") {
  Env e;
  const std::string src = first_line(e.x({"run", sweep(e, "1, 2"), "--quiet"}).out);
  const std::string id = first_line(e.x({"run", sweep(e, "1, 2, 3"), "--quiet", "--reuse"}).out);
  REQUIRE(runs(e) == 3);
  REQUIRE(e.x({"rm", src}).code == 0);
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][0]["reason"] == "reused from " + src + "/0 (source removed)");
  CHECK(s["tasks"][0]["stdout"].is_null());
  CHECK(s["tasks"][0]["metrics"].is_null());
  auto table = e.x({"status", id});
  CHECK(table.out.find("(source removed)") != std::string::npos);
  auto logs = e.x({"logs", id, "0"});
  CHECK(logs.code == 1);
  CHECK(logs.err.find("(source removed)") != std::string::npos);
  // A reused task is not a source: seeds 1 and 2 run again; seed 3 (which ran in `id`) is reused.
  auto again = e.x({"run", sweep(e, "1, 2, 3"), "--quiet", "--reuse"});
  CHECK(again.code == 0);
  CHECK(runs(e) == 5);
  CHECK(e.status(first_line(again.out))["tasks"][2]["reason"] == "reused from " + id + "/2");
  // The store-wide index forgets the removed experiment.
  CHECK_FALSE(util::exists(e.opts.env.at("XRUN_HOME") + "/keys/" + src));
}

TEST_CASE("reuse: `reuse: true` in the file, a stage's own `reuse: false` wins, --dry-run counts them",
          "[cli][reuse]") {
  Env e;
  auto file = [&](const std::string& top) {
    return e.file("wf.yml", top + "jobs:\n"
                                  "  - name: train\n    command: 'echo train {seed} >> " + e.path("ledger") + "'\n"
                                  "  - name: eval\n    reuse: false\n    command: 'echo eval {seed} >> " + e.path("ledger") + "'\n"
                                  "variables:\n  seed: [1, 2]\n");
  };
  REQUIRE(e.x({"run", file(""), "--quiet"}).code == 0);
  REQUIRE(runs(e) == 4);
  auto dry = e.x({"run", file("reuse: true\n"), "--dry-run"});
  CHECK(dry.out.find("reuse: 2 tasks left out") != std::string::npos);
  CHECK(runs(e) == 4);
  auto r = e.x({"run", file("reuse: true\n"), "--quiet"});
  CHECK(r.code == 0);
  // train reused, eval (reuse: false) ran again, after its reused parents.
  CHECK(runs(e) == 6);
  auto s = e.status(first_line(r.out));
  CHECK(util::starts_with(s["tasks"][0]["reason"].get<std::string>(), "reused from "));
  CHECK(s["tasks"][2]["reason"].is_null());
  CHECK(s["state"] == "succeeded");
  // A `reuse:` that is no boolean is an input error at its place.
  auto bad = e.x({"check", e.file("bad.yml", "command: echo\nreuse: sometimes\n")});
  CHECK(bad.code == 2);
  CHECK(bad.err.find("bad.yml:2:8") != std::string::npos);
}

TEST_CASE("reuse: a task skipped by creates and one reused say which in their reason", "[cli][reuse]") {
  Env e;
  auto f = [&](const std::string& seeds) {
    return e.file("c.yml", "command:\n  cmd: 'echo {seed} > out-{seed} && echo {seed} >> " + e.path("ledger") +
                               "'\n  creates: out-{seed}\nvariables:\n  seed: [" + seeds + "]\n");
  };
  REQUIRE(e.x({"run", f("1"), "--quiet"}).code == 0);
  test::write_file(e.path(""), "out-2", "made by hand\n");
  auto r = e.x({"run", f("1, 2, 3"), "--quiet", "--reuse", "--skip-existing"});
  CHECK(r.code == 0);
  auto s = e.status(first_line(r.out));
  CHECK(util::starts_with(s["tasks"][0]["reason"].get<std::string>(), "reused from "));
  CHECK(s["tasks"][1]["state"] == "SKIPPED");
  CHECK(s["tasks"][1]["reason"].get<std::string>().find("exists") != std::string::npos);
  CHECK(s["tasks"][2]["reason"].is_null());
  CHECK(runs(e) == 2);
}
