// plan.bin, the cache of plan.json: commands that read the plan answer the same bytes with it
// as without it, and a plan.json written again is read instead of a cache made before.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/env.hpp"
#include "xrun/util/fs.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {

struct stat stat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

// What the reading commands answer about `id`.
std::vector<std::string> answers(const Env& e, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& args : std::vector<std::vector<std::string>>{{"status", id, "--json"},
                                                                 {"status", id},
                                                                 {"status", id, "--state", "SUCCEEDED"},
                                                                 {"logs", id, "1"},
                                                                 {"logs", id, "4", "--stderr"}}) {
    auto r = e.x(args);
    INFO(args[0]);
    CHECK(r.code == 0);
    out.push_back(r.out);
  }
  return out;
}

}  // namespace

TEST_CASE("status and logs answer the same bytes with the plan's cache as without it", "[cli][cache]") {
  Env e;
  auto file = e.file("exp.yml",
                     "name: cached\n"
                     "jobs:\n"
                     "  - name: sweep\n"
                     "    command: echo {i} {f} {s} {b} {n} && echo err {i} >&2\n"
                     "  - name: eval\n"
                     "    command: echo done\n"
                     "variables:\n"
                     "  i: [1, -2, 99999999999]\n"
                     "  f: [0.1, .inf]\n"
                     "  s: ['ünï ✓']\n"
                     "  b: [yes]\n"
                     "  n: [~]\n");
  auto r = e.x({"run", file, "-q"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  const std::string dir = e.exp_dir(id), bin = dir + "/plan.bin";
  // Made by the first reader of plan.json, well after plan.json was written: it is used.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::unlink(bin.c_str());
  REQUIRE(e.x({"status", id}).code == 0);
  REQUIRE(util::exists(bin));
  const auto made = stat_of(bin);
  auto with_cache = answers(e, id);
  // Used, not written again (that would be a new file).
  CHECK(stat_of(bin).st_ino == made.st_ino);
  CHECK(stat_of(bin).st_mtim.tv_nsec == made.st_mtim.tv_nsec);

  // Without it (plan.bin a folder: neither read nor written), every answer is the same.
  ::unlink(bin.c_str());
  REQUIRE(util::make_dirs(bin));
  auto without = answers(e, id);
  REQUIRE(with_cache.size() == without.size());
  for (size_t k = 0; k < with_cache.size(); ++k) CHECK(with_cache[k] == without[k]);
  CHECK(with_cache[0].find("\"f\":\"inf\"") != std::string::npos);
  CHECK(with_cache[0].find("ünï ✓") != std::string::npos);
}

TEST_CASE("resume --reload is not fooled by the plan's cache", "[cli][cache]") {
  Env e;
  auto file = e.file("exp.yml", "command: echo {x} > /dev/null && test -e " + e.path("ok") + "\nvariables:\n  x: [a, b]\n");
  auto r = e.x({"run", file, "-q"});
  REQUIRE(r.code == 1);
  std::string id = first_line(r.out);
  const std::string bin = e.exp_dir(id) + "/plan.bin";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::unlink(bin.c_str());
  e.x({"status", id});
  REQUIRE(util::exists(bin));
  // The same length of command: plan.json keeps its size.
  e.file("exp.yml", "command: echo {x} > /dev/null && test -e " + e.path("ok") + "\nvariables:\n  x: [c, d]\n");
  e.file("ok", "");
  auto rr = e.x({"resume", id, "--reload", "-q"});
  CHECK(rr.code == 0);
  auto s = e.status(id);
  CHECK(s["tasks"][0]["variables"]["x"] == "c");
  CHECK(s["tasks"][1]["commands"][0].get<std::string>().find("echo d") == 0);
  CHECK(s["counts"]["SUCCEEDED"] == 2);
}
