// The run store under hostile conditions: ordering by creation time, empty references, damaged
// files, links planted inside it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "support/env.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

TEST_CASE("latest and list follow the real creation time, whatever the names and time zones", "[cli][store]") {
  Env e;
  auto a = e.file("zzz.yml", "command: echo a\n");
  auto b = e.file("aaa.yml", "command: echo b\n");
  auto oa = e.opts;
  oa.env["TZ"] = "Etc/GMT-10";  // ten hours ahead: its id's clock reads later
  std::string first = first_line(test::xrun({"run", a, "-q"}, oa).out);
  std::string second = first_line(e.x({"run", b, "-q"}).out);  // same second, name sorts first
  REQUIRE(first.rfind("zzz-", 0) == 0);
  REQUIRE(second.rfind("aaa-", 0) == 0);
  CHECK(e.status("latest")["id"] == second);
  auto list = nlohmann::json::parse(e.x({"list", "--json"}).out);
  REQUIRE(list.size() == 2);
  CHECK(list[0]["id"] == second);
  CHECK(list[1]["id"] == first);
}

TEST_CASE("an empty experiment reference is an error, never 'latest'", "[cli][store]") {
  Env e;
  e.x({"run", e.file("exp.yml", "command: sleep 0\n"), "-q"});
  for (std::vector<std::string> args : {std::vector<std::string>{"cancel", ""}, {"status", ""}, {"resume", ""},
                                        {"logs", "", "0"}, {"rm", ""}}) {
    auto r = e.x(args);
    INFO(args[0]);
    CHECK(r.code == 2);
    CHECK(r.err.find("empty experiment reference") != std::string::npos);
  }
  CHECK(e.x({"list", "--json"}).out.find("\"succeeded\"") != std::string::npos);  // nothing was cancelled or removed
}

TEST_CASE("a damaged store file affects only its own experiment", "[cli][store]") {
  Env e;
  auto f = e.file("exp.yml", "command: echo {i}\nvariables:\n  i: [1, 2]\n");
  std::vector<std::string> ids;
  for (int k = 0; k < 6; ++k) ids.push_back(first_line(e.x({"run", f, "-q"}).out));
  test::write_file(e.exp_dir(ids[0]), "meta.json", "{\"id\": tru");                       // truncated
  test::write_file(e.exp_dir(ids[1]), "meta.json", "{\"backend\": 5, \"created\": 1}");  // wrong types
  test::write_file(e.exp_dir(ids[2]), "plan.json", "[1, 2, 3]");                          // wrong shape
  test::write_file(e.exp_dir(ids[3]), "summary.json", "{\"state\": 7, \"counts\": [\"x\"]}");
  test::write_file(e.exp_dir(ids[4]), "runner.json", "{\"state\": 3, \"pid\": \"x\", \"host\": []}");
  test::write_file(e.exp_dir(ids[5]) + "/tasks/0", "status", "\x01\x02garbage\nstate=\nwritten=1\n");
  // Listed, each damaged one with what is wrong; the exit code says some are damaged (issue 37:
  // damage is said out loud, as `status` of it does).
  auto l = e.x({"list"});
  CHECK(l.code == 1);
  CHECK(l.err.find("internal error") == std::string::npos);
  auto lj = e.x({"list", "--json"});
  REQUIRE(lj.code == 1);
  auto list = nlohmann::json::parse(lj.out);
  REQUIRE(list.size() == 6);
  size_t damaged = 0;
  for (const auto& x : list) damaged += x["state"] == "damaged";
  CHECK(damaged == 3);  // meta.json twice and plan.json; the others are readable
  for (size_t k = 0; k < 3; ++k) {
    auto s = e.x({"status", ids[k]});
    INFO(ids[k]);
    CHECK(s.code == 1);
    CHECK(s.err.find("internal error") == std::string::npos);
    CHECK(s.err.find("damaged") != std::string::npos);
  }
  for (size_t k = 3; k < 6; ++k) {
    auto s = e.x({"status", ids[k], "--json"});
    INFO(ids[k]);
    CHECK(s.code == 0);
    CHECK(s.err.find("internal error") == std::string::npos);
  }
}

TEST_CASE("links planted in the store are not followed, for reading or writing", "[cli][store]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo {i}; exit 1'\nvariables:\n  i: [1, 2]\n");
  std::string id = first_line(e.x({"run", f, "-q"}).out);
  // Task 0's folder replaced by a link to a folder outside the store holding a forged record.
  std::string outside = e.path("outside");
  test::write_file(outside, "status", "state=SUCCEEDED\nexit=0\nwritten=1\n");
  std::string t0 = e.exp_dir(id) + "/tasks/0";
  util::remove_all(t0);
  REQUIRE(::symlink(outside.c_str(), t0.c_str()) == 0);
  CHECK(e.state(id, 0) != "SUCCEEDED");  // the forged record is not read
  auto r = e.x({"resume", id, "-q"});
  CHECK(r.code != 0);
  CHECK(util::list_dir(outside).size() == 1);  // nothing was written through the link
}

TEST_CASE("task ids are the plan's, not positions: status, logs, resume and folders follow them", "[cli][store][ids]") {
  test::Env e;
  auto f = e.file("exp.yml",
                  "jobs:\n  - name: a\n    command: 'echo a-{x}'\n  - name: b\n    command: 'echo b-done'\n"
                  "variables:\n  x: [1, 2]\n");
  // An experiment whose plan numbers its tasks as a reload leaves them (a's 12 and 10, b's 11),
  // none of which has run yet: made with `run`, then renumbered before anything ran.
  auto made = e.x({"run", f});
  REQUIRE(made.code == 0);
  const std::string id = test::first_line(made.out);
  const std::string plan_path = e.exp_dir(id) + "/plan.json";
  auto plan = nlohmann::json::parse(test::read(plan_path));
  plan["stages"][0]["tasks"][0]["id"] = 12;
  plan["stages"][0]["tasks"][1]["id"] = 10;
  plan["stages"][1]["tasks"][0]["id"] = 11;
  test::write_file(e.exp_dir(id), "plan.json", plan.dump());
  auto before = e.status(id);
  REQUIRE(before["tasks"].size() == 3);
  CHECK(before["tasks"][0]["id"] == 12);
  CHECK(before["tasks"][0]["state"] == "PENDING");  // nothing ran under the new ids
  auto again = e.x({"resume", id});
  CHECK(again.code == 0);
  auto s = e.status(id);
  REQUIRE(s["tasks"].size() == 3);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][0]["id"] == 12);
  CHECK(s["tasks"][1]["id"] == 10);
  CHECK(s["tasks"][2]["id"] == 11);
  for (const auto& t : s["tasks"]) CHECK(t["state"] == "SUCCEEDED");
  CHECK(s["tasks"][1]["stdout"] == e.exp_dir(id) + "/tasks/10/stdout");
  CHECK(e.x({"logs", id, "10"}).out == "a-2\n");
  CHECK(e.x({"logs", id, "a/0"}).out == "a-1\n");
  CHECK(e.x({"logs", id, "b/0"}).out == "b-done\n");
  CHECK(e.x({"logs", id, "1"}).code == 2);  // no task has id 1 now
}

TEST_CASE("names: read commands, resume and diff take an experiment's name (its latest run), rm and cancel do not",
          "[cli][store][names]") {
  test::Env e;
  auto f = e.file("exp.yml", "name: sweep\ncommand: echo {x}\nvariables:\n  x: [1, 2]\n");
  auto g = e.file("other.yml", "name: sweep-b\ncommand: echo b\n");
  const std::string first = test::first_line(e.x({"run", f, "-q"}).out);
  const std::string other = test::first_line(e.x({"run", g, "-q"}).out);
  auto second = e.x({"run", f, "-q"});
  const std::string latest = test::first_line(second.out);
  REQUIRE(first != latest);
  // "sweep" is the name of two runs (and a prefix of sweep-b's id): the latest of that name.
  auto s = e.x({"status", "sweep", "--json"});
  REQUIRE(s.code == 0);
  CHECK(nlohmann::json::parse(s.out)["id"] == latest);
  CHECK(s.err.find("'sweep' names 2 experiments; the latest, " + latest + ", is used") != std::string::npos);
  CHECK(e.x({"logs", "sweep", "1"}).out == "2\n");
  CHECK(nlohmann::json::parse(e.x({"status", "sweep-b", "--json"}).out)["id"] == other);
  CHECK(e.x({"diff", "sweep"}).code == 0);
  CHECK(e.x({"resume", "sweep", "-q"}).code == 0);  // nothing to resume, but found
  // rm and cancel need an id or an unambiguous prefix of one: the name removes nothing.
  CHECK(e.x({"rm", "sweep"}).code == 2);
  CHECK(e.x({"cancel", "sweep"}).code == 2);
  CHECK(util::exists(e.exp_dir(first)));
  CHECK(util::exists(e.exp_dir(latest)));
  // list NAME: that name's runs; the table keeps the runs of a name together.
  auto l = nlohmann::json::parse(e.x({"list", "sweep", "--json"}).out);
  REQUIRE(l.size() == 2);
  CHECK(l[0]["id"] == latest);
  auto table = e.x({"list"}).out;
  CHECK(table.find(latest) < table.find(first));
  CHECK(table.find(first) < table.find(other));  // sweep's runs together, though sweep-b ran between them
}
