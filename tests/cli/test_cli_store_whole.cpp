// A store that stays whole (issue 37): files replaced as one, whatever step a crash stops at.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/env.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {
std::string sweep(int a, const std::string& values, const std::string& ledger) {
  return "local: {setup: 'export A=" + std::to_string(a) + "'}\ncommand: 'echo {i} $A >> " + ledger +
         "'\nvariables:\n  i: " + values + "\n";
}
std::string setup_of(const Env& e, const std::string& id) {
  auto meta = nlohmann::json::parse(test::read(e.exp_dir(id) + "/meta.json"));
  return meta["options"]["local"]["setup"].dump();
}
}  // namespace

TEST_CASE("resume --reload cut short at each step: the experiment reads as before its commit point, as after it "
          "once past it, never without a plan",
          "[cli][store][reload]") {
  for (std::string point : {"replace:aside", "replace:journal", "replace:renamed"}) {
    DYNAMIC_SECTION(point) {
      Env e;
      const std::string ledger = e.path("ledger");
      const std::string v1 = sweep(1, "[0, 1]", ledger), v2 = sweep(2, "[0, 1, 2]", ledger);
      auto f = e.file("exp.yml", v1);
      auto r = e.x({"run", f, "--quiet"});
      REQUIRE(r.code == 0);
      const std::string id = first_line(r.out);
      const std::string plan1 = test::read(e.exp_dir(id) + "/plan.json");
      e.file("exp.yml", v2);
      auto opts = e.opts;
      opts.env["XRUN_CRASH_AT"] = point;
      auto cut = test::xrun({"resume", id, "--reload", "--quiet"}, opts);
      REQUIRE(cut.code == 128 + 9);  // it crashed there
      const bool committed = point != "replace:aside";
      auto s = e.x({"status", id, "--json"});
      REQUIRE(s.code == 0);
      auto j = nlohmann::json::parse(s.out);
      CHECK(j["tasks"].size() == (committed ? 3u : 2u));
      CHECK(test::read(e.exp_dir(id) + "/experiment.yml") == (committed ? v2 : v1));
      CHECK(setup_of(e, id).find(committed ? "A=2" : "A=1") != std::string::npos);  // meta.json agrees
      CHECK_FALSE(util::exists(e.exp_dir(id) + "/.replacing"));
      size_t kept = 0;
      for (const auto& name : util::list_dir(e.exp_dir(id)))
        if (name.rfind("plan.", 0) == 0 && name != "plan.json" && name != "plan.bin") {
          ++kept;
          CHECK(test::read(e.exp_dir(id) + "/" + name) == plan1);  // the history is the old plan
        }
      CHECK(kept == (committed ? 1u : 0u));
      // Either way the experiment goes on: each task of the new file runs once.
      auto again = committed ? e.x({"resume", id, "--quiet"}) : e.x({"resume", id, "--reload", "--quiet"});
      CHECK(again.code == 0);
      auto ran = util::split(test::read(ledger), '\n');
      std::sort(ran.begin(), ran.end());
      CHECK(ran == std::vector<std::string>{"", "0 1", "0 2", "1 1", "1 2", "2 2"});
      CHECK(e.status(id)["state"] == "succeeded");
    }
  }
}

TEST_CASE("a damaged journal of replaced files is damage, said out loud", "[cli][store][reload]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'true {i}'\nvariables:\n  i: [0, 1]\n");
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  const std::string id = first_line(r.out);
  for (std::string text : {"garbage", "[[\"plan.json\", \"../../elsewhere\", \"\"]]", "[]"}) {
    test::write_file(e.exp_dir(id), ".replacing", text);
    auto s = e.x({"status", id});
    CHECK(s.code == 1);
    CHECK(s.err.find(".replacing) is damaged") != std::string::npos);
  }
  ::unlink((e.exp_dir(id) + "/.replacing").c_str());
  CHECK(e.x({"status", id}).code == 0);
}
