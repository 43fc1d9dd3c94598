// An experiment's plan read through plan.bin: the cache is used only while it was made from
// the plan.json in place; any other cache falls back to plan.json (and is written again).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/support.hpp"
#include "xrun/plan/plan_cache.hpp"
#include "xrun/store/plan_cache.hpp"
#include "xrun/util/fs.hpp"

using namespace xrun;
using plan::Plan;

namespace {

Plan plan_named(const std::string& name) {
  Plan p;
  p.name = name;
  p.stages.resize(2);
  p.stages[0].name = "a";
  p.stages[0].tasks.resize(2);
  p.stages[0].tasks[1].index = 1;
  p.stages[0].tasks[1].id = 1;
  p.stages[0].tasks[0].commands = {"echo é"};
  p.stages[0].tasks[0].variables = {{"x", spec::Value::floating(0.5)}, {"l", spec::Value::list({spec::Value::null()})}};
  p.stages[1].name = "b";
  p.stages[1].tasks.resize(1);
  p.stages[1].tasks[0].id = 2;
  return p;
}

plan::SourceStamp stamp(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  auto ns = [](const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; };
  return plan::SourceStamp{static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_ino), ns(st.st_mtim),
                           ns(st.st_ctim)};
}

// The file system's clock moves on (its ticks are a few ms at most).
void next_tick() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

std::string read_name(const std::string& dir) {
  auto r = store::read_plan(dir);
  REQUIRE(r);
  REQUIRE(r->ok());
  return r->value().name;
}

struct Folder {
  util::TempDir tmp{"xrun-plancache-"};
  std::string dir = tmp.path();
  std::string json = dir + "/plan.json", bin = dir + "/plan.bin";
  // plan.json says `name`; plan.bin, made after it, claims to be its cache but says `other`: a
  // reader that answers `other` used the cache.
  void write(const std::string& name, const std::string& other) {
    REQUIRE(util::atomic_write(json, plan_named(name).to_json().dump() + "\n"));
    next_tick();
    REQUIRE(util::atomic_write(bin, plan::encode_cache(plan_named(other), stamp(json))));
  }
};

}  // namespace

TEST_CASE("the plan's cache is used while it was made from the plan.json in place", "[store][cache]") {
  Folder f;
  f.write("plan-one", "from-bin");
  CHECK(read_name(f.dir) == "from-bin");
  CHECK(read_name(f.dir) == "from-bin");
}

TEST_CASE("a plan.json written again is read, not the cache, even at the same size", "[store][cache]") {
  Folder f;
  f.write("plan-one", "from-bin");
  REQUIRE(read_name(f.dir) == "from-bin");
  const auto before = stamp(f.json);

  SECTION("replaced by a rename (resume --reload)") {
    REQUIRE(util::atomic_write(f.json, plan_named("plan-two").to_json().dump() + "\n"));
    CHECK(stamp(f.json).size == before.size);
    CHECK(read_name(f.dir) == "plan-two");
  }
  SECTION("written over in place, its times set back") {
    next_tick();
    REQUIRE(util::overwrite_in_place(f.json, plan_named("plan-two").to_json().dump() + "\n"));
    struct timespec times[2] = {{0, UTIME_OMIT}, {before.mtime_ns / 1000000000, before.mtime_ns % 1000000000}};
    REQUIRE(::utimensat(AT_FDCWD, f.json.c_str(), times, 0) == 0);
    auto now = stamp(f.json);
    CHECK(now.size == before.size);
    CHECK(now.inode == before.inode);
    CHECK(now.mtime_ns == before.mtime_ns);  // only its ctime tells
    CHECK(read_name(f.dir) == "plan-two");
  }
  // The reader wrote the cache again, for the new plan.json.
  auto bytes = util::try_read_file(f.bin);
  REQUIRE(bytes);
  auto d = plan::decode_cache(*bytes, stamp(f.json));
  REQUIRE(d);
  CHECK(d->name == "plan-two");
}

TEST_CASE("a cache written in the same clock tick as plan.json is not used", "[store][cache]") {
  Folder f;
  f.write("plan-one", "from-bin");
  struct stat st {};
  REQUIRE(::stat(f.json.c_str(), &st) == 0);
  struct timespec times[2] = {{0, UTIME_OMIT}, st.st_ctim};  // plan.bin's time: plan.json's change
  REQUIRE(::utimensat(AT_FDCWD, f.bin.c_str(), times, 0) == 0);
  CHECK(read_name(f.dir) == "plan-one");
}

TEST_CASE("a missing, truncated, damaged or foreign cache falls back to plan.json", "[store][cache]") {
  Folder f;
  f.write("plan-one", "from-bin");
  auto good = util::try_read_file(f.bin);
  REQUIRE(good);
  std::string other_version = *good;
  other_version[8] = static_cast<char>(other_version[8] + 1);
  std::string flipped = *good;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 1);
  for (const std::string& bad :
       {std::string(), good->substr(0, good->size() - 1), good->substr(0, 40), std::string(1000, '\xff'), other_version,
        flipped, *good + "x", std::string("{\"name\":\"x\"}")}) {
    REQUIRE(util::atomic_write(f.bin, bad));
    next_tick();
    auto r = store::read_plan(f.dir);
    REQUIRE(r);
    REQUIRE(r->ok());
    auto parsed = Plan::parse(*util::try_read_file(f.json));
    REQUIRE(parsed);
    CHECK(r->value().to_json().dump() == parsed->to_json().dump());
    // ... and the cache was written again, for plan.json.
    auto d = plan::decode_cache(*util::try_read_file(f.bin), stamp(f.json));
    REQUIRE(d);
    CHECK(d->name == "plan-one");
  }
  ::unlink(f.bin.c_str());
  CHECK(read_name(f.dir) == "plan-one");
  CHECK(util::exists(f.bin));
}

TEST_CASE("a cache that cannot be written or read changes nothing", "[store][cache]") {
  Folder f;
  REQUIRE(util::atomic_write(f.json, plan_named("plan-one").to_json().dump() + "\n"));
  REQUIRE(util::make_dirs(f.bin));  // plan.bin a folder: not read, not replaced
  CHECK(read_name(f.dir) == "plan-one");
  CHECK(util::is_dir(f.bin));
  // No temp file is left behind.
  CHECK(util::list_dir(f.dir).size() == 2);
  // plan.json that cannot be read: no plan, as before the cache.
  ::unlink(f.json.c_str());
  CHECK_FALSE(store::read_plan(f.dir));
  REQUIRE(util::make_dirs(f.json));
  CHECK_FALSE(store::read_plan(f.dir));
  // A damaged plan.json is an error, whatever the cache.
  util::remove_all(f.json);
  REQUIRE(util::atomic_write(f.json, "{\"name\":"));
  auto r = store::read_plan(f.dir);
  REQUIRE(r);
  CHECK_FALSE(r->ok());
}
