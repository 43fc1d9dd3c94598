// The task-state engine: every combination of facts that matters, one outcome each.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fmt/format.h>

#include "xrun/store/task_state.hpp"

using namespace xrun::store;

namespace {
WrapperRecord rec(const std::string& state, int exit_code = 0, int sig = 0) {
  WrapperRecord r;
  r.state = state;
  r.exit_code = exit_code;
  if (sig) r.signal = sig;
  r.pid = 42;
  r.wrapper = 41;
  r.host = "h";
  r.attempt = 1;
  return r;
}
SchedulerView view(SchedulerView::Phase phase, const std::string& state = "",
                   SchedulerView::EndedAs as = SchedulerView::EndedAs::Other) {
  SchedulerView v;
  v.phase = phase;
  v.state = state;
  v.ended_as = as;
  v.name = "Slurm";
  v.element = "7_3";
  return v;
}
struct F {
  TaskFacts f;
  F& record(WrapperRecord r) { f.record = r; return *this; }
  F& control(const std::string& s, const std::string& why = "") { f.control = ControlRecord{s, why}; return *this; }
  F& cancel() { f.cancel_requested = true; return *this; }
  F& live(Liveness l) { f.liveness = l; return *this; }
  F& sched(SchedulerView v) { f.scheduler = v; return *this; }
  F& blocked(const std::string& b) { f.blocked = b; return *this; }
  Decision d() const { return decide(f); }
  State state() const { return decide(f).status.state; }
};
using P = SchedulerView::Phase;
using E = SchedulerView::EndedAs;
}  // namespace

TEST_CASE("task state: the wrapper's final record", "[store][task_state]") {
  CHECK(F().state() == State::Pending);
  CHECK(F().record(rec("SUCCEEDED")).cancel().control("CANCELLED").state() == State::Succeeded);
  CHECK(F().record(rec("FAILED", 1)).state() == State::Failed);
  CHECK(F().record(rec("FAILED", 1)).d().status.reason == "exit code 1");
  CHECK(F().record(rec("FAILED", 143, SIGTERM)).cancel().state() == State::Cancelled);
  CHECK(F().record(rec("FAILED", 143, SIGTERM)).control("TIMEOUT", "w").state() == State::Timeout);
  // Stopped at its walltime, the task trapped SIGTERM and ended with its own code: TIMEOUT wins,
  // its code in the reason. (This reverses the earlier rule "the task's status wins": a task
  // that checkpoints and exits 0 at its limit did not finish its work, and the user must see it
  // needs more time.)
  auto saved = F().record(rec("SUCCEEDED")).control("TIMEOUT", "walltime of 2s exceeded").d().status;
  CHECK(saved.state == State::Timeout);
  CHECK(saved.reason == "walltime of 2s exceeded (the task then ended with its own exit code 0)");
  auto three = F().record(rec("FAILED", 3)).control("TIMEOUT", "w").d().status;
  CHECK(three.state == State::Timeout);
  CHECK(three.reason == "w (the task then ended with its own exit code 3)");
  CHECK(F().record(rec("FAILED", 139, 11)).d().status.reason == "killed by signal 11");
}

TEST_CASE("task state: a task reused from another experiment is SUCCEEDED with where it came from", "[store][task_state]") {
  auto reused = F().record(rec("SUCCEEDED")).control(kReusedState, "reused from exp-1/7").d().status;
  CHECK(reused.state == State::Succeeded);
  CHECK(reused.reason == "reused from exp-1/7");
  CHECK(F().record(rec("SUCCEEDED")).d().status.reason.empty());
  auto src = parse_reused_reason("reused from sweep-20261208-101010-ab12/42");
  REQUIRE(src);
  CHECK(src->exp == "sweep-20261208-101010-ab12");
  CHECK(src->task == 42);
  CHECK_FALSE(parse_reused_reason("reused from x"));
  CHECK_FALSE(parse_reused_reason("reused from /3"));
  CHECK_FALSE(parse_reused_reason("reused from x/3a"));
  CHECK_FALSE(parse_reused_reason("its creates file x exists"));
}

TEST_CASE("task state: a started task is decided by liveness", "[store][task_state]") {
  auto alive = F().record(rec("RUNNING")).live(Liveness::Alive).d();
  CHECK(alive.status.state == State::Running);
  CHECK(alive.status.wrapper_alive);
  CHECK(F().record(rec("RUNNING")).state() == State::Running);  // nobody can tell (another host)
  auto lost = F().record(rec("RUNNING")).live(Liveness::Gone).d();
  CHECK(lost.status.state == State::Lost);
  CHECK_FALSE(lost.status.reason.empty());
  CHECK_FALSE(lost.verdict);  // liveness is not a scheduler's verdict
  CHECK(F().record(rec("RUNNING")).live(Liveness::Gone).control("TIMEOUT").state() == State::Timeout);
  CHECK(F().record(rec("RUNNING")).live(Liveness::Gone).cancel().state() == State::Cancelled);
}

TEST_CASE("task state: never started", "[store][task_state]") {
  CHECK(F().control("SKIPPED", "stage x failed").state() == State::Skipped);
  CHECK(F().cancel().state() == State::Cancelled);
  CHECK(F().control("LOST", "gone").state() == State::Lost);
  CHECK(F().control("TIMEOUT").state() == State::Timeout);
}

TEST_CASE("task state: the scheduler's view", "[store][task_state]") {
  SECTION("queued and running jobs") {
    auto q = F().sched(view(P::Queued, "PENDING")).d();
    CHECK(q.status.state == State::Pending);
    CHECK(q.status.backend_state == "PENDING");
    CHECK(F().sched(view(P::Running, "RUNNING")).state() == State::Running);
    CHECK(F().record(rec("RUNNING")).sched(view(P::Running, "RUNNING")).state() == State::Running);
    // A scheduler that queues the job again outranks an earlier LOST.
    CHECK(F().control("LOST", "x").sched(view(P::Queued, "PENDING")).state() == State::Pending);
  }
  SECTION("time limit and cancels outside xrun are verdicts, persisted") {
    auto t = F().record(rec("FAILED", 143, SIGTERM)).sched(view(P::Ended, "TIMEOUT", E::Timeout)).d();
    CHECK(t.status.state == State::Timeout);
    REQUIRE(t.verdict);
    CHECK(t.verdict->state == "TIMEOUT");
    auto c = F().record(rec("RUNNING")).sched(view(P::Ended, "CANCELLED", E::Cancelled)).d();
    CHECK(c.status.state == State::Cancelled);
    REQUIRE(c.verdict);
    CHECK(c.verdict->reason.find("outside xrun") != std::string::npos);
    // Cancelled by xrun: not "outside", and nothing to persist.
    auto mine = F().record(rec("FAILED", 143, SIGTERM)).cancel().sched(view(P::Ended, "CANCELLED", E::Cancelled)).d();
    CHECK(mine.status.state == State::Cancelled);
    CHECK_FALSE(mine.verdict);
    // A task that failed on its own (its wrapper got no stopping signal) is FAILED whatever the
    // job's state; one whose wrapper got TERM at the time limit, and that trapped it and ended
    // with its own code, is TIMEOUT (TIMEOUT wins: this reverses "the task's status wins").
    CHECK(F().record(rec("FAILED", 1)).sched(view(P::Ended, "TIMEOUT", E::Timeout)).state() == State::Failed);
    auto got = [](WrapperRecord r) {
      r.got = "TERM";
      return r;
    };
    for (auto r : {rec("SUCCEEDED"), rec("FAILED", 3)}) {
      auto d = F().record(got(r)).sched(view(P::Ended, "TIMEOUT", E::Timeout)).d();
      CHECK(d.status.state == State::Timeout);
      REQUIRE(d.verdict);
      CHECK(d.verdict->state == "TIMEOUT");
      CHECK(d.verdict->reason == fmt::format("Slurm's time limit was reached (the task then ended with its own exit code {})",
                                             r.exit_code.value_or(-1)));
      // Recorded, it stands once the job is forgotten, its code said once.
      CHECK(F().record(got(r)).control("TIMEOUT", d.verdict->reason).sched(view(P::Gone)).d().status.reason ==
            d.verdict->reason);
    }
    // Got TERM from a cancel outside xrun and ended on its own: its own status.
    CHECK(F().record(got(rec("SUCCEEDED"))).sched(view(P::Ended, "CANCELLED", E::Cancelled)).state() == State::Succeeded);
  }
  SECTION("a job gone without a final status is LOST, persisted; a blocked one is SKIPPED") {
    auto gone = F().record(rec("RUNNING")).sched(view(P::Gone)).d();
    CHECK(gone.status.state == State::Lost);
    REQUIRE(gone.verdict);
    CHECK(gone.verdict->reason.find("7_3 left the queue") != std::string::npos);
    CHECK(F().sched(view(P::Ended, "COMPLETED")).state() == State::Lost);
    CHECK(F().sched(view(P::Gone)).blocked("stage 'a' did not succeed").state() == State::Skipped);
    CHECK(F().sched(view(P::NeverRuns, "PENDING")).state() == State::Skipped);
    CHECK(F().sched(view(P::NeverRuns, "PENDING")).blocked("stage 'a' did not succeed").d().status.reason ==
          "stage 'a' did not succeed");
  }
  SECTION("a job that left the queue before it started (no record, no scheduler log) is CANCELLED, persisted") {
    // `scancel JOB_IDX` of a pending element: it vanishes from the queue; it never ran.
    auto left = F().sched(view(P::Gone)).d();
    CHECK(left.status.state == State::Cancelled);
    REQUIRE(left.verdict);
    CHECK(left.verdict->state == "CANCELLED");
    CHECK(left.verdict->reason == "Slurm job 7_3 left the queue before it started");
    // A scheduler log says it did start (its wrapper could not record it): LOST, with the log.
    auto v = view(P::Gone);
    v.log = "; Slurm log (x.out): sh: wrapper.sh: not found";
    auto started = F().sched(v).d();
    CHECK(started.status.state == State::Lost);
    CHECK(started.status.reason.find("wrapper.sh: not found") != std::string::npos);
    // Removed because its dependency failed (kill_invalid_depend), even once purged: SKIPPED.
    CHECK(F().sched(view(P::Gone)).blocked("stage 'a' did not succeed").state() == State::Skipped);
  }
  SECTION("out of memory is its own verdict, persisted, never LOST") {
    // The whole job killed (its wrapper too): no final record.
    auto oom = F().record(rec("RUNNING")).sched(view(P::Ended, "OUT_OF_MEMORY", E::OutOfMemory)).d();
    CHECK(oom.status.state == State::OutOfMemory);
    REQUIRE(oom.verdict);
    CHECK(oom.verdict->state == "OUT_OF_MEMORY");
    // The task killed (SIGKILL), its wrapper alive to record it.
    CHECK(F().record(rec("FAILED", 137, SIGKILL)).sched(view(P::Ended, "OUT_OF_MEMORY", E::OutOfMemory)).state() ==
          State::OutOfMemory);
    // Recorded, it stands once the job is forgotten.
    CHECK(F().record(rec("RUNNING")).control("OUT_OF_MEMORY", "x").sched(view(P::Gone)).state() == State::OutOfMemory);
    CHECK(F().record(rec("FAILED", 137, SIGKILL)).control("OUT_OF_MEMORY", "x").sched(view(P::Gone)).state() ==
          State::OutOfMemory);
    CHECK(F().control("OUT_OF_MEMORY", "x").state() == State::OutOfMemory);
    CHECK(parse_state("OUT_OF_MEMORY") == State::OutOfMemory);
    CHECK(is_failure(State::OutOfMemory));
    CHECK(is_final(State::OutOfMemory));
  }
  SECTION("a requeued job is PENDING again, not LOST or FAILED") {
    auto r = F().record(rec("FAILED", 143, SIGTERM)).sched(view(P::Queued, "PENDING")).d();
    CHECK(r.status.state == State::Pending);
    CHECK(r.status.reason.find("requeued") != std::string::npos);
    CHECK(F().record(rec("RUNNING")).sched(view(P::Queued, "REQUEUED")).state() == State::Pending);
    CHECK(F().record(rec("FAILED", 137, SIGKILL)).sched(view(P::Queued, "PENDING")).cancel().state() == State::Cancelled);
  }
  SECTION("a cancel requested while the scheduler still queues or runs the job is no verdict yet") {
    // (scancel failed, or is on its way: the job may still run.)
    auto queued = F().sched(view(P::Queued, "PENDING")).cancel().d();
    CHECK(queued.status.state == State::Pending);
    CHECK(queued.status.reason.find("cancel requested") != std::string::npos);
    CHECK_FALSE(queued.verdict);
    CHECK(F().sched(view(P::Running, "RUNNING")).cancel().state() == State::Running);
    // Once the scheduler says it is over, it is CANCELLED.
    CHECK(F().sched(view(P::Ended, "CANCELLED", E::Cancelled)).cancel().state() == State::Cancelled);
    CHECK(F().sched(view(P::Gone)).cancel().state() == State::Cancelled);
  }
}

TEST_CASE("task state: records are read again only when the backend reports a task gone", "[store][task_state]") {
  CHECK_FALSE(needs_reread(F().f));
  CHECK(needs_reread(F().record(rec("RUNNING")).live(Liveness::Gone).f));
  CHECK(needs_reread(F().sched(view(P::Gone)).f));
  CHECK(needs_reread(F().record(rec("RUNNING")).sched(view(P::Ended, "COMPLETED")).f));
  CHECK_FALSE(needs_reread(F().record(rec("SUCCEEDED")).sched(view(P::Gone)).f));
  CHECK_FALSE(needs_reread(F().record(rec("RUNNING")).live(Liveness::Alive).f));
}

TEST_CASE("task state: a requeued job that runs again is RUNNING before its new record", "[store][task_state]") {
  auto again = F().record(rec("FAILED", 143, SIGTERM)).sched(view(P::Running, "RUNNING")).d();
  CHECK(again.status.state == State::Running);
  CHECK(again.status.backend_state == "RUNNING");
  // Still finishing the killed run: its end stands.
  CHECK(F().record(rec("FAILED", 143, SIGTERM)).sched(view(P::Running, "COMPLETING")).state() == State::Failed);
}

TEST_CASE("task state: a recorded verdict stands when nobody can tell (no scheduler answer)", "[store][task_state]") {
  CHECK(F().record(rec("RUNNING")).control("TIMEOUT", "limit").state() == State::Timeout);
  CHECK(F().record(rec("RUNNING")).control("CANCELLED", "outside").state() == State::Cancelled);
  CHECK(F().record(rec("RUNNING")).control("LOST", "left the queue").state() == State::Lost);
  CHECK(F().record(rec("RUNNING")).state() == State::Running);
}

TEST_CASE("task state: a task killed because a decision left it out keeps that decision", "[store][task_state]") {
  auto d = F().record(rec("FAILED", 143, SIGTERM)).control("SKIPPED", "early stop: task 0 reached loss <= 2.0").d();
  CHECK(d.status.state == State::Skipped);
  CHECK(d.status.reason == "early stop: task 0 reached loss <= 2.0");
  CHECK(F().record(rec("FAILED", 1)).control("SKIPPED", "x").state() == State::Failed);  // failed on its own
}
