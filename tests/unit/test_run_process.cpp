// Child::spawn (src/run/process.cpp): what a child gets, whatever its parent set up.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "support/support.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;

namespace {
extern "C" void on_usr1(int) {}

int wait_for(run::Child& c) {
  int st = 0;
  while (::waitpid(c.pid(), &st, 0) < 0) {
  }
  c.mark_reaped(st);
  return st;
}

// The hexadecimal signal mask of `line` ("SigIgn:", "SigBlk:", "SigCgt:") in /proc status text.
unsigned long long mask_of(const std::string& status, const std::string& line) {
  auto at = status.find(line);
  REQUIRE(at != std::string::npos);
  return std::strtoull(status.c_str() + at + line.size(), nullptr, 16);
}
bool has(unsigned long long mask, int sig) { return (mask >> (sig - 1)) & 1ULL; }
}  // namespace

TEST_CASE("a spawned child gets default dispositions, the given mask, its own group and its files", "[run][process]") {
  util::TempDir tmp;
  // The parent ignores PIPE and USR2, catches USR1 and TERM, and blocks INT.
  run::set_handler(SIGPIPE, SIG_IGN);
  run::set_handler(SIGUSR2, SIG_IGN);
  run::set_handler(SIGUSR1, on_usr1);
  run::set_handler(SIGTERM, on_usr1);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  ::sigprocmask(SIG_BLOCK, &block, &old);
  sigset_t child_mask;
  sigemptyset(&child_mask);
  sigaddset(&child_mask, SIGHUP);

  run::Child::Spawn sp;
  sp.argv = {"cat", "/proc/self/status"};  // a bare name: found on PATH
  sp.stdout_path = tmp.path() + "/out";
  sp.stderr_path = tmp.path() + "/err";
  sp.truncate = true;
  sp.child_mask = &child_mask;
  test::write_file(tmp.path(), "out", std::string(100000, 'x'));  // truncated, not written over
  auto c = run::Child::spawn(sp);
  REQUIRE(c.ok());
  const pid_t pid = c->pid();
  CHECK(::getpgid(pid) == pid);  // leads its own process group (read before it is reaped)
  int st = wait_for(c.value());
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  run::set_handler(SIGUSR1, SIG_DFL);
  run::set_handler(SIGUSR2, SIG_DFL);
  run::set_handler(SIGTERM, SIG_DFL);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  const std::string status = test::read(tmp.path() + "/out");
  REQUIRE(status.find("SigIgn:") != std::string::npos);
  const auto ign = mask_of(status, "SigIgn:"), blk = mask_of(status, "SigBlk:"), cgt = mask_of(status, "SigCgt:");
  CHECK_FALSE(has(ign, SIGPIPE));  // set back to its default
  CHECK(has(ign, SIGUSR2));        // an ignored signal stays ignored (as with posix_spawn)
  CHECK(cgt == 0);                 // no handler survives
  CHECK(has(blk, SIGHUP));         // the mask given
  CHECK_FALSE(has(blk, SIGINT));   // not the parent's
  CHECK(test::read(tmp.path() + "/err").empty());
}

TEST_CASE("a spawned child reads /dev/null, appends to its files, and sees its variables over the environment",
          "[run][process]") {
  util::TempDir tmp;
  ::setenv("XRUN_TEST_SPAWN", "parent", 1);
  run::Child::Spawn sp;
  sp.argv = {"/bin/sh", "-c", "cat; echo \"$XRUN_TEST_SPAWN $XRUN_TEST_OTHER\"; echo e >&2"};
  sp.stdout_path = tmp.path() + "/out";
  sp.env = {"XRUN_TEST_SPAWN=child", "XRUN_TEST_OTHER=x y"};
  test::write_file(tmp.path(), "out", "before\n");
  auto c = run::Child::spawn(sp);
  ::unsetenv("XRUN_TEST_SPAWN");
  REQUIRE(c.ok());
  int st = wait_for(c.value());
  CHECK(WIFEXITED(st));
  // No stderr path: it goes where stdout goes.
  CHECK(test::read(tmp.path() + "/out") == "before\nchild x y\ne\n");
}

TEST_CASE("a program that cannot start is an error, and leaves no process behind", "[run][process]") {
  util::TempDir tmp;
  for (const char* prog : {"/no/such/program", "xrun-no-such-program-on-path"}) {
    INFO(prog);
    run::Child::Spawn sp;
    sp.argv = {prog};
    auto c = run::Child::spawn(sp);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().what.find("cannot start") != std::string::npos);
    CHECK(c.error().what.find("No such file") != std::string::npos);
  }
  // A file it cannot open for the output: the same.
  run::Child::Spawn sp;
  sp.argv = {"/bin/true"};
  sp.stdout_path = tmp.path() + "/missing/out";
  auto c = run::Child::spawn(sp);
  REQUIRE_FALSE(c.ok());
  int st = 0;
  CHECK(::waitpid(-1, &st, WNOHANG) < 0);  // reaped already: no child of this process is left
}

TEST_CASE("a descriptor handed as the child's own 0 or 1, close-on-exec, stays open in it", "[run][process]") {
  // dup2 onto itself leaves close-on-exec set: posix_spawn's adddup2 clears it then (glibc 2.29,
  // Austin Group 411), and so must spawn. (A parent started with fd 0 closed gets its pipe there.)
  util::TempDir tmp;
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  REQUIRE(::write(p[1], "piped\n", 6) == 6);
  ::close(p[1]);
  const int saved0 = ::fcntl(0, F_DUPFD_CLOEXEC, 10);
  const int saved1 = ::fcntl(1, F_DUPFD_CLOEXEC, 10);
  REQUIRE(saved0 >= 0);
  REQUIRE(saved1 >= 0);
  const int out = ::open((tmp.path() + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(out >= 0);
  REQUIRE(::dup3(p[0], 0, O_CLOEXEC) == 0);
  REQUIRE(::dup3(out, 1, O_CLOEXEC) == 1);
  ::close(p[0]);
  ::close(out);
  run::Child::Spawn sp;
  sp.argv = {"/bin/sh", "-c", "read line && echo \"got $line\""};
  sp.stdin_fd = 0;
  sp.stdout_fd = 1;
  sp.stderr_path = tmp.path() + "/err";
  auto c = run::Child::spawn(sp);
  ::dup2(saved0, 0);
  ::dup2(saved1, 1);
  ::close(saved0);
  ::close(saved1);
  REQUIRE(c.ok());
  int st = wait_for(c.value());
  CHECK(WIFEXITED(st));
  CHECK(test::read(tmp.path() + "/out") == "got piped\n");
  CHECK(test::read(tmp.path() + "/err").empty());
}

TEST_CASE("a child records its own start, with its pid, before it runs, and takes it back when it cannot exec",
          "[run][process]") {
  util::TempDir tmp;
  const std::string room = std::string(511, ' ') + "\n";  // as the worker reserves it
  test::write_file(tmp.path(), "started", room);
  util::Fd rec(::open((tmp.path() + "/started").c_str(), O_WRONLY | O_CLOEXEC));
  REQUIRE(rec.valid());
  run::Child::Spawn sp;
  // The program reads the record: it was written before the program ran.
  sp.argv = {"/bin/sh", "-c", "head -c 20 " + tmp.path() + "/started"};
  sp.stdout_path = tmp.path() + "/out";
  sp.record_fd = rec.get();
  sp.record_before = "state=RUNNING\npid=";
  sp.record_after = "\nwritten=1\n";
  auto c = run::Child::spawn(sp);
  REQUIRE(c.ok());
  wait_for(c.value());
  const std::string want = fmt::format("state=RUNNING\npid={}\nwritten=1\n", c.value().pid());
  CHECK(test::read(tmp.path() + "/out") == want.substr(0, 20));
  CHECK(test::read(tmp.path() + "/started") == want + room.substr(want.size()));
  // A program that cannot start: the record is blanks again, as the room was.
  sp.argv = {"/no/such/program"};
  auto bad = run::Child::spawn(sp);
  REQUIRE_FALSE(bad.ok());
  CHECK(test::read(tmp.path() + "/started") == room);
}

TEST_CASE("a child records its start time beside its pid: the pair names it for good", "[run][process]") {
  util::TempDir tmp;
  const std::string room = std::string(511, ' ') + "\n";
  test::write_file(tmp.path(), "started", room);
  util::Fd rec(::open((tmp.path() + "/started").c_str(), O_WRONLY | O_CLOEXEC));
  REQUIRE(rec.valid());
  run::Child::Spawn sp;
  sp.argv = {"/bin/sh", "-c", "sleep 5"};
  sp.record_fd = rec.get();
  sp.record_before = "pid=";
  sp.record_start_key = "\npid_start=";
  sp.record_after = "\nwritten=1\n";
  auto c = run::Child::spawn(sp);
  REQUIRE(c.ok());
  auto start = run::process_start_ticks(c.value().pid());
  REQUIRE(start);
  const std::string want = fmt::format("pid={}\npid_start={}\nwritten=1\n", c.value().pid(), *start);
  CHECK(test::read(tmp.path() + "/started").substr(0, want.size()) == want);
  // This process started earlier (or in the same tick), and the clock of starts runs on.
  CHECK(*run::process_start_ticks(::getpid()) <= *start);
  CHECK(run::ticks_to_seconds(*start) <= run::boot_seconds());
  c.value().kill_group(SIGKILL);
  wait_for(c.value());
  CHECK_FALSE(run::process_start_ticks(c.value().pid()));  // ended (and reaped)
  CHECK_FALSE(run::process_start_ticks(0));
  CHECK(run::boot_id().size() == 36);
}

TEST_CASE("a symbolic link planted at a child's output file is refused, never truncated or appended through",
          "[run][process][links]") {
  util::TempDir tmp;
  for (bool truncate : {true, false}) {
    REQUIRE(util::atomic_write(tmp.path() + "/outside", "keep me\n").ok());
    ::unlink((tmp.path() + "/out").c_str());
    REQUIRE(::symlink((tmp.path() + "/outside").c_str(), (tmp.path() + "/out").c_str()) == 0);
    run::Child::Spawn sp;
    sp.argv = {"/bin/sh", "-c", "echo written"};
    sp.stdout_path = tmp.path() + "/out";
    sp.truncate = truncate;
    auto c = run::Child::spawn(sp);
    CHECK_FALSE(c.ok());  // it cannot open its output: it does not start
    CHECK(util::try_read_file(tmp.path() + "/outside").value() == "keep me\n");
  }
}
