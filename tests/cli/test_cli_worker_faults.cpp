// The local pool's worker (`xrun _worker TASKS_DIR SHELL`, run/worker.hpp), driven directly as the
// runner drives it: odd task ids, a missing shell, a shell killed by a signal, signals sent to the
// worker while it starts a task, a runner that is gone, descriptors a caller leaks.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>

#include <fmt/format.h>

#include "support/env.hpp"
#include "xrun/run/process.hpp"
#include "xrun/store/index.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {

// A worker with pipes to its stdin and from its stdout, as the runner starts it.
struct Worker {
  util::TempDir dir{"xrun-worker-"};
  run::Child child;
  util::Fd to, from;
  std::string buf;

  explicit Worker(const std::string& shell = "") {
    REQUIRE(util::make_dirs(tasks()).ok());
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    util::Fd in_r(in[0]), out_w(out[1]);
    to.reset(in[1]);
    from.reset(out[0]);
    run::Child::Spawn sp;
    sp.argv = {XRUN_BIN, "_worker", tasks(), shell};
    sp.stdin_fd = in_r.get();
    sp.stdout_fd = out_w.get();
    sp.stderr_path = dir.path() + "/worker.log";
    auto c = run::Child::spawn(sp);
    REQUIRE(c.ok());
    child = std::move(c.value());
  }
  std::string tasks() const { return dir.path() + "/tasks"; }
  std::string task(const std::string& id) const { return tasks() + "/" + id; }
  // A task's folder with its script.
  void make(const std::string& id, const std::string& script) const {
    REQUIRE(util::make_dirs(task(id)).ok());
    test::write_file(task(id), "cmd.sh", script);
  }
  void send(const std::string& line) const {
    std::string l = line + "\n";
    REQUIRE(::write(to.get(), l.data(), l.size()) == static_cast<ssize_t>(l.size()));
  }
  // The worker's next line, or "" after `timeout` seconds.
  std::string next(double timeout = 30) {
    for (;;) {
      if (auto nl = buf.find('\n'); nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      pollfd p{from.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(timeout * 1000)) <= 0) return "";
      char chunk[512];
      ssize_t n = ::read(from.get(), chunk, sizeof chunk);
      if (n <= 0) return "";
      buf.append(chunk, static_cast<size_t>(n));
    }
  }
  // The worker's exit status once its input is closed (-1: still running after `timeout`).
  int finish(double timeout = 30) {
    to.reset();
    for (double waited = 0; waited < timeout; waited += 0.05) {
      int status = 0;
      if (::waitpid(child.pid(), &status, WNOHANG) == child.pid()) {
        child.mark_reaped(status);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(50000);
    }
    return -1;
  }
  std::optional<store::WrapperRecord> record(const std::string& id, const char* file = "status") const {
    return store::parse_wrapper_record(test::read(task(id) + "/" + file));
  }
};

}  // namespace

TEST_CASE("worker: an id that is not a task folder's is refused, and nothing is written or run", "[cli][worker]") {
  Worker w("sh");
  // The experiment's own folder and the tasks folder hold a script too: neither may run.
  test::write_file(w.dir.path(), "cmd.sh", "touch " + w.dir.path() + "/ran-parent\n");
  test::write_file(w.tasks(), "cmd.sh", "touch " + w.dir.path() + "/ran-tasks\n");
  w.make("5", "echo five\n");
  for (const std::string id : {"..", ".", "", "5/..", "5/.", "99", "abc", "-1", " 5"}) {
    INFO("id '" << id << "'");
    w.send(id);
    CHECK(w.next() == "E 2 " + id.substr(0, id.find(' ')));  // (the header's first word)
  }
  // A good id still runs after them.
  w.send("5");
  CHECK(util::starts_with(w.next(), "S "));
  CHECK(w.next() == "E 0 5");
  CHECK(test::read(w.task("5") + "/stdout") == "five\n");
  CHECK(w.finish() == 0);
  CHECK_FALSE(util::exists(w.dir.path() + "/ran-parent"));
  CHECK_FALSE(util::exists(w.dir.path() + "/ran-tasks"));
  for (const char* f : {"status", "started", "stdout", "stderr"}) {
    CHECK_FALSE(util::exists(w.dir.path() + "/" + f));
    CHECK_FALSE(util::exists(w.tasks() + "/" + f));
  }
  CHECK_FALSE(util::exists(w.task("99")));
}

TEST_CASE("worker: a missing task shell is exit 127 with the reason in the task's stderr", "[cli][worker]") {
  Worker w("nosuchshell-xrun");
  w.make("0", "echo never\n");
  w.send("0");
  CHECK(w.next() == "E 127 0");
  auto r = w.record("0");
  REQUIRE(r);
  CHECK(r->state == "FAILED");
  CHECK(r->exit_code == 127);
  CHECK_FALSE(r->signal);
  CHECK(test::read(w.task("0") + "/stderr").find("task shell 'nosuchshell-xrun' not found") != std::string::npos);
  CHECK(test::read(w.task("0") + "/stdout").empty());
  CHECK(w.finish() == 0);
}

TEST_CASE("worker: a shell killed by a signal ends with 128+N and the signal recorded", "[cli][worker]") {
  Worker w("sh");
  w.make("0", "echo before\nkill -9 $$\necho after\n");
  w.make("1", "kill -TERM $$\n");
  w.send("0");
  CHECK(util::starts_with(w.next(), "S "));
  CHECK(w.next() == "E 137 0");
  w.send("1");
  CHECK(util::starts_with(w.next(), "S "));
  CHECK(w.next() == "E 143 1");
  auto r0 = w.record("0"), r1 = w.record("1");
  REQUIRE(r0);
  REQUIRE(r1);
  CHECK(r0->state == "FAILED");
  CHECK(r0->exit_code == 137);
  CHECK(r0->signal == 9);
  CHECK(r1->signal == 15);
  CHECK(test::read(w.task("0") + "/stdout") == "before\n");
  CHECK(w.finish() == 0);
}

TEST_CASE("worker: TERM, INT and HUP sent while it starts a task reach the task's group, never a later task",
          "[cli][worker]") {
  // The runner stops a task whose group it does not know yet by signalling its worker: the
  // signal must not be lost while the worker is still setting the task up.
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    Worker w("sh");
    INFO("signal " << sig);
    // (Once it runs: a worker killed before it set its handlers up simply never starts the task.)
    w.make("100", "true\n");
    w.send("100");
    REQUIRE(util::starts_with(w.next(), "S "));
    REQUIRE(w.next() == "E 0 100");
    for (int round = 0; round < 5; ++round) {
      std::string id = std::to_string(round);
      w.make(id, "exec sleep 30\n");
      w.send(id);
      ::kill(w.child.pid(), sig);  // at once: most often before the task has a group
      auto s = w.next();
      INFO("round " << round << ": '" << s << "'; worker log: " << test::read(w.dir.path() + "/worker.log"));
      REQUIRE(util::starts_with(s, "S "));
      CHECK(w.next(20) == fmt::format("E {} {}", 128 + sig, id));
    }
    // A signal to an idle worker is not kept for the next task.
    ::kill(w.child.pid(), sig);
    ::usleep(100000);
    w.make("9", "echo fine\n");
    w.send("9");
    CHECK(util::starts_with(w.next(), "S "));
    CHECK(w.next() == "E 0 9");
    CHECK(w.finish() == 0);
  }
}

TEST_CASE("worker: a task still running when the runner goes is recorded once, then the worker exits",
          "[cli][worker]") {
  Worker w("sh");
  w.make("0", "sleep 1; echo done\n");
  w.send("0");
  REQUIRE(util::starts_with(w.next(), "S "));
  auto started = w.record("0", "started");
  REQUIRE(started);
  CHECK(started->state == "RUNNING");
  CHECK(started->wrapper == w.child.pid());
  // The runner is gone: both pipes close (kill -9 of the runner).
  w.from.reset();
  CHECK(w.finish() == 0);
  auto r = w.record("0");
  REQUIRE(r);
  CHECK(r->state == "SUCCEEDED");
  CHECK(test::read(w.task("0") + "/stdout") == "done\n");
}

TEST_CASE("worker: a reused folder's earlier files are written over, never shown with the new task's",
          "[cli][worker]") {
  Worker w("sh");
  w.make("0", "echo new\n");
  // What a spare folder holds (blank records), and what a torn or oversized earlier file leaves.
  test::write_file(w.task("0"), "status", std::string(600, 'x') + "\nwritten=1\n");
  test::write_file(w.task("0"), "started", std::string(511, ' ') + "\n");
  test::write_file(w.task("0"), "stdout", "old output that is longer than the new one\n");
  test::write_file(w.task("0"), "stderr", "old error\n");
  w.send("0");
  REQUIRE(util::starts_with(w.next(), "S "));
  REQUIRE(w.next() == "E 0 0");
  CHECK(test::read(w.task("0") + "/stdout") == "new\n");
  CHECK(test::read(w.task("0") + "/stderr").empty());
  auto r = w.record("0");
  REQUIRE(r);
  CHECK(r->state == "SUCCEEDED");
  CHECK(test::read(w.task("0") + "/status").size() == 512);
  CHECK(w.finish() == 0);
}

TEST_CASE("tasks get no descriptor that the caller of xrun leaked, nor the worker's pipes", "[cli][worker]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'ls /proc/$$/fd > fds-{i}'\nvariables:\n  i: [0, 1, 2]\n");
  // A shell that leaves descriptors 7 and 9 open (no close-on-exec) for what it starts.
  auto r = test::run_program({"sh", "-c", std::string("exec 7>leak 9<exp.yml; exec '") + XRUN_BIN + "' run exp.yml -j 2 -q"},
                             e.opts);
  REQUIRE(r.code == 0);
  for (const char* n : {"fds-0", "fds-1", "fds-2"}) {
    auto fds = util::split(util::trim(test::read(e.path(n))), '\n');
    CHECK(fds == std::vector<std::string>{"0", "1", "2"});  // (the script is bash's -c argument: no fd 255)
  }
}
