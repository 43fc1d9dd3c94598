// `xrun run`, `status`, `logs`, `list` end to end on the local pool, with real processes.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "support/env.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/text.hpp"

#include <cstdlib>
#include <iostream>

using namespace xrun;
using test::Env;
using test::first_line;

TEST_CASE("run: every task runs, the id comes first, status/logs/list tell the truth", "[cli][run]") {
  Env e;
  auto f = e.file("exp.yml", "name: hello\ncommand: echo hello {who}\nvariables:\n  who: [alice, bob]\n");
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  CHECK(id.rfind("hello-", 0) == 0);
  CHECK(r.out == id + "\n");  // nothing else on stdout
  CHECK(r.err.find("2 SUCCEEDED") != std::string::npos);
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["counts"]["SUCCEEDED"] == 2);
  CHECK(s["tasks"][1]["variables"]["who"] == "bob");
  CHECK(s["tasks"][1]["exit_code"] == 0);
  CHECK(s["tasks"][1]["attempt"] == 1);
  CHECK(s["runner"]["state"] == "finished");
  CHECK(s["runner"]["alive"] == false);
  CHECK(e.x({"logs", id, "1"}).out == "hello bob\n");
  CHECK(e.x({"logs", id, "main/0"}).out == "hello alice\n");
  CHECK(e.x({"logs", "latest", "0"}).out == "hello alice\n");
  CHECK(e.x({"logs", id.substr(0, id.size() - 2), "0"}).out == "hello alice\n");
  auto l = e.x({"list", "--json"});
  REQUIRE(l.code == 0);
  auto lj = nlohmann::json::parse(l.out);
  REQUIRE(lj.size() == 1);
  CHECK(lj[0]["id"] == id);
  CHECK(lj[0]["counts"]["SUCCEEDED"] == 2);
  CHECK(e.x({"list"}).out.find(id) != std::string::npos);
  // the table
  auto t = e.x({"status", id});
  CHECK(t.code == 0);
  CHECK(t.out.find("SUCCEEDED") != std::string::npos);
  CHECK(t.out.find("who=bob") != std::string::npos);
}

TEST_CASE("run: plan --json and status --json give each task the same content key", "[cli][run][task_key]") {
  Env e;
  auto f = e.file("exp.yml",
                  "name: keyed\nlocal:\n  setup: 'export K=1'\n"
                  "jobs:\n  - name: prep\n    command: 'true'\n"
                  "  - name: sweep\n    command: \"echo {x} '{s}' {f} $K\"\n"
                  "variables:\n  x: [1, 2]\n  s: ['a b', \"q\\\"\"]\n  f: [0.5]\n");
  auto p = e.x({"plan", f, "--json"});
  REQUIRE(p.code == 0);
  auto plan = nlohmann::json::parse(p.out);
  std::map<std::pair<std::string, int>, std::string> planned;
  for (const auto& st : plan["stages"])
    for (const auto& t : st["tasks"]) planned[{st["name"], t["index"]}] = t["key"];
  REQUIRE(planned.size() == 5);
  std::set<std::string> distinct;
  for (const auto& [where, key] : planned) distinct.insert(key);
  CHECK(distinct.size() == 5);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  auto s = e.status(first_line(r.out));
  REQUIRE(s["tasks"].size() == 5);
  for (const auto& t : s["tasks"]) CHECK(t["key"] == planned[{t["stage"], t["index"]}]);
  // The key is the backend's: a Docker image is part of what a task does.
  auto d = e.file("docker.yml", "docker:\n  image: 'alpine:3'\ncommand: echo {x}\nvariables:\n  x: [1]\n");
  auto on_docker = e.x({"plan", d, "--json"}), on_local = e.x({"plan", d, "--json", "-b", "local"});
  REQUIRE(on_docker.code == 0);
  REQUIRE(on_local.code == 0);
  CHECK(nlohmann::json::parse(on_docker.out)["stages"][0]["tasks"][0]["key"] !=
        nlohmann::json::parse(on_local.out)["stages"][0]["tasks"][0]["key"]);
  CHECK(e.x({"plan", d, "--json", "-b", "nope"}).code == 2);
}

TEST_CASE("run: a failing stage stops the next one (SKIPPED), exit 1, summary with logs", "[cli][run]") {
  Env e;
  auto f = e.file("exp.yml",
                  "jobs:\n  - name: prep\n    command: 'true'\n"
                  "  - name: sweep\n    command: 'echo boom-{x} >&2; test {x} -ne 2'\n"
                  "  - name: report\n    command: echo report\nvariables:\n  x: [1, 2, 3]\n");
  auto r = e.x({"run", f});
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto s = e.status(id);
  CHECK(s["state"] == "failed");
  CHECK(s["tasks"][2]["state"] == "FAILED");
  CHECK(s["tasks"][2]["exit_code"] == 1);
  CHECK(s["tasks"][1]["state"] == "SUCCEEDED");
  CHECK(s["tasks"][3]["state"] == "SUCCEEDED");  // every task of a stage runs
  CHECK(s["tasks"][4]["state"] == "SKIPPED");
  CHECK(s["tasks"][4]["reason"].get<std::string>().find("sweep") != std::string::npos);
  CHECK(r.err.find("task 2 (sweep/1) FAILED") != std::string::npos);
  CHECK(r.err.find(e.exp_dir(id) + "/tasks/2/stderr") != std::string::npos);
  CHECK(r.err.find("| boom-2") != std::string::npos);
  CHECK(e.x({"logs", id, "sweep/1", "--stderr"}).out == "boom-2\n");

  SECTION("--keep-going runs later stages anyway") {
    auto k = e.x({"run", f, "--keep-going", "--quiet"});
    CHECK(k.code == 1);
    CHECK(e.state(first_line(k.out), 4) == "SUCCEEDED");
  }
  SECTION("on_failure: continue runs later stages") {
    auto g = e.file("cont.yml",
                    "jobs:\n  - command: 'test {x} -ne 2'\n    on_failure: continue\n  - command: echo after\n"
                    "variables:\n  x: [1, 2]\n");
    auto c = e.x({"run", g, "--quiet"});
    CHECK(c.code == 1);
    CHECK(e.state(first_line(c.out), 2) == "SUCCEEDED");
  }
}

TEST_CASE("run: -j bounds parallelism - tasks of a stage run in parallel", "[cli][run]") {
  Env e;
  auto f = e.file("exp.yml",
                  "command: 'echo + >> {log}; sleep 0.4; echo - >> {log}'\nvariables:\n  log: [trace.txt]\n  i: [1, 2, 3, 4, 5, 6]\n"
                  "local:\n  jobs: 1\n");
  // `i` is unused, so the six combinations are one task: use it.
  auto g = e.file("exp2.yml",
                  "command: 'echo + >> trace.txt; sleep 0.4; echo - >> trace.txt; echo {i}'\nvariables:\n  i: [1, 2, 3, 4, 5, 6]\n");
  auto t0 = std::chrono::steady_clock::now();
  auto r = e.x({"run", g, "-j", "3", "--quiet"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(r.code == 0);
  int peak = test::peak_concurrency(test::read(e.path("trace.txt")));
  CHECK(peak == 3);
  CHECK(secs < 2.4);  // 2 rounds of 0.4 s plus overhead, far below 6 x 0.4 s
  CHECK(e.x({"plan", f, "--json"}).out.find("\"index\":1") == std::string::npos);
}

TEST_CASE("run: --skip-existing, --set, --dry-run, workdir, environment", "[cli][run]") {
  Env e;
  auto f = e.file("exp.yml",
                  "command:\n  cmd: 'echo $XRUN_EXPERIMENT_ID $XRUN_STAGE $XRUN_TASK_INDEX {n} > {creates}'\n  creates: out-{n}.txt\n"
                  "variables:\n  n: [1, 2]\n");
  e.file("out-1.txt", "old");
  auto r = e.x({"run", f, "--skip-existing", "--quiet"});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto s = e.status(id);
  CHECK(s["tasks"][0]["state"] == "SKIPPED");
  CHECK(s["tasks"][0]["reason"].get<std::string>().find("out-1.txt") != std::string::npos);
  CHECK(s["tasks"][1]["state"] == "SUCCEEDED");
  CHECK(test::read(e.path("out-1.txt")) == "old");
  CHECK(test::read(e.path("out-2.txt")) == id + " main 1 2\n");

  auto o = e.x({"run", f, "--set", "n=[7]", "--quiet"});
  REQUIRE(o.code == 0);
  CHECK(util::exists(e.path("out-7.txt")));

  auto before = e.x({"list", "--json"}).out;
  auto d = e.x({"run", f, "--dry-run"});
  CHECK(d.code == 0);
  CHECK(d.out.find("echo $XRUN_EXPERIMENT_ID") != std::string::npos);
  CHECK(d.out.find("nothing was started") != std::string::npos);
  CHECK(e.x({"list", "--json"}).out == before);

  REQUIRE(util::make_dirs(e.path("work")).ok());
  auto w = e.file("wd.yml", "workdir: work\ncommand: pwd\n");
  auto wr = e.x({"run", w, "--quiet"});
  REQUIRE(wr.code == 0);
  CHECK(e.x({"logs", first_line(wr.out), "0"}).out == e.path("work") + "\n");
}

TEST_CASE("run: walltime is enforced locally (TERM, grace, KILL) as TIMEOUT", "[cli][run]") {
  Env e;
  auto f = e.file("exp.yml",
                  "command: '{c}'\nvariables:\n  c: ['sleep 20', \"trap '' TERM; sleep 20\", 'true']\n"
                  "local:\n  walltime: '0:01'\n  kill_grace: 1\n");
  auto t0 = std::chrono::steady_clock::now();
  auto r = e.x({"run", f, "-j", "3", "--quiet"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.code == 1);
  CHECK(secs < 8);
  auto s = e.status(first_line(r.out));
  CHECK(s["tasks"][0]["state"] == "TIMEOUT");
  CHECK(s["tasks"][1]["state"] == "TIMEOUT");
  CHECK(s["tasks"][2]["state"] == "SUCCEEDED");
}

TEST_CASE("status: beyond 50 tasks only the unsuccessful ones unless --all", "[cli][status]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'test {i} -ne 7'\nvariables:\n  i:\n    arange: 60\n");
  auto r = e.x({"run", f, "-j", "4", "--quiet"});
  REQUIRE(r.code == 1);
  std::string id = first_line(r.out);
  auto t = e.x({"status", id});
  CHECK(t.out.find("main/7 ") != std::string::npos);
  CHECK(t.out.find("main/8 ") == std::string::npos);
  CHECK(t.out.find("59 SUCCEEDED tasks not shown") != std::string::npos);
  auto a = e.x({"status", id, "--all"});
  CHECK(a.out.find("main/8 ") != std::string::npos);
  auto j = e.status(id);
  CHECK(j["tasks"].size() == 60);
  CHECK(j["stages"][0]["counts"]["FAILED"] == 1);
}

TEST_CASE("logs: --tail, --follow, missing output, bad references", "[cli][logs]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'for i in 1 2 3 4 5; do echo line$i; done; sleep {s}; echo last'\nvariables:\n  s: [0, 1]\n");
  auto b = e.bg({"run", f, "--quiet"});
  REQUIRE(test::eventually([&] { return !b.out().empty(); }));
  std::string id = first_line(b.out());
  REQUIRE(test::eventually([&] { return e.state(id, 1) == "RUNNING"; }));
  auto follow = e.x({"logs", id, "1", "--follow"});
  CHECK(follow.code == 0);
  CHECK(follow.out == "line1\nline2\nline3\nline4\nline5\nlast\n");
  CHECK(b.wait() == 0);
  CHECK(e.x({"logs", id, "0", "--tail", "2"}).out == "line5\nlast\n");
  CHECK(e.x({"logs", id, "0", "-n", "0"}).out.empty());
  for (const char* bad : {"../../etc/passwd", "2", "main/9", "nostage/0", "-1"}) {
    auto r = e.x({"logs", id, bad});
    INFO(bad);
    CHECK(r.code == 2);
    CHECK(r.err.find("error:") != std::string::npos);
  }
  CHECK(e.x({"logs", "../../etc", "0"}).code == 2);
  CHECK(e.x({"status", "nosuch"}).code == 2);
  CHECK(e.x({"logs", id, "0", "--attempt", "3"}).code == 2);
}

TEST_CASE("two runs of the same file at once get distinct ids and folders", "[cli][run]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'echo $XRUN_EXPERIMENT_ID > $XRUN_TASK_DIR/me; sleep 0.3'\n");
  auto a = e.bg({"run", f, "--quiet"});
  auto b = e.bg({"run", f, "--quiet"});
  CHECK(a.wait() == 0);
  CHECK(b.wait() == 0);
  std::string ia = first_line(a.out()), ib = first_line(b.out());
  CHECK(ia != ib);
  CHECK(test::read(e.exp_dir(ia) + "/tasks/0/me") == ia + "\n");
  CHECK(test::read(e.exp_dir(ib) + "/tasks/0/me") == ib + "\n");
}

TEST_CASE("run --detach returns at once - the runner goes on in the background", "[cli][run]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep 4; echo done {i}'\nvariables:\n  i: [1, 2]\n");
  auto t0 = std::chrono::steady_clock::now();
  auto r = e.x({"run", f, "--detach"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(r.code == 0);
  CHECK(secs < 3);  // returns long before its tasks end
  std::string id = first_line(r.out);
  auto s = e.status(id);
  CHECK(s["state"] == "running");
  CHECK(s["runner"]["alive"] == true);
  REQUIRE(test::eventually([&] { return e.status(id)["state"] == "succeeded"; }, 20));
  CHECK(test::read(e.exp_dir(id) + "/runner.log").find("2 SUCCEEDED") != std::string::npos);
  auto w = e.x({"status", id, "--watch", "--interval", "0.2"});
  CHECK(w.code == 0);
}

TEST_CASE("on a terminal a live progress line is redrawn, elsewhere plain lines", "[cli][run]") {
  Env e;
  if (run::find_on_path("script").empty()) {
    std::cout << "SKIPPED: no `script` (util-linux) to give xrun a terminal" << std::endl;
    xrun::test::skip_exit();
  }
  auto f = e.file("exp.yml", "command: 'sleep 0.3; echo {i}'\nvariables:\n  i: [1, 2, 3, 4, 5, 6]\n");
  auto r = test::run_program({"script", "-qec", std::string(XRUN_BIN) + " run " + f + " -j 2", "/dev/null"}, e.opts);
  CHECK(r.code == 0);
  CHECK(r.out.find("\r\033[K[stage 1/1 main]") != std::string::npos);
  CHECK(r.out.find("ETA") != std::string::npos);
  auto plain = e.x({"run", f, "-j", "2"});
  CHECK(plain.err.find("\r") == std::string::npos);
  CHECK(plain.err.find("[stage 1/1 main]") != std::string::npos);
}

TEST_CASE("the progress line is cut to the terminal's width, never wrapped", "[cli][run]") {
  Env e;
  if (run::find_on_path("script").empty() || run::find_on_path("stty").empty()) {
    std::cout << "SKIPPED: no `script`/`stty` to give xrun a narrow terminal" << std::endl;
    xrun::test::skip_exit();
  }
  auto f = e.file("exp.yml", "command: 'sleep 0.3; echo {i}'\nvariables:\n  i: [1, 2, 3, 4, 5, 6]\n");
  auto r = test::run_program(
      {"script", "-qec", "stty cols 40; " + std::string(XRUN_BIN) + " run " + f + " -j 2", "/dev/null"}, e.opts);
  CHECK(r.code == 0);
  size_t lines = 0, at = 0;
  const std::string mark = "\r\033[K";
  while ((at = r.out.find(mark + "[stage", at)) != std::string::npos) {
    at += mark.size();
    size_t end = r.out.find_first_of("\r\n", at);
    std::string line = r.out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    CHECK(line.size() <= 39);
    ++lines;
  }
  CHECK(lines > 0);
}

TEST_CASE("each task runs in its own fresh shell with only stdin, stdout and stderr open", "[cli][run]") {
  Env e;
  // $$ differs per task and from the wrapper; `sleep & kill %1` works (no job control is
  // inherited); the wrapper's variables and functions are not visible.
  auto f = e.file("exp.yml",
                  "command: |\n"
                  "  echo $$ > pid-{i}\n"
                  "  ls /proc/$$/fd > fds-{i}\n"
                  "  sleep 30 & kill %1 2>/dev/null || kill $!\n"
                  "  wait\n"
                  "  echo \"[${{_d:-}}${{_child:-}}$(type _start 2>/dev/null)]\" > leak-{i}\n"
                  "variables:\n  i: [0, 1]\n");
  for (const char* mode : {"fg", "detach"}) {
    INFO(mode);
    for (const char* n : {"pid-0", "pid-1", "fds-0", "leak-0"}) ::unlink(e.path(n).c_str());
    std::vector<std::string> args = {"run", f, "-j", "1", "-q"};
    if (std::string(mode) == "detach") args.push_back("--detach");
    auto r = e.x(args);
    REQUIRE(r.code == 0);
    std::string id = first_line(r.out);
    REQUIRE(test::eventually([&] { return e.status(id)["state"] == "succeeded"; }, 30));
    CHECK(test::read(e.path("pid-0")) != test::read(e.path("pid-1")));
    CHECK(test::read(e.path("leak-0")) == "[]\n");
    auto fds = util::split(util::trim(test::read(e.path("fds-0"))), '\n');
    CHECK(fds == std::vector<std::string>{"0", "1", "2"});  // (the script is bash's -c argument: no fd 255)
  }
}

TEST_CASE("variables bash reserves are not exported but stay placeholders, huge values are not exported",
          "[cli][run]") {
  Env e;
  std::string big(70000, 'x');
  auto f = e.file("exp.yml", "command: 'echo {UID}-{SECONDS}-{HOSTNAME}-{BASH_ENV}-${{#BIG}} > out; : {BIG}; printenv UID || true'\n"
                             "variables:\n  UID: [7]\n  SECONDS: [8]\n  HOSTNAME: [h]\n  BASH_ENV: [b]\n  BIG: [" + big + "]\n");
  auto r = e.x({"run", f, "-q"});
  REQUIRE(r.code == 0);
  CHECK(test::read(e.path("out")) == "7-8-h-b-0\n");
  std::string id = first_line(r.out);
  CHECK(e.x({"logs", id, "0", "--stderr"}).out.find("variable BIG (70000 bytes) is not exported") != std::string::npos);
}

TEST_CASE("metrics: a task appends JSON lines to XRUN_METRICS, status --json carries its last ones", "[cli][metrics]") {
  Env e;
  auto f = e.file("exp.yml",
                  "command: |\n  echo '{{\"acc\": {x}}}' >> \"$XRUN_METRICS\"\n"
                  "  echo '{{\"acc\": 0.{x}, \"step\": 2}}' >> \"$XRUN_METRICS\"\n  printf '{{\"partial' >> \"$XRUN_METRICS\"\n"
                  "variables:\n  x: [1, 2]\n");
  auto r = e.x({"run", f, "--quiet"});
  REQUIRE(r.code == 0);
  auto s = e.status(first_line(r.out));
  CHECK(s["tasks"][0]["metrics"] == nlohmann::json::parse(R"({"acc": 0.1, "step": 2})"));  // a partial line is skipped
  CHECK(s["tasks"][1]["metrics"]["acc"] == 0.2);
  auto none = e.x({"run", e.file("plain.yml", "command: 'true'\n"), "--quiet"});
  CHECK(e.status(first_line(none.out))["tasks"][0]["metrics"].is_null());
}

TEST_CASE("early_stopping: once a finished task meets the condition, the stage starts nothing more and succeeds",
          "[cli][metrics]") {
  Env e;
  auto f = e.file("exp.yml",
                  "jobs:\n  - command: |\n      echo '{{\"acc\": 0.{x}}}' >> \"$XRUN_METRICS\"\n"
                  "    early_stopping:\n      - {metric: acc, value: 0.3, optimization: maximize}\n"
                  "  - command: echo after\nvariables:\n  x: [1, 2, 3, 4, 5, 6]\n");
  auto r = e.x({"run", f, "-j", "1", "--quiet"});
  CHECK(r.code == 0);
  auto s = e.status(first_line(r.out));
  CHECK(s["state"] == "succeeded");
  for (int i = 0; i < 3; ++i) CHECK(s["tasks"][i]["state"] == "SUCCEEDED");
  for (int i = 3; i < 6; ++i) {
    CHECK(s["tasks"][i]["state"] == "SKIPPED");
    CHECK(s["tasks"][i]["reason"] == "early stop: task 2 reached acc >= 0.3");
  }
  CHECK(s["tasks"][6]["state"] == "SUCCEEDED");  // the next stage runs
  // Bad conditions are located input errors.
  auto bad = e.file("bad.yml", "command: echo {x}\nearly_stopping:\n  - {metric: acc, value: 1, optimization: maximise}\n"
                               "variables:\n  x: [1]\n");
  auto c = e.x({"check", bad});
  CHECK(c.code == 2);
  CHECK(c.err.find("bad.yml:3:") != std::string::npos);
  CHECK(c.err.find("did you mean 'maximize'?") != std::string::npos);
}

TEST_CASE("run --limit is kept: resume --reload expands the file the same way", "[cli][caps]") {
  Env e;
  auto f = e.file("exp.yml", "command: 'test {x} -ne 2'\nvariables:\n  x: [1, 2, 3, 4]\n");
  auto r = e.x({"run", f, "--limit", "2", "--quiet"});
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  CHECK(e.status(id)["tasks"].size() == 2);
  e.file("exp.yml", "command: 'test {x} -ne 5'\nvariables:\n  x: [1, 2, 3, 4]\n");
  auto again = e.x({"resume", id, "--reload", "--quiet"});
  INFO(again.err);
  CHECK(again.code == 0);
  CHECK(e.status(id)["tasks"].size() == 2);
}

TEST_CASE("a task's variables win over what bash's BASH_ENV file sets, as the script's exports do", "[cli][run]") {
  // bash sources $BASH_ENV before a non-interactive shell's script: a variable given in the
  // shell's environment would lose to it, one the script exports wins (as on every backend).
  Env e;
  auto env_file = e.file("bash_env.sh", "lr=from_bash_env; XRUN_TASK_ID=from_bash_env; export lr\n");
  e.opts.env["BASH_ENV"] = env_file;
  auto f = e.file("exp.yml", "shell: bash\ncommand: ': {lr}; echo \"$lr $XRUN_TASK_ID\"'\nvariables:\n  lr: [0.5]\n");
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  CHECK(e.x({"logs", first_line(r.out), "0"}).out == "0.5 0\n");
}
