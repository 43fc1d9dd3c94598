// `--where` on the commands that select tasks (issue 38): status first.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/util/text.hpp"

#include "support/env.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {
// A sweep of lr x seed whose tasks with seed 3 fail, then a stage `report` whose one task has
// neither variable.
std::string sweep(const Env& e) {
  return e.file("exp.yml",
                "variables:\n"
                "  lr: [0.1, 0.01]\n"
                "  seed: [1, 2, 3]\n"
                "jobs:\n"
                "  - name: train\n"
                "    command: 'echo {lr} {seed}; [ {seed} != 3 ]'\n"
                "  - name: report\n"
                "    command: 'echo done'\n");
}
// The ids `status --json ARGS` lists, as "stage:lr:seed" words.
std::multiset<std::string> listed(const Env& e, const std::string& id, std::vector<std::string> args) {
  args.insert(args.begin(), {"status", id, "--json"});
  auto r = e.x(args);
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::multiset<std::string> out;
  const auto doc = nlohmann::json::parse(r.out);
  for (const auto& t : doc["tasks"]) {
    const auto& v = t["variables"];
    out.insert(t["stage"].get<std::string>() + ":" + (v.contains("lr") ? v["lr"].dump() : "-") + ":" +
               (v.contains("seed") ? v["seed"].dump() : "-"));
  }
  return out;
}
}  // namespace

TEST_CASE("status --where selects tasks by variables and state, with each operator", "[cli][where]") {
  Env e;
  auto r = e.x({"run", sweep(e), "--quiet", "--keep-going"});
  const std::string id = first_line(r.out);
  using S = std::multiset<std::string>;
  CHECK(listed(e, id, {"--where", "lr=0.1"}) == S{"train:0.1:1", "train:0.1:2", "train:0.1:3"});
  CHECK(listed(e, id, {"--where", "lr=0.10,seed=1|2"}) == S{"train:0.1:1", "train:0.1:2"});
  CHECK(listed(e, id, {"--where", "seed<2"}) == S{"train:0.1:1", "train:0.01:1"});
  CHECK(listed(e, id, {"--where", "seed>=3"}) == S{"train:0.1:3", "train:0.01:3"});
  CHECK(listed(e, id, {"--where", "seed>2,lr<=0.01"}) == S{"train:0.01:3"});
  // != : a task without the variable (the report stage's) matches no clause on it.
  CHECK(listed(e, id, {"--where", "seed!=1|2"}) == S{"train:0.1:3", "train:0.01:3"});
  // state, and --state as state=A|B; repeated --where and-ed.
  CHECK(listed(e, id, {"--where", "state=failed"}) == S{"train:0.1:3", "train:0.01:3"});
  CHECK(listed(e, id, {"--where", "state=SKIPPED|Failed", "--where", "lr=0.1"}) == S{"train:0.1:3"});
  CHECK(listed(e, id, {"--state", "FAILED", "--where", "lr=0.01"}) == S{"train:0.01:3"});
  CHECK(listed(e, id, {"--where", "state=SUCCEEDED,seed>1"}) == S{"train:0.1:2", "train:0.01:2"});
  // The table too; counts cover every task.
  auto t = e.x({"status", id, "--where", "seed=2"});
  CHECK(t.code == 0);
  CHECK(t.out.find("lr=0.1 seed=2") != std::string::npos);
  CHECK(t.out.find("seed=1") == std::string::npos);
}

TEST_CASE("status --where errors: the column and the form, an unknown key, a state that is none - exit 2",
          "[cli][where]") {
  Env e;
  auto r = e.x({"run", sweep(e), "--quiet", "--keep-going"});
  const std::string id = first_line(r.out);
  auto bad = e.x({"status", id, "--where", "seed<<3"});
  CHECK(bad.code == 2);
  CHECK(bad.err.find("column 6") != std::string::npos);
  CHECK(bad.err.find("KEY=V") != std::string::npos);
  auto typo = e.x({"status", id, "--where", "sed=1"});
  CHECK(typo.code == 2);
  CHECK(typo.err.find("no task has a variable 'sed'") != std::string::npos);
  CHECK(typo.err.find("seed") != std::string::npos);  // the suggestion
  auto state = e.x({"status", id, "--where", "state=FAILD"});
  CHECK(state.code == 2);
  CHECK(state.err.find("FAILED") != std::string::npos);
}

TEST_CASE("resume --where reruns only the matching tasks that did not succeed, each once (a ledger counts the runs)",
          "[cli][where]") {
  Env e;
  const std::string ledger = e.path("ledger");
  auto f = e.file("exp.yml", "command: 'echo {lr}-{seed} >> " + ledger +
                                 "; [ -e " + e.path("ok") + " ] || [ {seed} = 1 ]'\nvariables:\n  lr: [0.1, 0.01]\n  seed: [1, 2, 3]\n");
  auto r = e.x({"run", f, "--quiet", "--keep-going"});
  const std::string id = first_line(r.out);
  e.file("ok", "");
  auto res = e.x({"resume", id, "--where", "lr=0.1,seed!=3"});
  CHECK(res.code == 1);  // (the experiment still has failed tasks: those not taken)
  CHECK(e.status(id)["tasks"][1]["state"] == "SUCCEEDED");
  auto lines = util::split(test::read(ledger), '\n');
  std::multiset<std::string> ran(lines.begin(), lines.end());
  CHECK(ran.count("0.1-2") == 2);   // failed, matched: ran again
  CHECK(ran.count("0.1-3") == 1);   // failed, not matched
  CHECK(ran.count("0.01-2") == 1);  // failed, not matched
  CHECK(ran.count("0.1-1") == 1);   // succeeded: never again
  auto none = e.x({"resume", id, "--where", "lr=0.5"});
  CHECK(none.code == 0);
  CHECK(none.err.find("matches --where") != std::string::npos);
  CHECK(e.x({"resume", id, "--where", "lrr=1"}).code == 2);
}

TEST_CASE("cancel --where cancels only the matching unfinished tasks, logs --where prints theirs", "[cli][where]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo err {seed} >&2; sleep 30'\nvariables:\n  seed: [1, 2, 3, 4]\n");
  auto b = e.bg({"run", f, "-j", "4", "--quiet"});
  const std::string id = test::wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.status(id)["counts"]["RUNNING"] == 4; }, 30));
  auto c = e.x({"cancel", id, "--where", "seed>=3"});
  CHECK(c.code == 0);
  REQUIRE(test::eventually([&] { return e.status(id)["counts"]["CANCELLED"] == 2; }, 20));
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "RUNNING");
  CHECK(s["tasks"][2]["state"] == "CANCELLED");
  CHECK(e.x({"cancel", id, "0", "--where", "seed=1"}).code == 2);  // not both
  auto l = e.x({"logs", id, "--where", "seed=2|4"});
  CHECK(l.code == 0);
  CHECK(l.out.find("err 2") != std::string::npos);
  CHECK(l.out.find("err 4") != std::string::npos);
  CHECK(l.out.find("err 1") == std::string::npos);
  CHECK(e.x({"cancel", id}).code == 0);
  b.wait();
}
