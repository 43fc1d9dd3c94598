#include <catch2/catch.hpp>

#include "support/support.hpp"
#include "xrun/plan/expander.hpp"
#include "xrun/run/process.hpp"
#include "xrun/ops/create.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/util/text.hpp"

#include <unistd.h>

#include <algorithm>

using namespace xrun;

namespace {
struct Fixture {
  util::TempDir tmp;
  store::Store st = store::Store::open(tmp.path() + "/store");
  spec::Spec sp;
  plan::Plan p;
  store::Experiment exp;
  nlohmann::ordered_json meta;
  explicit Fixture(const std::string& yaml) {
    test::write_file(tmp.path(), "exp.yml", yaml);
    auto s = spec::load_spec(tmp.path() + "/exp.yml");
    REQUIRE(s.ok());
    sp = s.value();
    auto e = plan::Expander::create(sp);
    REQUIRE(e.ok());
    p = e->materialize().value();
    auto x = ops::create_experiment(st, sp, p, "local", {});
    REQUIRE(x.ok());
    exp = x.value();
    meta = exp.meta().value();
  }
  // Run the wrapper for a task the way every backend does, with plain sh.
  int run_task(size_t id) {
    REQUIRE(run::prepare_task(exp, p, meta, id).ok());
    return test::run_program(run::wrapper_argv(exp, id)).code;
  }
};
}  // namespace

TEST_CASE("the experiment folder holds meta, plan, file copy and wrapper", "[run]") {
  Fixture f("name: demo\ncommand: echo {x}\nvariables:\n  x: [1, 2]\n");
  for (const char* file : {"meta.json", "plan.json", "experiment.yml", "wrapper.sh"})
    CHECK(util::exists(f.exp.path(file)));
  CHECK(f.meta["tasks"] == 2);
  CHECK(f.meta["backend"] == "local");
  CHECK(test::read(f.exp.path("experiment.yml")) == f.sp.source);
}

TEST_CASE("the wrapper records RUNNING then the final state, with plain sh", "[run]") {
  Fixture f("command:\n  - echo out-{x}\n  - echo err-{x} >&2\n  - test {x} -eq 1\n  - echo never\nvariables:\n  x: [1, 2]\n");
  CHECK(f.run_task(0) == 0);
  CHECK(f.run_task(1) == 1);
  auto s0 = store::decide(f.exp.facts_of(0)).status, s1 = store::decide(f.exp.facts_of(1)).status;
  CHECK(s0.state == store::State::Succeeded);
  CHECK(s1.state == store::State::Failed);
  CHECK(*s1.exit_code == 1);
  CHECK(s1.end >= s1.start);
  CHECK(test::read(f.exp.task_dir(0) + "/stdout") == "out-1\nnever\n");
  CHECK(test::read(f.exp.task_dir(1) + "/stdout") == "out-2\n");  // stops at the first failure
  CHECK(test::read(f.exp.task_dir(1) + "/stderr") == "err-2\n");
  // The start record names the wrapper's process for good: its start time and the boot.
  auto started = store::parse_wrapper_record(test::read(f.exp.task_dir(0) + "/started"));
  REQUIRE(started);
  CHECK(started->pid_start > 0);
  CHECK(started->wrapper_start == started->pid_start);
  CHECK(started->boot == run::boot_id());
}

TEST_CASE("tasks see XRUN_* and their variables, in the working directory", "[run]") {
  // {lr} and {PATH} make them task variables; PATH is never exported (it would break the shell).
  Fixture f("command: 'echo $XRUN_TASK_ID $XRUN_STAGE $XRUN_TASK_INDEX $lr $PWD; test -d \"$XRUN_TASK_DIR\" # {lr} {PATH}'\nvariables:\n  lr: [0.5]\n  PATH: [x]\n");
  CHECK(f.run_task(0) == 0);
  CHECK(test::read(f.exp.task_dir(0) + "/stdout") == "0 main 0 0.5 " + f.tmp.path() + "\n");
}

TEST_CASE("variables reach a local worker's shell through its environment only where that means the same", "[run]") {
  // The rule: xrun's own, and names with a lowercase letter (no shell or C library special
  // variable has one, but bash's two interactive ones); never a value holding a NUL.
  CHECK(run::env_passable("XRUN_TASK_ID", "3"));
  CHECK(run::env_passable("lr", "0.5"));
  CHECK(run::env_passable("Model_Name", "a b'c\nd"));
  CHECK_FALSE(run::env_passable("SEED", "1"));  // could be one the shell or libc reads at its start
  CHECK_FALSE(run::env_passable("LD_BIND_NOW", "1"));
  CHECK_FALSE(run::env_passable("auto_resume", "1"));
  CHECK_FALSE(run::env_passable("histchars", "!^"));
  CHECK_FALSE(run::env_passable("lr", std::string("a\0b", 3)));
  CHECK_FALSE(run::env_passable("not-a-name", "1"));
  CHECK(run::env_shell(""));
  CHECK(run::env_shell("/bin/bash"));
  CHECK(run::env_shell("sh"));
  CHECK(run::env_shell("dash"));
  CHECK_FALSE(run::env_shell("zsh"));  // (its lowercase specials: path, cdpath, ...)
  CHECK_FALSE(run::env_shell("/usr/bin/ksh"));

  Fixture f("command: 'echo {lr} {SEED}'\nvariables:\n  lr: [\"0.5 it's\"]\n  SEED: [7]\n");
  std::vector<std::string> env;
  const std::string lean = run::task_script(f.exp, f.p, 0, ".", 1, {}, &env);
  const std::string whole = run::task_script(f.exp, f.p, 0, ".", 1);
  CHECK(lean.find("export lr=") == std::string::npos);
  CHECK(lean.find("export XRUN_TASK_ID=") == std::string::npos);
  CHECK(lean.find("export SEED='7'\n") != std::string::npos);  // stays the script's own
  CHECK(std::find(env.begin(), env.end(), "lr=0.5 it's") != env.end());
  CHECK(std::find(env.begin(), env.end(), "XRUN_TASK_ID=0") != env.end());
  CHECK(std::find(env.begin(), env.end(), "XRUN_TASK_DIR=" + f.exp.task_dir(0)) != env.end());
  // Exported by the script again (when the environment cannot carry them), the same lines.
  const std::string again = run::with_exports(lean, env);
  for (const auto& e : env) {
    auto eq = e.find('=');
    CHECK(again.find(run::export_line(e.substr(0, eq), e.substr(eq + 1))) != std::string::npos);
    CHECK(whole.find(run::export_line(e.substr(0, eq), e.substr(eq + 1))) != std::string::npos);
  }
  CHECK(util::starts_with(again, "# xrun task 0:"));
  CHECK(again.size() == whole.size());

  // prepare_task hands a worker the lean script with the variables; for another shell, or to a
  // caller that runs cmd.sh, the whole script.
  auto inl = run::prepare_task(f.exp, f.p, f.meta, 0, nullptr, nullptr, true);
  REQUIRE(inl.ok());
  CHECK(inl->script.find("export lr=") == std::string::npos);
  CHECK(inl->env.size() == env.size());
  Fixture z("shell: zsh\ncommand: 'echo {lr}'\nvariables:\n  lr: [1]\n");
  auto zi = run::prepare_task(z.exp, z.p, z.meta, 0, nullptr, nullptr, true);
  REQUIRE(zi.ok());
  CHECK(zi->env.empty());
  CHECK(zi->script.find("export lr='1'\n") != std::string::npos);
}

TEST_CASE("a task shell from the file is used - a missing one fails the task clearly", "[run]") {
  Fixture ok("shell: sh\ncommand: 'echo ${{BASH_VERSION:-none}}'\n");
  CHECK(ok.run_task(0) == 0);
  CHECK(test::read(ok.exp.task_dir(0) + "/stdout") == "none\n");
  Fixture bad("shell: /no/such/shell\ncommand: echo hi\n");
  CHECK(bad.run_task(0) == 127);
  CHECK(test::read(bad.exp.task_dir(0) + "/stderr").find("not found") != std::string::npos);
}

TEST_CASE("rerunning a task archives the earlier attempt", "[run]") {
  Fixture f("command: 'echo run; test -e flag'\n");
  CHECK(f.run_task(0) == 1);
  test::write_file(f.tmp.path(), "flag", "");
  CHECK(f.run_task(0) == 0);
  CHECK(store::decide(f.exp.facts_of(0)).status.attempt == 2);
  CHECK(test::read(f.exp.task_dir(0) + "/attempts/1/status").find("state=FAILED") != std::string::npos);
}

TEST_CASE("process liveness checks the command line, not just the pid", "[run]") {
  CHECK(run::process_alive(::getpid(), ""));
  CHECK_FALSE(run::process_alive(::getpid(), "definitely-not-in-my-cmdline-xyz"));
  CHECK_FALSE(run::process_alive(0, ""));
}

TEST_CASE("the single-task wrapper passes the signals it gets to the task's whole group, even under dash", "[run]") {
  auto start = [](Fixture& f) {
    REQUIRE(run::prepare_task(f.exp, f.p, f.meta, 0).ok());
    run::Child::Spawn sp;
    sp.argv = run::wrapper_argv(f.exp, 0);  // sh = dash on Debian
    auto c = run::Child::spawn(sp);
    REQUIRE(c.ok());
    REQUIRE(test::eventually([&] { return !test::read(f.tmp.path() + "/child.pid").empty(); }, 10));
    return std::move(c.value());
  };
  auto ended = [](Fixture& f) {
    return test::eventually([&] { return store::is_final(store::decide(f.exp.facts_of(0)).status.state); }, 10);
  };
  SECTION("Ctrl-C reaches a task run by `sh wrapper.sh` (dash ignores INT in background jobs unless reset)") {
    Fixture f("command: 'trap \"echo got-int; exit 3\" INT; echo $$ > child.pid; sleep 20 & wait'\n");
    auto c = start(f);
    ::kill(c.pid(), SIGINT);  // the wrapper only, as `docker kill --signal=INT` does
    REQUIRE(ended(f));
    auto st = store::decide(f.exp.facts_of(0)).status;
    CHECK(st.state == store::State::Failed);
    CHECK(*st.exit_code == 3);
    CHECK(test::read(f.exp.task_dir(0) + "/stdout") == "got-int\n");
    c.kill_group(SIGKILL);  // the sleep (shells ignore INT in their own background jobs)
  }
  SECTION("USR1, USR2, ALRM and QUIT to the wrapper alone (Slurm's --signal=B:SIG) reach the task, every time; "
          "the wrapper lives on and records the task's own end") {
    Fixture f(
        "command: 'n=0; for s in USR1 USR2 ALRM QUIT; do trap \"n=\\$((n+1)); echo $s\" $s; done; echo $$ > child.pid; "
        "while [ $n -lt 5 ]; do sleep 0.05; done; exit 0'\n");
    auto c = start(f);
    std::string seen;
    for (int sig : {SIGUSR1, SIGUSR2, SIGALRM, SIGQUIT, SIGUSR1}) {
      seen += std::string(sig == SIGUSR1 ? "USR1" : sig == SIGUSR2 ? "USR2" : sig == SIGALRM ? "ALRM" : "QUIT") + "\n";
      ::kill(c.pid(), sig);
      INFO(seen);
      REQUIRE(test::eventually([&] { return test::read(f.exp.task_dir(0) + "/stdout") == seen; }, 10));
    }
    REQUIRE(ended(f));
    auto st = store::decide(f.exp.facts_of(0)).status;
    CHECK(st.state == store::State::Succeeded);
  }
  SECTION("TERM to the wrapper alone reaches the task's children") {
    Fixture f("command: 'sleep 20 & echo $! > child.pid; wait'\n");
    auto c = start(f);
    long sleeper = std::stol(test::read(f.tmp.path() + "/child.pid"));
    ::kill(c.pid(), SIGTERM);
    REQUIRE(ended(f));
    CHECK(test::eventually([&] { return !run::process_alive(sleeper, "sleep"); }, 10));
  }
}
