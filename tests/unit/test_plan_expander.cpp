// plan::Expander: tags (`tags:` top level or per stage, the {tags} and {tagspath} placeholders).
#include <catch2/catch.hpp>

#include "support/support.hpp"
#include "xrun/plan/expander.hpp"

using namespace xrun;

namespace {
Result<plan::Expander> ex(const std::string& yaml) {
  auto s = spec::parse_spec(yaml, "/tmp/exp.yml");
  if (!s) return s.error();
  return plan::Expander::create(std::move(s.value()));
}
struct Got {
  std::vector<std::string> cmds;
  std::vector<std::string> creates;
  std::vector<std::string> vars;  // "k=v k=v" per task
};
std::vector<Got> expand(const std::string& yaml) {
  auto e = ex(yaml);
  INFO((e.ok() ? std::string() : e.error().what + " / " + e.error().hint));
  REQUIRE(e.ok());
  auto p = e->materialize();
  REQUIRE(p.ok());
  std::vector<Got> out;
  for (const auto& st : p->stages) {
    out.emplace_back();
    for (const auto& t : st.tasks) {
      out.back().cmds.push_back(t.commands.at(0));
      out.back().creates.push_back(t.creates.value_or(""));
      std::string vs;
      for (const auto& [k, v] : t.variables) vs += (vs.empty() ? "" : " ") + k + "=" + v.str();
      out.back().vars.push_back(vs);
    }
  }
  return out;
}
using VS = std::vector<std::string>;
}  // namespace

TEST_CASE("tags: {tags} and {tagspath} render the tagged variables with their keys sorted", "[plan]") {
  auto g = expand("command: train --out {tagspath} --name {tags}\ntags: [lr, batch]\n"
                  "variables:\n  lr: [0.1, 0.01]\n  batch: [32]\n");
  REQUIRE(g.size() == 1);
  CHECK(g[0].cmds == VS{"train --out batch=32/lr=0.1 --name batch=32,lr=0.1",
                        "train --out batch=32/lr=0.01 --name batch=32,lr=0.01"});
  // The tagged variables are the task's variables (its identity, --where) though only {tags} names them.
  CHECK(g[0].vars == VS{"lr=0.1 batch=32", "lr=0.01 batch=32"});
}

TEST_CASE("tags: usable in creates, with a format spec, and per stage over the top level", "[plan]") {
  auto g = expand("jobs:\n"
                  "  - command: {cmd: 'make {tagspath}', creates: 'out/{tagspath}/done'}\n"
                  "  - command: 'plot [{tags:>12}] {seed}'\n    tags: [seed]\n"
                  "tags: [lr]\nvariables:\n  lr: [1, 2]\n  seed: [7]\n");
  REQUIRE(g.size() == 2);
  CHECK(g[0].cmds == VS{"make lr=1", "make lr=2"});
  CHECK(g[0].creates == VS{"out/lr=1/done", "out/lr=2/done"});
  CHECK(g[1].cmds == VS{"plot [      seed=7] 7"});
}

TEST_CASE("tags: a tag a task does not have is left out of its {tags}", "[plan]") {
  // A chain: `depth` is set in one branch only.
  auto g = expand("command: run {model} {tagspath}\ntags: [depth, lr]\n"
                  "variables:\n  chain:\n    - {model: [a], lr: [1]}\n    - {model: [b], depth: [3], lr: [2]}\n");
  CHECK(g[0].cmds == VS{"run a lr=1", "run b depth=3/lr=2"});
  CHECK(g[0].vars == VS{"model=a lr=1", "model=b lr=2 depth=3"});
}

TEST_CASE("tags: a stage that does not use {tags} keeps only the variables its commands use", "[plan]") {
  auto g = expand("command: echo {lr}\ntags: [lr, batch]\nvariables:\n  lr: [1]\n  batch: [8, 16]\n");
  CHECK(g[0].cmds == VS{"echo 1"});
  CHECK(g[0].vars == VS{"lr=1"});
}

TEST_CASE("tags: a tag that names no variable is an input error at its line and column", "[plan]") {
  auto e = ex("command: echo {tags}\ntags: [lr, bacth]\nvariables:\n  lr: [1]\n  batch: [8]\n");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().what.find("'bacth'") != std::string::npos);
  CHECK(e.error().line == 2);
  CHECK(e.error().col == 12);
  CHECK(e.error().hint.find("batch") != std::string::npos);
  auto s = ex("jobs:\n  - command: echo {lr}\n    tags: [nope]\nvariables:\n  lr: [1]\n");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().line == 3);
  CHECK(s.error().col == 12);
}

TEST_CASE("tags: malformed tags and {tags} without tags are input errors", "[plan]") {
  auto notlist = ex("command: echo {lr}\ntags: {lr: 1}\nvariables:\n  lr: [1]\n");
  REQUIRE_FALSE(notlist.ok());
  CHECK(notlist.error().line == 2);
  CHECK(notlist.error().hint.find("tags: [") != std::string::npos);
  auto none = ex("command: echo {tags}\nvariables:\n  lr: [1]\n");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().what.find("{tags}") != std::string::npos);
  CHECK(none.error().hint.find("tags:") != std::string::npos);
}

TEST_CASE("tags: a variable named tags or tagspath wins, with a warning", "[plan]") {
  auto e = ex("command: echo {tags} {tagspath} {lr}\ntags: [lr]\nvariables:\n  lr: [1]\n  tags: [x]\n");
  REQUIRE(e.ok());
  bool warned = false;
  for (const auto& w : e->warnings())
    if (w.what.find("'tags'") != std::string::npos) warned = w.loc.line == 5;
  CHECK(warned);
  auto p = e->materialize();
  REQUIRE(p.ok());
  CHECK(p->stages[0].tasks[0].commands[0] == "echo x lr=1 1");
}

// ---- per-task workdir ----

namespace {
std::vector<std::string> workdirs(const std::string& yaml, std::string* base = nullptr) {
  auto s = spec::parse_spec(yaml, "/tmp/x/exp.yml");
  REQUIRE(s.ok());
  if (base) *base = s->workdir_base;
  auto e = plan::Expander::create(std::move(s.value()));
  INFO((e.ok() ? std::string() : e.error().what));
  REQUIRE(e.ok());
  auto p = e->materialize();
  REQUIRE(p.ok());
  std::vector<std::string> out;
  for (const auto& st : p->stages)
    for (const auto& t : st.tasks) out.push_back(t.workdir);
  return out;
}
}  // namespace

TEST_CASE("workdir: placeholders are rendered per task, relative to the file's folder", "[plan]") {
  std::string base;
  CHECK(workdirs("workdir: runs/{lr}\ncommand: echo {lr}\nvariables:\n  lr: [0.1, 1]\n", &base) ==
        VS{"/tmp/x/runs/0.1", "/tmp/x/runs/1"});
  CHECK(base == "/tmp/x/runs");
  CHECK(workdirs("workdir: /data/out-{n:03d}/../w{n}\ncommand: echo\nvariables:\n  n: [7]\n", &base) == VS{"/data/w7"});
  CHECK(base == "/data");
  CHECK(workdirs("workdir: '{tagspath}'\ntags: [a]\ncommand: echo {b}\nvariables:\n  a: [1, 2]\n  b: [3]\n", &base) ==
        VS{"/tmp/x/a=1", "/tmp/x/a=2"});
  CHECK(base == "/tmp/x");
  // Without placeholders: one folder for all ({{ }} are literal braces only in a template).
  CHECK(workdirs("workdir: plain\ncommand: echo {n}\nvariables:\n  n: [1, 2]\n", &base) == VS{"", ""});
  CHECK(base == "/tmp/x/plain");
}

TEST_CASE("workdir: the same commands in two folders are two tasks, and the workdir's variables are theirs",
          "[plan]") {
  auto g = expand("workdir: runs/{seed}\ncommand: python train.py\nvariables:\n  seed: [1, 2, 1]\n");
  CHECK(g[0].cmds == VS{"python train.py", "python train.py"});
  CHECK(g[0].vars == VS{"seed=1", "seed=2"});
}

TEST_CASE("workdir: a placeholder with no variable is an input error at its line and column", "[plan]") {
  auto e = ex("command: echo {lr}\nworkdir: runs/{lrr}\nvariables:\n  lr: [1]\n");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().what.find("{lrr}") != std::string::npos);
  CHECK(e.error().what.find("workdir") != std::string::npos);
  CHECK(e.error().line == 2);
  CHECK(e.error().col == 15);
  CHECK(e.error().hint.find("'{lr}'") != std::string::npos);
}
