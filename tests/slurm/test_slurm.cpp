// Scenarios against a real single-node Slurm cluster (scripts/slurm-cluster.sh start).
// Without a reachable cluster every case exits with code 4, which ctest reports as SKIPPED,
// with the reason printed; scripts/test.sh makes a missing cluster fatal in CI.
#include <catch2/catch.hpp>

#include <map>

#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cstdlib>

#include <nlohmann/json.hpp>
#include <iostream>

#include "support/env.hpp"
#include "support/scheduler.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {

using test::count_calls;
using test::require_cluster;
using test::slurm_logging_path;

const char* kHeader = "slurm:\n  poll_interval: 1\n";

}  // namespace

TEST_CASE("a 3-stage experiment runs as arrays and --wait follows it to the end", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("name: three\njobs:\n  - name: prep\n    command: mkdir -p out\n"
                                         "  - name: sweep\n    command: 'echo {x} > out/{x}.txt; echo done {x}'\n"
                                         "  - name: report\n    command: cat out/*.txt | wc -l\n"
                                         "variables:\n  x: [1, 2, 3, 4]\n") + kHeader);
  auto r = e.x({"run", f, "--wait"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto s = e.status(id);
  CHECK(s["backend"] == "slurm");
  CHECK(s["state"] == "succeeded");
  CHECK(s["counts"]["SUCCEEDED"] == 6);
  CHECK(e.x({"logs", id, "report/0"}).out == "4\n");
  CHECK(e.x({"logs", id, "sweep/2"}).out == "done 3\n");
  CHECK(util::exists(e.exp_dir(id) + "/backend/slurm/stage2-0.sbatch"));
  CHECK(s["tasks"][1]["host"].is_string());
}

TEST_CASE("a failure in stage 1 stops stage 2: SKIPPED, exit 1 with --wait", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("jobs:\n  - command: 'test {x} -ne 2'\n  - command: echo never\n"
                                         "variables:\n  x: [1, 2, 3]\n") + kHeader);
  auto r = e.x({"run", f, "--wait"});
  INFO(r.err);
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  auto s = e.status(id);
  CHECK(s["tasks"][1]["state"] == "FAILED");
  CHECK(s["tasks"][3]["state"] == "SKIPPED");
  CHECK(s["tasks"][3]["reason"].get<std::string>().find("did not succeed") != std::string::npos);
  CHECK(s["state"] == "failed");
}

TEST_CASE("cancelling a running array element, and logs of a task", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("command: 'echo started {x}; sleep {t}'\nvariables:\n  x: [0, 1]\n  t: [20]\n") + kHeader);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "RUNNING" && e.state(id, 1) == "RUNNING"; }, 30));
  REQUIRE(test::eventually([&] { return e.x({"logs", id, "0"}).out == "started 0\n"; }, 10));
  e.opts.env["PATH"] = slurm_logging_path(e);
  CHECK(e.x({"cancel", id, "0"}).code == 0);
  CHECK(test::read(e.path("calls.log")).find("scancel ") != std::string::npos);
  CHECK(test::read(e.path("calls.log")).find("_0") != std::string::npos);  // scancel <array>_<index>
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "CANCELLED"; }, 30));
  CHECK(e.state(id, 1) == "RUNNING");
  CHECK(e.x({"cancel", id}).code == 0);
  REQUIRE(test::eventually([&] { return e.state(id, 1) == "CANCELLED"; }, 30));
  CHECK(e.status(id)["state"] == "cancelled");
}

TEST_CASE("a job that died without a final task status is LOST with the reason", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("command: 'sleep 30 # {x}'\nvariables:\n  x: [1]\n") + kHeader);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  // The wrapper's own record (Slurm may say RUNNING a moment before the wrapper has written it).
  REQUIRE(test::eventually([&] { return test::read(e.exp_dir(id) + "/tasks/0/started").find("written=1") != std::string::npos; }, 30));
  // The wrapper and the task die without a word, as on a crashed node.
  auto [group, wrapper] = e.started_pids(id, 0);
  ::kill(static_cast<pid_t>(wrapper), SIGKILL);
  ::kill(static_cast<pid_t>(-group), SIGKILL);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "LOST"; }, 30));
  CHECK_FALSE(e.status(id)["tasks"][0]["reason"].is_null());
  CHECK(e.x({"cancel", id}).code == 0);
}

TEST_CASE("a stage larger than MaxArraySize is split into several arrays", "[slurm]") {
  require_cluster();
  auto cfg = run::capture({"scontrol", "show", "config"});
  REQUIRE(cfg.ok());
  size_t max_array = 0;
  for (const auto& line : util::split(cfg->out, '\n'))
    if (util::starts_with(line, "MaxArraySize")) max_array = std::stoul(line.substr(line.find('=') + 1));
  REQUIRE(max_array > 0);
  if (max_array > 100) {
    std::cout << "SKIPPED: MaxArraySize is " << max_array << "; scripts/slurm-cluster.sh sets a small one" << std::endl;
    xrun::test::skip_exit();
  }
  Env e;
  e.opts.env["PATH"] = slurm_logging_path(e);
  size_t n = max_array * 2 + 3;
  auto f = e.file("exp.yml", "command: echo {i}\nvariables:\n  i:\n    arange: " + std::to_string(n) + "\n" + kHeader);
  auto r = e.x({"run", f, "--wait", "--quiet"});
  REQUIRE(r.code == 0);
  CHECK(count_calls(e, "sbatch") == 3);
  auto sub = nlohmann::json::parse(test::read(e.exp_dir(first_line(r.out)) + "/backend/slurm/submission-1.json"));
  REQUIRE(sub["arrays"].size() == 3);
  CHECK(sub["arrays"][2]["base"] == 2 * max_array);
  CHECK(e.status(first_line(r.out))["counts"]["SUCCEEDED"] == n);
}

TEST_CASE("max_parallel becomes the %N throttle and is honoured", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("command: 'echo + >> ") + e.path("trace") + "; sleep 1; echo - >> " +
                                 e.path("trace") + "; echo {i}'\nvariables:\n  i: [1, 2, 3, 4]\nslurm:\n  max_parallel: 1\n  poll_interval: 1\n");
  auto d = e.x({"run", f, "--dry-run"});
  CHECK(d.out.find("--array=0-3%1") != std::string::npos);
  auto r = e.x({"run", f, "--wait", "--quiet"});
  REQUIRE(r.code == 0);
  int peak = test::peak_concurrency(test::read(e.path("trace")));
  CHECK(peak == 1);
}

TEST_CASE("resume resubmits only the failed tasks as a sparse array", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("command: 'test -e ") + e.path("ok") +
                                 " || test $(( {i} % 3 )) -ne 1'\nvariables:\n  i: [0, 1, 2, 3, 4, 5]\n" + kHeader);
  auto r = e.x({"run", f, "--wait", "--quiet"});
  REQUIRE(r.code == 1);
  std::string id = first_line(r.out);
  CHECK(e.state(id, 1) == "FAILED");
  CHECK(e.state(id, 4) == "FAILED");
  e.file("ok", "");
  e.opts.env["PATH"] = slurm_logging_path(e);
  auto res = e.x({"resume", id, "--wait", "--quiet"});
  CHECK(res.code == 0);
  CHECK(test::read(e.path("calls.log")).find("--array=1,4 ") != std::string::npos);
  CHECK(count_calls(e, "sbatch") == 1);
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  CHECK(s["tasks"][0]["attempt"] == 1);
  CHECK(s["tasks"][1]["attempt"] == 2);
}

TEST_CASE("resume --reload on Slurm matches tasks by identity: reordered and added values", "[slurm]") {
  require_cluster();
  Env e;
  // Each run appends its value to a ledger outside the store; odd values fail until `ok` exists.
  auto sweep = [&](const std::string& values) {
    return std::string("command: 'echo {i} >> ") + e.path("ran.txt") + "; test -e " + e.path("ok") +
           " || test $(( {i} % 2 )) -eq 0'\nvariables:\n  i: " + values + "\n" + kHeader;
  };
  auto f = e.file("exp.yml", sweep("[0, 1, 2, 3]"));
  auto r = e.x({"run", f, "--wait", "--quiet"});
  REQUIRE(r.code == 1);
  std::string id = first_line(r.out);
  e.file("ok", "");
  e.file("exp.yml", sweep("[3, 2, 1, 0, 4, 5]"));
  auto res = e.x({"resume", id, "--reload", "--wait"});
  CHECK(res.code == 0);
  CHECK(res.err.find("+2 new, 2 to rerun, 0 retired, 2 kept") != std::string::npos);
  std::map<std::string, int> n;
  for (const auto& line : util::split(test::read(e.path("ran.txt")), '\n'))
    if (!line.empty()) ++n[line];
  CHECK(n == std::map<std::string, int>{{"0", 1}, {"1", 2}, {"2", 1}, {"3", 2}, {"4", 1}, {"5", 1}});
  auto s = e.status(id);
  CHECK(s["state"] == "succeeded");
  REQUIRE(s["tasks"].size() == 6);
  CHECK(s["tasks"][0]["id"] == 3);  // i=3, first in the file now, under its id
  CHECK(s["tasks"][0]["attempt"] == 2);
  CHECK(s["tasks"][4]["id"] == 4);
  // Its array runs ids that do not follow its indices: the submission maps them.
  auto sub = nlohmann::json::parse(test::read(e.exp_dir(id) + "/backend/slurm/submission-2.json"));
  REQUIRE(sub["arrays"].size() == 1);
  CHECK(sub["arrays"][0]["tasks"] == nlohmann::json::array({3, 1, 4, 5}));
}

TEST_CASE("resume --reload refuses to retire a task Slurm still queues or runs, until it is cancelled", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", "command: 'sleep {t}'\nvariables:\n  t: [0, 30, 31]\n"
                             "slurm:\n  max_parallel: 1\n  poll_interval: 1\n");
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return e.state(id, 1) == "RUNNING"; }, 30));
  const std::string plan = test::read(e.exp_dir(id) + "/plan.json");
  e.file("exp.yml", "command: 'sleep {t}'\nvariables:\n  t: [0, 31]\nslurm:\n  max_parallel: 1\n  poll_interval: 1\n");
  auto refused = e.x({"resume", id, "--reload"});
  CHECK(refused.code == 2);
  CHECK(refused.err.find("would retire task 1, which is still queued or running") != std::string::npos);
  CHECK(refused.err.find("xrun cancel " + id + " 1") != std::string::npos);
  CHECK(test::read(e.exp_dir(id) + "/plan.json") == plan);  // nothing changed
  auto d = e.x({"diff", id, "--json"});
  CHECK(nlohmann::json::parse(d.out)["blocking"] == nlohmann::json::array({1}));
  CHECK(e.x({"cancel", id}).code == 0);
}

TEST_CASE("resume leaves tasks that Slurm still runs or queues alone", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("command: 'test {i} -ne 0 && sleep 20'\nvariables:\n  i: [0, 1, 2]\n"
                                         "slurm:\n  max_parallel: 1\n  poll_interval: 1\n"));
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "FAILED" && e.state(id, 1) == "RUNNING"; }, 30));
  auto res = e.x({"resume", id, "--quiet"});
  CHECK(res.code == 0);
  auto sub = nlohmann::json::parse(test::read(e.exp_dir(id) + "/backend/slurm/submission-2.json"));
  REQUIRE(sub["arrays"].size() == 1);
  CHECK(sub["arrays"][0]["indices"] == nlohmann::json::array({0}));  // not 1 (running) nor 2 (queued)
  CHECK(e.x({"cancel", id}).code == 0);
}

TEST_CASE("scheduler calls: one sbatch per array, one squeue per status refresh", "[slurm]") {
  require_cluster();
  Env e;
  e.opts.env["PATH"] = slurm_logging_path(e);
  auto f = e.file("exp.yml", std::string("jobs:\n  - command: 'sleep 2; echo {x}'\n  - command: echo b{x}\n  - command: echo c\n"
                                         "variables:\n  x: [1, 2, 3, 4, 5, 6]\n") + kHeader);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  CHECK(count_calls(e, "sbatch") == 3);
  CHECK(count_calls(e, "squeue") == 0);
  auto st = e.x({"status", id});
  CHECK(st.code == 0);
  CHECK(count_calls(e, "squeue") == 1);
  auto sj = e.x({"status", id, "--json"});
  CHECK(count_calls(e, "squeue") == 2);
  // Pending reasons are shown once Slurm has computed them (Dependency for the later stages).
  CHECK(test::eventually([&] { return e.x({"status", id, "--json"}).out.find("PENDING (Dependency)") != std::string::npos; }, 20));
  REQUIRE(test::eventually([&] { return e.status(id)["state"] == "succeeded"; }, 60));
}

TEST_CASE("dry run prints scripts and sbatch lines - no sbatch on PATH is a clear error", "[slurm]") {
  require_cluster();
  Env e;
  e.opts.env["PATH"] = slurm_logging_path(e);
  auto f = e.file("exp.yml", "command: echo {x}\nvariables:\n  x: [1, 2]\nslurm:\n  partition: debug\n  walltime: '0:10:00'\n  mem: 100M\n  exclusive: True\n  J: custom\n");
  auto d = e.x({"run", f, "--dry-run"});
  CHECK(d.code == 0);
  CHECK(d.out.find("#SBATCH --partition=debug") != std::string::npos);
  CHECK(d.out.find("#SBATCH --time=0:10:00") != std::string::npos);
  CHECK(d.out.find("#SBATCH --mem=100M") != std::string::npos);
  CHECK(d.out.find("#SBATCH --exclusive") != std::string::npos);
  CHECK(d.out.find("#SBATCH -J custom") != std::string::npos);
  CHECK(d.out.find("sbatch --parsable --array=0-1") != std::string::npos);
  CHECK(count_calls(e, "sbatch") == 0);
  Env bare;
  bare.opts.env["PATH"] = bare.path("empty");
  auto f2 = bare.file("exp.yml", "command: echo hi\nslurm: True\n");
  auto r = bare.x({"run", f2});
  CHECK(r.code == 2);
  CHECK(r.err.find("no 'sbatch' is on PATH") != std::string::npos);
}

TEST_CASE("a submission that fails half-way exits 1 with Slurm's message and cancels what was submitted",
          "[slurm]") {
  require_cluster();
  Env e;
  // The second sbatch is refused, as Slurm refuses a bad partition.
  std::string bin = e.path("failbin");
  std::string real = run::find_on_path("sbatch");
  test::write_file(bin, "sbatch",
                   "#!/bin/sh\nn=$(cat " + e.path("n") + " 2>/dev/null || echo 0); n=$((n + 1)); echo $n > " +
                       e.path("n") + "\nif [ $n -ge 2 ]; then echo 'sbatch: error: invalid partition specified: nope' >&2; "
                       "exit 1; fi\nexec " + real + " \"$@\"\n");
  ::chmod((bin + "/sbatch").c_str(), 0755);
  e.opts.env["PATH"] = bin + ":" + std::getenv("PATH");
  auto f = e.file("exp.yml", std::string("jobs:\n  - command: 'sleep 20 # {x}'\n  - command: echo b\n"
                                         "variables:\n  x: [1, 2]\n") + kHeader);
  auto r = e.x({"run", f});
  CHECK(r.code == 1);
  CHECK(r.err.find("invalid partition specified: nope") != std::string::npos);
  CHECK(r.err.find("already submitted were cancelled") != std::string::npos);
  std::string id = first_line(r.out);
  auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
  CHECK(runner["state"] == "submit-failed");
  REQUIRE(runner["cancelled_jobs"].size() == 1);
  std::string job = runner["cancelled_jobs"][0];
  // The first array is gone from the queue (cancelled), not left running.
  CHECK(test::eventually([&] {
    auto q = run::capture({"squeue", "-h", "-j", job, "-o", "%T"});
    return q && q->out.find("RUNNING") == std::string::npos && q->out.find("PENDING") == std::string::npos;
  }, 30));
}

TEST_CASE("store paths with spaces and '%', and #SBATCH values with spaces, work", "[slurm]") {
  require_cluster();
  Env e;
  e.opts.env["XRUN_HOME"] = e.path("my store %j 100%");
  auto f = e.file("exp.yml", std::string("command: echo hi {x}\nvariables:\n  x: [1, 2]\n") + kHeader +
                                 "  comment: \"two words\"\n");
  auto r = e.x({"run", f, "--wait"});
  INFO(r.err);
  CHECK(r.code == 0);
  std::string id = first_line(r.out);
  CHECK(e.x({"logs", id, "1"}).out == "hi 2\n");
  std::string script = test::read(e.path("my store %j 100%") + "/experiments/" + id + "/backend/slurm/stage1-0.sbatch");
  CHECK(script.find("#SBATCH --comment=\"two words\"") != std::string::npos);
  CHECK(script.find("%%j 100%%/experiments/") != std::string::npos);
}

TEST_CASE("the Slurm log of a task that left no status is its LOST reason and what xrun logs shows", "[slurm]") {
  require_cluster();
  Env e;
  // Submitted held; the wrapper is then removed, so the job dies with only Slurm's own log.
  auto f = e.file("exp.yml", std::string("command: 'echo {x}'\nvariables:\n  x: [1]\n") + kHeader + "  hold: True\n");
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
  std::string job = runner["jobs"][0];
  REQUIRE(::unlink((e.exp_dir(id) + "/wrapper.sh").c_str()) == 0);
  REQUIRE(run::capture({"scontrol", "release", job})->code == 0);
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "LOST"; }, 60));
  std::string reason = e.status(id)["tasks"][0]["reason"];
  CHECK(reason.find("Slurm log") != std::string::npos);
  CHECK(reason.find("wrapper.sh") != std::string::npos);
  auto logs = e.x({"logs", id, "0"});
  CHECK(logs.code == 0);
  CHECK(logs.err.find("scheduler log") != std::string::npos);
  CHECK(logs.out.find("wrapper.sh") != std::string::npos);
}

TEST_CASE("a task cancelled in Slurm outside xrun is CANCELLED, and stays so once the job is purged", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("command: 'sleep 60 # {x}'\nvariables:\n  x: [1]\n") + kHeader);
  auto r = e.x({"run", f});
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  REQUIRE(test::eventually([&] { return test::read(e.exp_dir(id) + "/tasks/0/started").find("written=1") != std::string::npos; }, 30));
  auto runner = nlohmann::json::parse(test::read(e.exp_dir(id) + "/runner.json"));
  std::string job = runner["jobs"][0];
  REQUIRE(run::capture({"scancel", job})->code == 0);  // not through xrun
  REQUIRE(test::eventually([&] { return e.state(id, 0) == "CANCELLED"; }, 30));
  CHECK(e.status(id)["tasks"][0]["reason"] == "cancelled in Slurm (outside xrun)");
  // Purged: Slurm no longer knows the job (a squeue that answers nothing, as after MinJobAge).
  std::string bin = e.path("purged");
  test::write_file(bin, "squeue", "#!/bin/sh\nexit 0\n");
  ::chmod((bin + "/squeue").c_str(), 0755);
  e.opts.env["PATH"] = bin + ":" + std::getenv("PATH");
  CHECK(e.state(id, 0) == "CANCELLED");
  CHECK(e.status(id)["state"] == "cancelled");
}

TEST_CASE("submitting writes one file of scripts per array, no folder per task until it starts", "[slurm]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("command: echo {i}\nvariables:\n  i:\n    arange: 25\nslurm:\n  hold: True\n"));
  auto r = e.x({"run", f, "--quiet"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string id = first_line(r.out);
  CHECK(util::list_dir(e.exp_dir(id) + "/tasks").empty());
  CHECK(util::exists(e.exp_dir(id) + "/backend/slurm/stage1-0.sbatch.tasks"));
  auto s = e.status(id);
  CHECK(s["counts"]["PENDING"] == 25);
  // Cancelled before they started: recorded all the same.
  REQUIRE(e.x({"cancel", id, "0", "1", "2"}).code == 0);
  s = e.status(id);
  CHECK(s["counts"]["CANCELLED"] == 3);
  // Released, the others run; each task gets its folder, its script cut out of the file.
  auto sub = nlohmann::json::parse(test::read(e.exp_dir(id) + "/backend/slurm/submission-1.json"));
  for (const auto& a : sub["arrays"]) REQUIRE(run::capture({"scontrol", "release", a["job_id"].get<std::string>()}, 30));
  for (int i = 0; i < 120 && e.status(id)["counts"]["SUCCEEDED"] != 22; ++i) ::usleep(500000);
  s = e.status(id);
  CHECK(s["counts"]["SUCCEEDED"] == 22);
  CHECK(s["counts"]["CANCELLED"] == 3);
  CHECK(e.x({"logs", id, "17"}).out == "17\n");
  // Once finished, the task is folded into the index: its script and records go, its output stays.
  CHECK(util::list_dir(e.exp_dir(id) + "/tasks/17") == std::vector<std::string>{"stdout"});
}

TEST_CASE("workdir with placeholders on Slurm: each array element cds into its own folder, made if missing",
          "[slurm][workdir]") {
  require_cluster();
  Env e;
  auto f = e.file("exp.yml", std::string("workdir: runs/{x}\ncommand: 'pwd > where; echo {x} > value'\n"
                                         "variables:\n  x: [1, 2, 3]\n") + kHeader);
  auto r = e.x({"run", f, "--wait"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  for (const char* x : {"1", "2", "3"}) {
    std::string dir = e.path(std::string("runs/") + x);
    CHECK(test::read(dir + "/where") == util::absolute(dir) + "\n");
    CHECK(test::read(dir + "/value") == std::string(x) + "\n");
  }
  // One array; each element's script cds into its own folder.
  std::string id = first_line(r.out);
  std::string scripts = test::read(e.exp_dir(id) + "/backend/slurm/stage1-0.sbatch.tasks");
  INFO(scripts);
  CHECK(scripts.find("cd '" + util::absolute(e.path("runs/3")) + "'") != std::string::npos);
}
