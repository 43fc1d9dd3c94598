// Scenarios against a real container engine (scripts/containers.sh starts dockerd and imports a
// busybox image, xrun-test:latest). Without an engine every case exits with code 4, which ctest
// reports as SKIPPED, with the reason; scripts/test.sh makes a missing engine fatal in CI.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "support/env.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;
using test::wait_for_id;

namespace {

const char* kImage = "xrun-test:latest";

// Skips (exit 4, with the reason) unless `cli` runs containers of the test image here.
void require_engine(const std::string& cli = "docker") {
  if (cli == "docker")
    if (const char* u = std::getenv("XRUN_DOCKER_UNAVAILABLE"); u && *u) {
      std::cout << "SKIPPED: " << u << std::endl;
      xrun::test::skip_exit();
    }
  std::string why;
  if (run::find_on_path(cli).empty()) {
    why = "no '" + cli + "' on PATH (scripts/containers.sh installs and starts one, as root)";
  } else if (auto r = run::capture({cli, "image", "inspect", kImage}, 60); !r || r->code != 0) {
    why = cli + " cannot see the test image " + kImage + " (CONTAINER_ENGINE=" + cli + " scripts/containers.sh)";
  }
  if (!why.empty()) {
    std::cout << "SKIPPED: " << why << std::endl;
    xrun::test::skip_exit();
  }
}

std::string header(const std::string& cli = "docker") {
  return "docker:\n  image: " + std::string(kImage) + "\n  pull: never\n  cli: " + cli + "\n";
}

// Containers of the experiment, running or not.
std::string containers_of(const std::string& id, const std::string& cli = "docker") {
  auto r = run::capture({cli, "ps", "-a", "--filter", "label=xrun.experiment=" + id, "--format", "{{.Names}}"}, 30);
  return r ? util::trim(r->out) : "?";
}

// The pid of the `docker run` client of a task's container (0 when none runs).
long client_of(const std::string& id, size_t task) {
  const std::string name = "--name=xrun-" + id + "-" + std::to_string(task);
  for (const auto& entry : util::list_dir("/proc")) {
    if (entry.empty() || entry.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = test::read("/proc/" + entry + "/cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(" run ") != std::string::npos && cmd.find(name + " ") != std::string::npos) return std::stol(entry);
  }
  return 0;
}

}  // namespace

TEST_CASE("a 2-stage experiment runs each task in a container, with its variables, env and exit code",
          "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - command: 'echo {x} $x $FOO $$ > out-{x}.txt'\n  - command: 'exit {x}'\n"
                             "variables:\n  x: [0, 3]\n" + header() + "  env:\n    FOO: bar\n");
  auto r = e.x({"run", f, "-j", "2", "--quiet"});
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][1]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][2]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][3]["state"] == "FAILED");
  CHECK(s["tasks"][3]["exit_code"] == 3);
  CHECK(s["tasks"][0]["pid"] == 1);  // the wrapper was the container's first process
  CHECK(test::read(e.path("out-0.txt")).rfind("0 0 bar ", 0) == 0);
  CHECK(test::read(e.path("out-3.txt")).rfind("3 3 bar ", 0) == 0);
  CHECK(containers_of(id).empty());
}

TEST_CASE("files written to the mounted folder belong to the caller", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'touch mine.txt'\n" + header());
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  struct stat st {};
  REQUIRE(::stat(e.path("mine.txt").c_str(), &st) == 0);
  CHECK(st.st_uid == ::getuid());
  CHECK(st.st_gid == ::getgid());
  CHECK(containers_of(id).empty());
}

TEST_CASE("cancel of a running task stops its container", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep {t}'\nvariables:\n  t: [30, 1]\n" + header());
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }, 30));
  CHECK(e.x({"cancel", id, "0"}).code == 0);
  CHECK(b.wait(60) == 1);
  CHECK(e.state(id, 0) == "CANCELLED");
  CHECK(e.state(id, 1) == "SUCCEEDED");
  CHECK(test::eventually([&] { return containers_of(id).empty(); }, 20));
}

TEST_CASE("walltime stops the container: TIMEOUT", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep 30'\n" + header() + "scheduler:\n  walltime: '0:02'\n  kill_grace: 2\n");
  auto r = e.x({"run", f, "--quiet"});
  CHECK(r.code == 1);
  CHECK(r.seconds < 15);
  std::string id = first_line(r.out);
  CHECK(e.state(id, 0) == "TIMEOUT");
  CHECK(test::eventually([&] { return containers_of(id).empty(); }, 20));
}

TEST_CASE("kill -9 of the runner, then resume - running containers are adopted, no task runs twice",
          "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'echo start {i} >> ran.txt; sleep 3'\nvariables:\n  i: [0, 1, 2]\n" + header());
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "RUNNING"; }, 30));
  ::kill(b.pid, SIGKILL);
  b.wait();
  CHECK(e.state(id, 0) == "RUNNING");  // its container still runs
  auto r = e.x({"resume", id, "--quiet"});
  CHECK(r.code == 0);
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  for (int i = 0; i < 3; ++i) CHECK(s["tasks"][i]["attempt"] == 1);
  auto ran = util::split(test::read(e.path("ran.txt")), '\n');
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"", "start 0", "start 1", "start 2"});
  CHECK(containers_of(id).empty());
}

TEST_CASE("a missing image is a clear error before anything is created", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'true'\ndocker:\n  image: xrun-no-such-image:1\n  pull: never\n");
  auto r = e.x({"run", f});
  CHECK(r.code == 1);
  CHECK(r.err.find("xrun-no-such-image:1") != std::string::npos);
  CHECK(r.err.find("hint:") != std::string::npos);
  auto l = e.x({"list", "--json"});
  CHECK(nlohmann::json::parse(l.out.empty() ? "[]" : l.out).empty());
  // A daemon that does not answer: named, before anything is created.
  auto down = e.opts;
  down.env["DOCKER_HOST"] = "unix://" + e.path("no-such.sock");
  auto d = test::xrun({"run", e.file("ok.yml", "command: 'true'\n" + header())}, down);
  CHECK(d.code == 1);
  CHECK(d.err.find(e.path("no-such.sock")) != std::string::npos);
  // `image` is required; `check` says so at the section.
  auto g = e.file("noimage.yml", "command: 'true'\ndocker:\n  pull: never\n");
  auto c = e.x({"check", g});
  CHECK(c.code == 2);
  CHECK(c.err.find("noimage.yml:2:1: error: the docker backend needs an image") != std::string::npos);
}

TEST_CASE("cli podman runs the same experiment where podman works", "[docker]") {
  require_engine("podman");
  Env e;
  auto f = e.file("exp.yml", "command: 'echo {x} > p-{x}.txt; exit {x}'\nvariables:\n  x: [0, 2]\n" + header("podman"));
  auto r = e.x({"run", f, "--quiet"});
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  CHECK(e.state(id, 0) == "SUCCEEDED");
  CHECK(e.state(id, 1) == "FAILED");
  CHECK(test::read(e.path("p-0.txt")) == "0\n");
  CHECK(containers_of(id, "podman").empty());
  // Liveness through podman's own template: a container killed from outside is LOST.
  auto g = e.file("kill.yml", "command: 'sleep 30'\n" + header("podman"));
  auto b = e.bg({"run", g, "--quiet"});
  std::string kid = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(kid, 0) == "RUNNING"; }, 30));
  REQUIRE(run::capture({"podman", "kill", "xrun-" + kid + "-0"}, 30)->code == 0);
  CHECK(b.wait(30) == 1);
  CHECK(e.state(kid, 0) == "LOST");
}

TEST_CASE("a container that dies is seen by status: LOST, never RUNNING forever", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep 30'\n" + header());
  auto b = e.bg({"run", f, "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }, 30));
  REQUIRE(run::capture({"docker", "kill", "--signal=KILL", "xrun-" + id + "-0"}, 30)->code == 0);
  CHECK(b.wait(30) == 1);
  CHECK(e.state(id, 0) == "LOST");
  CHECK(containers_of(id).empty());
}

TEST_CASE("Ctrl-C stops every running container: CANCELLED, exit 130, none left", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep 30 # {x}'\nvariables:\n  x: [1, 2]\n" + header());
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "RUNNING"; }, 30));
  ::kill(b.pid, SIGINT);
  CHECK(b.wait(30) == 130);
  CHECK(e.state(id, 0) == "CANCELLED");
  CHECK(e.state(id, 1) == "CANCELLED");
  CHECK(test::eventually([&] { return containers_of(id).empty(); }, 20));
}

TEST_CASE("after kill -9, resume adopts the running containers: the next stage runs, nothing twice", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "jobs:\n  - command: 'echo start {i} >> ran.txt; sleep 3'\n  - command: 'echo after >> ran.txt'\n"
                             "variables:\n  i: [0, 1]\n" + header());
  auto b = e.bg({"run", f, "-j", "2", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "RUNNING"; }, 30));
  ::kill(b.pid, SIGKILL);
  b.wait();
  auto r = e.x({"resume", id, "--quiet"});
  CHECK(r.code == 0);
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][2]["state"] == "SUCCEEDED");
  auto ran = util::split(test::read(e.path("ran.txt")), '\n');
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"", "after", "start 0", "start 1"});
  CHECK(containers_of(id).empty());
}

TEST_CASE("a container that cannot start is LOST with the engine's message, and a ':' in paths is fine", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'true'\n" + header() + "  extra_args: [--no-such-flag]\n");
  auto r = e.x({"run", f, "--quiet"});
  CHECK(r.code == 1);
  auto s = e.status(first_line(r.out));
  CHECK(s["tasks"][0]["state"] == "LOST");
  CHECK(s["tasks"][0]["reason"].get<std::string>().find("no-such-flag") != std::string::npos);
  // A store whose path has a ':' (docker's --volume could not mount it).
  auto g = e.file("ok.yml", "command: 'echo hi'\n" + header());
  auto ok = e.x({"--store", e.path("st:ore"), "run", g, "--quiet"});
  CHECK(ok.code == 0);
}

TEST_CASE("early_stopping on docker: the pool stops dispatching once a container's metrics meet it", "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: |\n  echo '{{\"acc\": 0.{x}}}' >> \"$XRUN_METRICS\"\nearly_stopping:\n"
                             "  - {metric: acc, value: 0.2, optimization: maximize}\nvariables:\n  x: [1, 2, 3, 4]\n" + header());
  auto r = e.x({"run", f, "-j", "1", "--quiet"});
  CHECK(r.code == 0);
  std::string id = first_line(r.out);
  auto s = e.status(id);
  CHECK(s["tasks"][1]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][2]["state"] == "SKIPPED");
  CHECK(s["tasks"][3]["state"] == "SKIPPED");
  CHECK(containers_of(id).empty());
}

TEST_CASE("a task whose docker run client is killed keeps its slot and GPU until its container is gone", "[docker]") {
  require_engine();
  Env e;
  // One GPU for two tasks: the second may start only once the first's container has ended.
  auto f = e.file("exp.yml",
                  "variables:\n  i: [0, 1]\n"
                  "jobs:\n  - name: train\n    resources: {gpu: 1}\n"
                  "    command: 'echo start {i} $XRUN_RESOURCE_GPU >> ledger.txt; sleep 4; echo end {i} >> ledger.txt'\n" +
                      header());
  auto b = e.bg({"run", f, "-j", "2", "--resources", "gpu=1", "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return test::read(e.path("ledger.txt")).find("start") != std::string::npos; }, 30));
  const size_t first = test::read(e.path("ledger.txt")).find("start 0") != std::string::npos ? 0 : 1;
  long client = 0;
  REQUIRE(test::eventually([&] { return (client = client_of(id, first)) > 0; }, 10));
  ::kill(static_cast<pid_t>(client), SIGKILL);  // the client only: the container runs on
  CHECK(b.wait(60) == 0);
  auto lines = util::split(util::trim(test::read(e.path("ledger.txt"))), '\n');
  const std::string a = std::to_string(first), c = std::to_string(1 - first);
  CHECK(lines == std::vector<std::string>{"start " + a + " 0", "end " + a, "start " + c + " 0", "end " + c});
  CHECK(e.state(id, 0) == "SUCCEEDED");
  CHECK(e.state(id, 1) == "SUCCEEDED");
}

TEST_CASE("Ctrl-C after a task's docker run client was killed still stops its container: CANCELLED, none left",
          "[docker]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "command: 'trap \"\" TERM; sleep 30 # {x}'\nvariables:\n  x: [1]\n"
                             "docker:\n  image: xrun-test:latest\n  pull: never\n  kill_grace: 1\n");
  auto b = e.bg({"run", f, "--quiet"});
  std::string id = wait_for_id(b);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING"; }, 30));
  long client = 0;
  REQUIRE(test::eventually([&] { return (client = client_of(id, 0)) > 0; }, 10));
  ::kill(static_cast<pid_t>(client), SIGKILL);
  ::usleep(500000);
  CHECK(containers_of(id) == "xrun-" + id + "-0");  // it runs on
  ::kill(b.pid, SIGINT);
  CHECK(b.wait(30) == 130);
  CHECK(e.state(id, 0) == "CANCELLED");
  CHECK(test::eventually([&] { return containers_of(id).empty(); }, 20));
}

TEST_CASE("workdir with placeholders in containers: each task's own folder is bound, made by the caller",
          "[docker][workdir]") {
  require_engine();
  Env e;
  auto f = e.file("exp.yml", "workdir: runs/{x}\ncommand: 'pwd > where; ls .. > siblings'\n"
                             "variables:\n  x: [1, 2]\n" + header());
  auto r = e.x({"run", f, "-j", "2", "--quiet"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  for (const char* x : {"1", "2"}) {
    std::string dir = e.path(std::string("runs/") + x);
    CHECK(test::read(dir + "/where") == util::absolute(dir) + "\n");
    CHECK(test::read(dir + "/siblings") == std::string(x) + "\n");  // its own folder only, not its sibling's
    struct stat st {};
    REQUIRE(::stat(dir.c_str(), &st) == 0);
    CHECK(st.st_uid == ::getuid());
  }
  CHECK(containers_of(first_line(r.out)).empty());
}
