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
  auto l = e.x({"list"});
  CHECK(l.code == 0);
  CHECK(l.err.find("internal error") == std::string::npos);
  auto lj = e.x({"list", "--json"});
  REQUIRE(lj.code == 0);
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
