// The local pool's worker (`xrun _worker`, run/worker.hpp) and the runner handing each worker its
// next task ahead of time.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstring>

#include <set>

#include <fmt/format.h>

#include "support/env.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;

namespace {
// A tasks folder with task 0, whose script leaves a mark.
std::string one_task(const Env& e) {
  REQUIRE(util::make_dirs(e.path("tasks/0")).ok());
  e.file("tasks/0/cmd.sh", "echo ran > " + e.path("mark") + "\necho out\n");
  return e.path("tasks");
}
// `xrun _worker TASKS ''` fed by `feed`, a shell command writing its input.
test::RunResult worker(const Env& e, const std::string& tasks, const std::string& feed) {
  return test::run_program({"sh", "-c", feed + " | \"$0\" _worker \"$1\" ''", XRUN_BIN, tasks}, e.opts);
}
// The worker handed task `id` as the runner hands it: "ID ATTEMPT LENGTH ENVLENGTH[<TAB>words]",
// the script, then `vars` (NAME=value, each ending in a NUL byte); its input stays open a while.
test::RunResult hand(const Env& e, const std::string& id, const std::string& script,
                     const std::vector<std::string>& vars, const std::string& words = "") {
  std::string block;
  for (const auto& v : vars) (block += v) += '\0';
  e.file("script", script);
  e.file("vars", block);
  return worker(e, e.path("tasks"),
                fmt::format("(printf '{} 1 {} {}{}\\n'; cat script vars; sleep 1)", id, script.size(), block.size(),
                            words.empty() ? "" : "\\t" + words));
}
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  for (auto& l : util::split(text, '\n'))
    if (!l.empty()) out.push_back(l);
  return out;
}
}  // namespace

TEST_CASE("the worker runs a task handed to it and records it as the wrapper does", "[cli][worker]") {
  Env e;
  std::string tasks = one_task(e);
  // Its input stays open while it runs the task (as the runner keeps it open).
  auto r = worker(e, tasks, "(printf '0\\n'; sleep 1)");
  REQUIRE(r.code == 0);
  auto said = lines(r.out);
  REQUIRE(said.size() == 2);
  CHECK(util::starts_with(said[0], "S "));
  CHECK(said[1] == "E 0 0");
  CHECK(util::exists(e.path("mark")));
  CHECK(test::read(tasks + "/0/stdout") == "out\n");
  auto started = test::read(tasks + "/0/started");
  CHECK(started.find("state=RUNNING") != std::string::npos);
  CHECK(started.find("written=1") != std::string::npos);
  auto status = test::read(tasks + "/0/status");
  CHECK(status.find("state=SUCCEEDED") != std::string::npos);
  CHECK(status.find("exit=0") != std::string::npos);
}

TEST_CASE("the worker does not start a task whose line ends its input (the runner is being interrupted)",
          "[cli][worker]") {
  Env e;
  std::string tasks = one_task(e);
  // The line and the end of input are both there when the worker reads (a file, not a pipe
  // whose writer may close it only after the worker has looked).
  e.file("in", "0\n");
  auto r = test::run_program({"sh", "-c", "\"$0\" _worker \"$1\" '' < in", XRUN_BIN, tasks}, e.opts);
  REQUIRE(r.code == 0);
  CHECK(r.out.empty());
  CHECK_FALSE(util::exists(e.path("mark")));
  CHECK_FALSE(util::exists(tasks + "/0/started"));
}

TEST_CASE("the worker runs a script handed with the task: $0 names cmd.sh, no file is written, the attempt is recorded",
          "[cli][worker]") {
  Env e;
  REQUIRE(util::make_dirs(e.path("tasks/3")).ok());
  // Two lines, a quote and a tab inside: the script arrives byte for byte.
  const std::string script = "echo \"$0\"\nprintf 'a\\tb %s\\n' \"it's\"\n";
  e.file("script", script);
  auto r = worker(e, e.path("tasks"), fmt::format("(printf '3 4 {}\\n'; cat script; sleep 1)", script.size()));
  REQUIRE(r.code == 0);
  CHECK(lines(r.out).back() == "E 0 3");
  CHECK(test::read(e.path("tasks/3/stdout")) == e.path("tasks/3/cmd.sh") + "\na\tb it's\n");
  CHECK_FALSE(util::exists(e.path("tasks/3/cmd.sh")));
  CHECK(test::read(e.path("tasks/3/status")).find("attempt=4") != std::string::npos);
}

TEST_CASE("the variables handed with a task reach its shell's environment byte for byte, not its record",
          "[cli][worker]") {
  Env e;
  REQUIRE(util::make_dirs(e.path("tasks/2")).ok());
  const std::string script = "printf '%s|%s|%s' \"$lr\" \"$name\" \"$XRUN_TASK_ID\"\n";
  auto r = hand(e, "2", script, {"lr=0.5", "name=a b'c\nd\te", "XRUN_TASK_ID=2"}, "GPU=1");
  REQUIRE(r.code == 0);
  CHECK(lines(r.out).back() == "E 0 2");
  CHECK(test::read(e.path("tasks/2/stdout")) == "0.5|a b'c\nd\te|2");
  // The started record keeps the resource words only.
  auto started = test::read(e.path("tasks/2/started"));
  CHECK(started.find("GPU=1") != std::string::npos);
  CHECK(started.find("lr=") == std::string::npos);
}

TEST_CASE("a script too long for an argument next to the worker's environment runs from cmd.sh",
          "[cli][worker]") {
  Env e;
  REQUIRE(util::make_dirs(e.path("tasks/0")).ok());
  // The environment fills all but ~40 KiB of what exec takes (argv and environment together):
  // a 60 KiB script cannot be an argument, the worker writes it to cmd.sh and runs that.
  const long arg_max = ::sysconf(_SC_ARG_MAX);
  REQUIRE(arg_max > 200 * 1024);
  size_t used = 0;
  for (char** v = environ; *v; ++v) used += std::strlen(*v) + 1 + sizeof(char*);
  for (const auto& kv : e.opts.env) used += kv.first.size() + kv.second.size() + 2 + sizeof(char*);
  REQUIRE(used + 100 * 1024 < static_cast<size_t>(arg_max));
  size_t room = static_cast<size_t>(arg_max) - 40 * 1024 - used;
  for (int k = 0; room > 1024; ++k) {
    size_t n = std::min<size_t>(room - 512, 100 * 1024);
    e.opts.env[fmt::format("XRUN_TEST_FILL{}", k)] = std::string(n, 'x');
    room -= n + 32;
  }
  const std::string script = "# xrun task 0: stage 'main', index 0, attempt 1\n: " + std::string(60 * 1024, 'y') +
                             "\necho long \"$lr\"\n";
  // Its variables, too, are exported by the file the worker writes.
  auto r = hand(e, "0", script, {"lr=it's"});
  REQUIRE(r.code == 0);
  CHECK(lines(r.out).back() == "E 0 0");
  CHECK(test::read(e.path("tasks/0/stdout")) == "long it's\n");
  CHECK(test::read(e.path("tasks/0/cmd.sh")) == run::with_exports(script, {"lr=it's"}));
}

TEST_CASE("long scripts: over a pipe's atomic write they are handed when a slot is free, over 64 KiB they run from cmd.sh",
          "[cli][worker]") {
  Env e;
  for (size_t pad : {size_t{5000}, size_t{70 * 1024}}) {
    INFO(pad);
    ::unlink(e.path("ran.txt").c_str());
    auto f = e.file("exp.yml", "command: 'echo {i} >> ran.txt # " + std::string(pad, 'x') +
                                   "'\nvariables:\n  i:\n    arange: 60\n");
    auto r = e.x({"run", f, "-j", "2", "-q"});
    REQUIRE(r.code == 0);
    auto ran = lines(test::read(e.path("ran.txt")));
    CHECK(ran.size() == 60);
    CHECK(std::set<std::string>(ran.begin(), ran.end()).size() == 60);
    CHECK(e.status(test::first_line(r.out))["counts"]["SUCCEEDED"] == 60);
  }
}

// (A missing shell, a shell killed by a signal and odd ids: test_cli_worker_faults.cpp.)

TEST_CASE("Ctrl-C while each worker holds its next task: no task starts after it, none runs twice",
          "[cli][worker][signals]") {
  Env e;
  // Short tasks first (the runner queues a next task in each worker only while tasks are short),
  // then long ones: when the signal comes, each worker runs a long task and holds a queued one.
  auto f = e.file("exp.yml",
                  "command: 'echo {i} >> started.txt; if [ {i} -ge 60 ]; then sleep 0.5; fi'\n"
                  "variables:\n  i:\n    arange: 100\n");
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  REQUIRE(test::eventually([&] { return !b.out().empty(); }));
  std::string id = test::first_line(b.out());
  REQUIRE(test::eventually([&] { return lines(test::read(e.path("started.txt"))).size() >= 62; }));
  ::usleep(100 * 1000);
  ::kill(b.pid, SIGINT);
  size_t at_signal = lines(test::read(e.path("started.txt"))).size();
  CHECK(b.wait(20) == 130);
  ::usleep(600 * 1000);
  auto ran = lines(test::read(e.path("started.txt")));
  // (One more at most: a task that ended just as the signal came may have let its worker start
  // the next one before the runner closed its input; it is stopped and CANCELLED.)
  CHECK(ran.size() <= at_signal + 1);
  CHECK(std::set<std::string>(ran.begin(), ran.end()).size() == ran.size());
  auto s = e.status(id);
  size_t started = 0;
  for (const auto& t : s["tasks"]) {
    std::string state = t["state"];
    CHECK((state == "SUCCEEDED" || state == "CANCELLED"));
    if (state == "SUCCEEDED" || t["duration"].is_number()) ++started;  // (a start recorded)
  }
  CHECK(started == ran.size());
}

TEST_CASE("Ctrl-C just as a worker starts its queued task: the task keeps its own records (not CANCELLED, not run again)",
          "[cli][worker][signals]") {
  // A worker that read its next task together with its current one starts it as soon as the
  // current one ends, and says both at once. A Ctrl-C in between found the task still queued,
  // and recording it "CANCELLED before it started" archived the records its worker had written:
  // a task that ran showed CANCELLED and `resume` ran it again. The moment is a matter of chance:
  // tasks that ignore SIGTERM and end at once, interrupted at several points (each runs out of
  // tasks long before its end).
  Env e;
  auto f = e.file("exp.yml",
                  "command: \"trap '' TERM; echo {i} >> done.txt\"\n"
                  "variables:\n  i:\n    arange: 3000\n");
  for (int round = 0; round < 8; ++round) {
    INFO("round " << round);
    ::unlink(e.path("done.txt").c_str());
    auto b = e.bg({"run", f, "-j", "4", "--quiet"});
    REQUIRE(test::eventually([&] { return lines(test::read(e.path("done.txt"))).size() >= 50u * (round + 1); }));
    ::kill(b.pid, SIGINT);
    CHECK(b.wait(30) == 130);
    std::string id = test::first_line(b.out());
    auto ran = lines(test::read(e.path("done.txt")));
    std::set<std::string> done(ran.begin(), ran.end());
    CHECK(done.size() == ran.size());
    auto s = e.status(id);
    size_t succeeded = 0;
    for (const auto& t : s["tasks"]) {
      std::string n = std::to_string(t["id"].get<long>());
      INFO("task " << n << " " << t.dump());
      if (done.count(n)) {
        CHECK(t["state"] == "SUCCEEDED");
        CHECK(t["attempt"] == 1);
      }
      if (t["state"] == "SUCCEEDED") ++succeeded;
    }
    CHECK(succeeded == done.size());
  }
}

TEST_CASE("a task is never held back behind a long one while a slot is idle", "[cli][worker]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep {t}'\nvariables:\n  t: [2, 0.2, 1]\n");
  auto r = e.x({"run", f, "-j", "2", "--quiet"});
  REQUIRE(r.code == 0);
  auto s = e.status(test::first_line(r.out));
  // The third task starts when the short one ends, not after the long one.
  CHECK(s["tasks"][2]["start"].get<double>() < s["tasks"][0]["end"].get<double>());
}

TEST_CASE("a process that leaves its task's group with its output open never writes into another task's log",
          "[cli][worker]") {
  Env e;
  // Short tasks (their folders are reused); the first three leave a process in a session of its
  // own that writes to the task's stdout once later tasks run.
  auto f = e.file("exp.yml",
                  "command: \"if [ {i} -lt 3 ]; then setsid sh -c 'sleep 2; echo LEAK-from-{i}' & fi; sleep 0.02\"\n"
                  "variables:\n  i:\n    arange: 400\n");
  auto r = e.x({"run", f, "-j", "2", "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = test::first_line(r.out);
  ::usleep(2500 * 1000);
  for (size_t t = 3; t < 400; ++t) {
    auto out = e.x({"logs", id, std::to_string(t)});
    INFO("task " << t);
    CHECK(out.out.find("LEAK") == std::string::npos);
  }
}
