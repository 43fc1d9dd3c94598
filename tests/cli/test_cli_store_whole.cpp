// A store that stays whole (issue 37): files replaced as one, whatever step a crash stops at;
// damage listed and said; ...
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
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

TEST_CASE("every damaged experiment is listed as damaged (a folder, a link, a FIFO or bytes that are not UTF-8 at "
          "meta.json) and list exits 1 - a half-made one is not listed",
          "[cli][store][damage]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'true {i}'\nvariables:\n  i: [0, 1]\n");
  std::vector<std::string> ids;
  for (int k = 0; k < 5; ++k) {
    auto r = e.x({"run", f, "--quiet"});
    REQUIRE(r.code == 0);
    ids.push_back(first_line(r.out));
  }
  const std::string outside = test::read(e.exp_dir(ids[4]) + "/meta.json");
  auto meta = [&](int k) { return e.exp_dir(ids[k]) + "/meta.json"; };
  ::unlink(meta(0).c_str());
  REQUIRE(::mkdir(meta(0).c_str(), 0755) == 0);  // a folder
  test::write_file(e.exp_dir(ids[1]), "meta.json", "{\"name\": \"caf\xe9 \xff\", \"id\": 1}");  // not UTF-8
  ::unlink(meta(2).c_str());
  test::write_file(e.path("elsewhere"), "meta.json", outside);
  REQUIRE(::symlink(e.path("elsewhere/meta.json").c_str(), meta(2).c_str()) == 0);  // a link
  ::unlink(meta(3).c_str());
  REQUIRE(::mkfifo(meta(3).c_str(), 0644) == 0);  // a FIFO: never read (it would block)
  const std::string half = "exp-20261207-000000-half";  // made, meta.json not written yet
  REQUIRE(::mkdir((e.path("store/experiments/") + half).c_str(), 0755) == 0);
  auto lj = e.x({"list", "--json"});
  CHECK(lj.code == 1);
  CHECK(lj.err.find("internal error") == std::string::npos);
  auto list = nlohmann::json::parse(lj.out);
  std::map<std::string, std::string> seen;
  for (const auto& x : list) seen[x["id"]] = x.value("error", std::string(x["state"]));
  CHECK(seen.size() == 5);
  CHECK(seen.count(half) == 0);
  CHECK(seen[ids[0]].find("is a folder") != std::string::npos);
  CHECK(seen[ids[1]].find("not valid JSON") != std::string::npos);
  CHECK(seen[ids[2]].find("symbolic link") != std::string::npos);
  CHECK(seen[ids[3]].find("not a regular file") != std::string::npos);
  CHECK(seen[ids[4]] == "succeeded");
  auto l = e.x({"list"});
  CHECK(l.code == 1);
  for (const auto& id : ids) CHECK(l.out.find(id) != std::string::npos);
  for (int k = 0; k < 4; ++k) {
    auto s = e.x({"status", ids[k]});
    CHECK(s.code == 1);
    CHECK(s.err.find("damaged") != std::string::npos);
  }
}

TEST_CASE("rm removes every damaged experiment, with or without --force, and says what was wrong",
          "[cli][store][damage]") {
  for (bool force : {false, true}) {
    DYNAMIC_SECTION("force " << force) {
      Env e;
      auto f = e.file("exp.yml", "command: 'true {i}'\nvariables:\n  i: [0, 1]\n");
      std::vector<std::string> ids;
      for (int k = 0; k < 4; ++k) ids.push_back(first_line(e.x({"run", f, "--quiet"}).out));
      auto at = [&](int k, const std::string& name) { return e.exp_dir(ids[k]) + "/" + name; };
      ::unlink(at(0, "meta.json").c_str());
      REQUIRE(::mkdir(at(0, "meta.json").c_str(), 0755) == 0);
      test::write_file(e.exp_dir(ids[1]), "meta.json", "{\"id\": tru");
      test::write_file(e.exp_dir(ids[2]), "plan.json", "[1, 2, 3]");
      ::unlink(at(3, "meta.json").c_str());
      REQUIRE(::mkfifo(at(3, "meta.json").c_str(), 0644) == 0);
      std::vector<std::string> args{"rm"};
      if (force) args.push_back("--force");
      for (const auto& id : ids) args.push_back(id);
      auto r = e.x(args);
      CHECK(r.code == 0);
      for (const auto& id : ids) {
        CHECK(r.out.find("removed " + id) != std::string::npos);
        CHECK_FALSE(util::exists(e.exp_dir(id)));
      }
      CHECK(r.err.find("was damaged: ") != std::string::npos);
      auto l = e.x({"list", "--json"});
      CHECK(l.code == 0);
      CHECK(nlohmann::json::parse(l.out).empty());
    }
  }
}

namespace {
// The id of the one experiment folder in the store.
std::string only_folder(const Env& e) {
  auto names = util::list_dir(e.path("store/experiments"));
  REQUIRE(names.size() == 1);
  return names[0];
}
}  // namespace

TEST_CASE("a run cut short while it creates the experiment leaves a half-made folder that status names, rm and gc "
          "remove once its creator is gone, and never while it lives",
          "[cli][store][damage]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'true {i}'\nvariables:\n  i: [0, 1]\n");
  auto opts = e.opts;
  opts.env["XRUN_CRASH_AT"] = "create:half";
  for (const char* how : {"rm", "gc"}) {
    DYNAMIC_SECTION(how) {
      auto cut = test::xrun({"run", f, "--quiet"}, opts);
      REQUIRE(cut.code == 128 + 9);
      const std::string id = only_folder(e);
      CHECK_FALSE(util::exists(e.exp_dir(id) + "/meta.json"));
      auto l = e.x({"list", "--json"});
      CHECK(l.code == 0);
      CHECK(nlohmann::json::parse(l.out).empty());  // not listed
      auto s = e.x({"status", id});
      CHECK(s.code == 1);
      CHECK(s.err.find("half-made") != std::string::npos);
      auto r = std::string(how) == "rm" ? e.x({"rm", id}) : e.x({"gc", "--older-than", "30d"});
      CHECK(r.code == 0);
      CHECK_FALSE(util::exists(e.exp_dir(id)));
    }
  }
  SECTION("its creator still alive") {
    auto cut = test::xrun({"run", f, "--quiet"}, opts);
    REQUIRE(cut.code == 128 + 9);
    const std::string id = only_folder(e);
    // A creator at work holds the lock of `.creating` (here: this test, as a creator would).
    util::Fd hold(::open((e.exp_dir(id) + "/.creating").c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(::flock(hold.get(), LOCK_EX) == 0);
    auto s = e.x({"status", id});
    CHECK(s.code == 1);
    CHECK(s.err.find("is being created") != std::string::npos);
    CHECK(e.x({"rm", id}).code != 0);
    CHECK(e.x({"gc", "--older-than", "0s"}).code == 0);
    CHECK(util::exists(e.exp_dir(id)));  // never removed under its creator
  }
}

TEST_CASE("a damaged index is damage: status and list say so and exit 1, resume refuses and runs nothing, rm removes "
          "it - never every finished task PENDING again",
          "[cli][store][damage][index]") {
  for (std::string how : {"empty", "folder", "link", "missing", "garbage"}) {
    DYNAMIC_SECTION(how) {
      Env e;
      const std::string ledger = e.path("ledger");
      auto f = e.file("exp.yml", "command: 'echo {i} >> " + ledger + "'\nvariables:\n  i: [0, 1, 2]\n");
      auto r = e.x({"run", f, "--quiet"});
      REQUIRE(r.code == 0);
      const std::string id = first_line(r.out), index = e.exp_dir(id) + "/index";
      REQUIRE(util::exists(index));  // the run folded its tasks
      const std::string text = test::read(index), ran = test::read(ledger);
      ::unlink(index.c_str());
      if (how == "empty") test::write_file(e.exp_dir(id), "index", "");
      if (how == "folder") REQUIRE(::mkdir(index.c_str(), 0755) == 0);
      if (how == "link") {
        test::write_file(e.path("elsewhere"), "index", text);
        REQUIRE(::symlink(e.path("elsewhere/index").c_str(), index.c_str()) == 0);
      }
      if (how == "garbage") test::write_file(e.exp_dir(id), "index", "\x01\x02 not an index\n");
      auto s = e.x({"status", id, "--json"});
      CHECK(s.code == 1);
      CHECK(s.out.empty());
      CHECK(s.err.find("index of finished tasks") != std::string::npos);
      auto l = e.x({"list", "--json"});
      CHECK(l.code == 1);
      auto list = nlohmann::json::parse(l.out);
      REQUIRE(list.size() == 1);
      CHECK(list[0]["state"] == "damaged");
      CHECK(list[0]["error"].get<std::string>().find("index") != std::string::npos);
      auto res = e.x({"resume", id});
      CHECK(res.code == 1);
      CHECK(res.err.find("index of finished tasks") != std::string::npos);
      CHECK(test::read(ledger) == ran);  // nothing ran again
      if (how == "link") CHECK(test::read(e.path("elsewhere/index")) == text);  // untouched
      auto rm = e.x({"rm", id});
      CHECK(rm.code == 0);
      CHECK_FALSE(util::exists(e.exp_dir(id)));
    }
  }
}

namespace {
// Everything in `dir` (recursively) as "name=content" lines: what a planted link points at,
// before and after.
std::string snapshot(const std::string& dir) {
  std::string out;
  for (const auto& name : util::list_dir(dir)) {
    const std::string p = dir + "/" + name;
    out += util::is_dir(p) ? name + "/{" + snapshot(p) + "}\n" : name + "=" + test::read(p) + "\n";
  }
  return out;
}
}  // namespace

TEST_CASE("a symbolic link planted at any store path is never written or read through, by any command",
          "[cli][store][links]") {
  // Each store path, as a file or a folder, with each command that opens it.
  struct Plant {
    std::string rel;
    bool folder;
  };
  const std::vector<Plant> plants = {
      {"runner.log", false}, {"workers.log", false},  {"lock", false},        {"index.lock", false},
      {"summary.json", false}, {"runner.json", false}, {"spares", false},     {"plan.bin", false},
      {"tasks/0/stdout", false}, {"tasks/0/stderr", false}, {"tasks/0/control", false},
      {"tasks/0/attempt", false}, {"tasks/0", true},    {"tasks", true},      {"cancel", true}};
  const std::vector<std::vector<std::string>> commands = {
      {"status", "--json"}, {"logs", "0"}, {"logs", "--failed"}, {"cancel"}, {"resume", "-q"}, {"resume", "--detach", "-q"}, {"list"}};
  for (const auto& plant : plants) {
    for (const auto& cmd : commands) {
      DYNAMIC_SECTION(plant.rel << " " << cmd[0] << (cmd.size() > 1 ? " " + cmd[1] : "")) {
        Env e;
        // Task 0 fails and keeps its records and output in its folder (a resume runs it again);
        // task 1 waits, so that a cancel has something to cancel.
        auto f = e.file("exp.yml", "command: 'echo out {i}; echo err {i} >&2; exit {i}'\nvariables:\n  i: [3, 0]\n");
        auto r = e.x({"run", f, "-q"});
        const std::string id = first_line(r.out), dir = e.exp_dir(id);
        const std::string outside = e.path("outside");
        test::write_file(outside, "target", "OUTSIDE\n");
        test::write_file(outside + "/folder", "0", "OUTSIDE\n");
        const std::string at = dir + "/" + plant.rel;
        util::remove_all(at);
        (void)util::make_dirs(util::dirname(at));
        const std::string target = plant.folder ? outside + "/folder" : outside + "/target";
        REQUIRE(::symlink(target.c_str(), at.c_str()) == 0);
        const std::string before = snapshot(outside);
        std::vector<std::string> args{cmd[0]};
        if (cmd[0] != "list") args.push_back(id);
        for (size_t k = 1; k < cmd.size(); ++k) args.push_back(cmd[k]);
        auto out = e.x(args);
        INFO(out.err);
        if (cmd.size() > 1 && cmd[1] == "--detach") ::usleep(1500000);  // its runner at work
        CHECK(out.err.find("internal error") == std::string::npos);
        CHECK(out.out.find("OUTSIDE") == std::string::npos);  // nothing read through the link
        CHECK(snapshot(outside) == before);                     // nothing written through it
      }
    }
  }
}

TEST_CASE("Ctrl-C of a large run: the tasks that never started read CANCELLED from one bulk record, with no folder "
          "each - resume runs each of them once",
          "[cli][store][interrupt]") {
  Env e;
  const int n = 3000;
  const std::string ledger = e.path("ledger"), go = e.path("go");
  auto f = e.file("exp.yml", "command: 'if [ -e " + go + " ]; then echo {i} >> " + ledger +
                                 "; else sleep 30; fi'\nvariables:\n  i:\n    arange: " + std::to_string(n) + "\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  const std::string id = test::wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.status(id)["counts"]["RUNNING"] == 2; }, 30));
  ::kill(b.pid, SIGINT);
  CHECK(b.wait() == 130);
  const std::string dir = e.exp_dir(id);
  CHECK(util::list_dir(dir + "/tasks").size() <= 4);  // the running tasks' (and queued ones'), not one per task
  CHECK(util::exists(dir + "/unstarted"));
  auto s = e.status(id);
  CHECK(s["counts"]["CANCELLED"] == n);
  CHECK(s["tasks"][n - 1]["state"] == "CANCELLED");
  CHECK(s["tasks"][n - 1]["reason"] == "interrupted by SIGINT before it started");
  auto l = nlohmann::json::parse(e.x({"list", "--json"}).out);
  CHECK(l[0]["counts"]["CANCELLED"] == n);
  // Resume runs every one of them, once.
  e.file("go", "");
  auto r = e.x({"resume", id, "-j", "2", "--quiet"});
  CHECK(r.code == 0);
  CHECK_FALSE(util::exists(dir + "/unstarted"));
  CHECK(e.status(id)["counts"]["SUCCEEDED"] == n);
  auto ran = util::split(test::read(ledger), '\n');
  std::sort(ran.begin(), ran.end());
  ran.erase(std::unique(ran.begin(), ran.end()), ran.end());
  CHECK(ran.size() == static_cast<size_t>(n) + 1);  // each task's line once (and the last empty one)
  CHECK(util::split(test::read(ledger), '\n').size() == static_cast<size_t>(n) + 1);
}
