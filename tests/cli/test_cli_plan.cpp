// `xrun plan` and `xrun check` through the built binary, and every conformance case.
#include <catch2/catch.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/support.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
namespace fs = std::filesystem;

TEST_CASE("every conformance case expands exactly as expected", "[cli][conformance]") {
  size_t n = 0;
  for (const auto& group : fs::directory_iterator(test::source_dir() + "/tests/conformance")) {
    if (!group.is_directory()) continue;
    for (const auto& c : fs::directory_iterator(group.path())) {
      if (!fs::exists(c.path() / "expected.json")) continue;
      ++n;
      INFO("case " << c.path().string());
      auto r = test::xrun({"plan", (c.path() / "experiment.yml").string(), "--json"});
      REQUIRE(r.code == 0);
      auto got = nlohmann::json::parse(r.out);
      auto want = nlohmann::json::parse(test::read((c.path() / "expected.json").string()));
      nlohmann::json stages = nlohmann::json::array();
      for (const auto& s : got["stages"]) {
        nlohmann::json tasks = nlohmann::json::array();
        for (const auto& t : s["tasks"]) {
          std::string joined;
          for (const auto& cmd : t["commands"]) joined += (joined.empty() ? "" : " && ") + cmd.get<std::string>();
          tasks.push_back(joined);
        }
        stages.push_back(tasks);
      }
      CHECK(stages == want);
    }
  }
  CHECK(n >= 34);
}

TEST_CASE("plan --json follows the documented contract", "[cli][plan]") {
  util::TempDir d;
  auto f = test::write_file(d.path(), "e.yml",
                            "name: contract\njobs:\n  - name: a\n    command:\n      cmd: run {lr:.3f} > {creates}\n      creates: out-{lr}.txt\n"
                            "  - command: sum\n    on_failure: continue\nvariables:\n  lr: [0.1, 0.01]\n");
  auto r = test::xrun({"plan", f, "--json"});
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["name"] == "contract");
  REQUIRE(j["stages"].size() == 2);
  CHECK(j["stages"][0]["name"] == "a");
  CHECK(j["stages"][1]["on_failure"] == "continue");
  auto t = j["stages"][0]["tasks"][1];
  CHECK(t["index"] == 1);
  CHECK(t["commands"] == nlohmann::json::array({"run 0.010 > out-0.01.txt"}));
  CHECK(t["variables"]["lr"] == 0.01);
  CHECK(t["creates"] == "out-0.01.txt");
  CHECK(t["requires"].is_null());
  CHECK(j["stages"][1]["tasks"].size() == 1);
}

TEST_CASE("plan without --json is a numbered list per stage - --set overrides", "[cli][plan]") {
  util::TempDir d;
  auto f = test::write_file(d.path(), "e.yml", "command: echo {x}\nvariables:\n  x: [1, 2]\n");
  auto r = test::xrun({"plan", f});
  REQUIRE(r.code == 0);
  CHECK(r.out.find("stage 1/1 'main'") != std::string::npos);
  CHECK(r.out.find("[1] echo 2") != std::string::npos);
  auto s = test::xrun({"plan", f, "--set", "x=[7,8,9]", "--json"});
  REQUIRE(s.code == 0);
  CHECK(nlohmann::json::parse(s.out)["stages"][0]["tasks"].size() == 3);
  CHECK(test::xrun({"plan", f, "--set", "oops"}).code == 2);
}

TEST_CASE("the documentation's examples are valid and plan", "[cli][docs]") {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(test::source_dir() + "/examples")) {
    if (e.path().extension() != ".yml") continue;
    ++n;
    INFO(e.path().string());
    auto r = test::xrun({"check", e.path().string()});
    CHECK(r.code == 0);
    CHECK(test::xrun({"plan", e.path().string(), "--json"}).code == 0);
  }
  CHECK(n >= 5);
}

TEST_CASE("every yaml block in the docs and README is a valid experiment file", "[cli][docs]") {
  size_t n = 0;
  util::TempDir d;
  std::vector<std::string> pages{test::source_dir() + "/README.md"};
  for (const auto& e : fs::recursive_directory_iterator(test::source_dir() + "/docs"))
    if (e.path().extension() == ".md") pages.push_back(e.path().string());
  for (const auto& page : pages) {
    for (const auto& block : test::yaml_blocks(test::read(page))) {
      ++n;
      auto f = test::write_file(d.path(), "doc" + std::to_string(n) + ".yml", block);
      INFO(page << ":\n" << block);
      auto r = test::xrun({"check", f});
      CHECK(r.code == 0);
      CHECK(test::xrun({"plan", f, "--json"}).code == 0);
    }
  }
  CHECK(n >= 10);
}

TEST_CASE("check summarises stages, variables and warnings", "[cli][check]") {
  util::TempDir d;
  auto f = test::write_file(d.path(), "e.yml",
                            "command: echo {a} {b}\nvariables:\n  zip:\n    a: [1, 2, 3]\n    b: [x, y]\n  unused: [1, 2]\n");
  auto r = test::xrun({"check", f});
  CHECK(r.code == 0);
  CHECK(r.out.find("valid") != std::string::npos);
  CHECK(r.out.find("2 tasks") != std::string::npos);
  CHECK(r.out.find("unused") != std::string::npos);
  CHECK(r.err.find("warning: zip inputs differ in length (3, 2)") != std::string::npos);
  CHECK(r.err.find("'unused' is not used") != std::string::npos);
  CHECK(r.err.find(f + ":3:3: warning") != std::string::npos);

  auto j = test::xrun({"check", f, "--json"});
  REQUIRE(j.code == 0);
  auto doc = nlohmann::json::parse(j.out);
  CHECK(doc["valid"] == true);
  CHECK(doc["tasks"] == 2);
  CHECK(doc["stages"][0]["duplicates"] == 2);
  CHECK(doc["warnings"].size() == 2);

  auto big = test::write_file(d.path(), "big.yml", "command: echo {a}\nvariables:\n  a:\n    arange: 20000\n");
  auto rb = test::xrun({"check", big});
  CHECK(rb.code == 0);
  CHECK(rb.err.find("20000 tasks") != std::string::npos);

  auto bad = test::write_file(d.path(), "bad.yml", "command: echo {nope}\n");
  auto rbad = test::xrun({"check", bad, "--json"});
  CHECK(rbad.code == 2);
  CHECK(nlohmann::json::parse(rbad.out)["valid"] == false);
}

TEST_CASE("version and help", "[cli]") {
  auto v = test::xrun({"--version"});
  CHECK(v.code == 0);
  CHECK(v.out.find("xrun ") == 0);
  auto h = test::xrun({"--help"});
  CHECK(h.code == 0);
  for (const char* c : {"plan", "check", "run", "status", "logs", "cancel", "list", "resume"})
    CHECK(h.out.find(c) != std::string::npos);
  auto hp = test::xrun({"help", "run"});
  CHECK(hp.code == 0);
  CHECK(hp.out.find("--detach") != std::string::npos);
  CHECK(test::xrun({"help", "nosuch"}).code == 2);
  auto u = test::xrun({"plna"});
  CHECK(u.code == 2);
  CHECK(u.err.find("did you mean 'plan'") != std::string::npos);
  CHECK(test::xrun({}).code == 2);
  CHECK(test::xrun({"plan"}).code == 2);
}
