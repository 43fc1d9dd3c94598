// Tags (issue 38): `tags:` names the variables that identify a task to a person; {tags} and
// {tagspath} render them in commands and creates; --where selects by them.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "xrun/util/fs.hpp"

#include "support/env.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

TEST_CASE("tags: {tagspath} lays out results, creates skips what exists, --where selects by a tag", "[cli][tags]") {
  Env e;
  // `batch` reaches the command only through {tagspath}: the task's variables still hold it.
  auto f = e.file("exp.yml",
                  "tags: [lr, batch]\n"
                  "variables:\n  lr: [0.1, 0.01]\n  batch: [32, 64]\n"
                  "command:\n"
                  "  cmd: 'mkdir -p out/{tagspath} && echo {lr} > out/{tagspath}/result && echo {tags} >> " +
                      e.path("ledger") + "'\n"
                  "  creates: 'out/{tagspath}/result'\n");
  auto r = e.x({"run", f, "--quiet"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(test::read(e.path("out/batch=32/lr=0.1/result")) == "0.1\n");
  CHECK(test::read(e.path("out/batch=64/lr=0.01/result")) == "0.01\n");
  CHECK(test::read(e.path("ledger")).find("batch=64,lr=0.01\n") != std::string::npos);
  const std::string id = first_line(r.out);
  auto s = e.x({"status", id, "--json", "--where", "batch=64"});
  REQUIRE(s.code == 0);
  const auto doc = nlohmann::json::parse(s.out);
  REQUIRE(doc["tasks"].size() == 2);
  for (const auto& t : doc["tasks"]) CHECK(t["variables"]["batch"] == 64);
  // A new experiment with one more lr: with --skip-existing, `creates` is checked per task and
  // the four done are SKIPPED.
  auto g = e.file("exp.yml",
                  "tags: [lr, batch]\n"
                  "variables:\n  lr: [0.1, 0.01, 1]\n  batch: [32, 64]\n"
                  "command:\n"
                  "  cmd: 'mkdir -p out/{tagspath} && echo {lr} > out/{tagspath}/result && echo {tags} >> " +
                      e.path("ledger") + "'\n"
                  "  creates: 'out/{tagspath}/result'\n");
  auto again = e.x({"run", g, "--quiet", "--skip-existing"});
  INFO(again.err);
  CHECK(again.code == 0);
  std::string ledger = test::read(e.path("ledger"));
  CHECK(std::count(ledger.begin(), ledger.end(), '\n') == 6);
}

TEST_CASE("tags: a tag that names no variable is exit 2 at its line and column, in check too", "[cli][tags]") {
  Env e;
  auto f = e.file("exp.yml", "command: echo {tagspath}\ntags: [lr, bacth]\nvariables:\n  lr: [1]\n  batch: [2]\n");
  for (const char* cmd : {"run", "check"}) {
    auto r = e.x({cmd, f});
    CHECK(r.code == 2);
    CHECK(r.err.find("exp.yml:2:12") != std::string::npos);
    CHECK(r.err.find("did you mean 'batch'?") != std::string::npos);
  }
  // A variable named tags wins, with a warning at its definition.
  auto w = e.file("w.yml", "command: echo {tags}\ntags: [lr]\nvariables:\n  lr: [1]\n  tags: [x]\n");
  auto c = e.x({"check", w});
  CHECK(c.code == 0);
  CHECK(c.err.find("w.yml:5:3") != std::string::npos);
  auto p = e.x({"plan", w, "--json"});
  REQUIRE(p.code == 0);
  CHECK(nlohmann::json::parse(p.out)["stages"][0]["tasks"][0]["commands"][0] == "echo x");
}

TEST_CASE("tags: the examples of docs/experiment-file.md run and lay out their results", "[cli][tags][docs]") {
  Env e;
  size_t n = 0;
  for (const auto& block : test::yaml_blocks(test::read(test::source_dir() + "/docs/experiment-file.md"))) {
    if (block.find("tags: [") == std::string::npos) continue;
    ++n;
    auto r = e.x({"run", e.file("tags.yml", block), "--quiet"});
    INFO(block << r.err);
    CHECK(r.code == 0);
  }
  CHECK(n == 2);
  CHECK(test::read(e.path("out/batch=64/lr=0.01/result")) == "batch=64,lr=0.01\n");  // tags
  CHECK(test::read(e.path("runs/lr=0.01/where")) == util::absolute(e.path("runs/lr=0.01")) + "\n");  // workdir
}
