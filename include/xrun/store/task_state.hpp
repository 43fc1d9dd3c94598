// The task-state engine: everything known about a task goes in, its state and reason come out.
// decide() is the only place that interprets the records; every command and backend gets a
// task's state through it (backend/observe.hpp gathers the facts).
//
// The facts, and who provides them:
//   record     the wrapper's own records (tasks/<id>/started, then tasks/<id>/status)
//   control    a decision written by a runner (SKIPPED, CANCELLED, TIMEOUT, LOST), or a final
//              state learned from a scheduler and persisted as the task's verdict
//   cancel     an `xrun cancel` request names the task
//   liveness   the backend's answer: is the wrapper that will write the final record alive?
//              (a pid on this host for the local pool; unknown where only a scheduler knows)
//   scheduler  a batch scheduler's view of the job element that runs the task
//   blocked    the stage graph's answer: the task can never start (an earlier stage failed)
#pragma once

#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xrun::store {

// OutOfMemory: killed for its memory by the scheduler (Slurm's OUT_OF_MEMORY, an oom_kill
// event in its log); listed after Lost, so that the earlier states keep their order.
enum class State { Pending, Running, Succeeded, Failed, Timeout, Cancelled, Skipped, Lost, OutOfMemory };
const char* to_string(State s);
std::optional<State> parse_state(const std::string& s);
const std::vector<State>& all_states();
bool is_final(State s);
// FAILED, TIMEOUT, LOST, OUT_OF_MEMORY: it ended without success, not by a decision (cancel,
// skip): what --failed, the summaries and the failure counts list.
bool is_failure(State s);

// What the wrapper wrote (tasks/<id>/started, then tasks/<id>/status), key=value lines.
struct WrapperRecord {
  std::string state;  // RUNNING, SUCCEEDED, FAILED
  std::optional<int> exit_code;
  std::optional<int> signal;
  double start = 0, end = 0;
  std::string host;
  long pid = 0;      // the task's process group
  long wrapper = 0;  // the wrapper process that will write the final record
  // When `pid` and `wrapper` started (clock ticks since boot, run::process_start_ticks) on the
  // boot `boot`: with them a pid names one process for good (0 / "": not recorded, as by an
  // xrun before them; its command line is checked instead).
  uint64_t pid_start = 0, wrapper_start = 0;
  std::string boot;
  // The stopping signal the sh wrapper got from outside while the task ran (TERM, INT, HUP), ""
  // when none: a task that trapped it and ended with its own code was still stopped.
  std::string got;
  int attempt = 0;
  // What the pool handed the task ("XRUN_RESOURCE_GPU=0 CUDA_VISIBLE_DEVICES=0 ..."), so that
  // a runner that adopts it after a crash holds the same ids.
  std::string resources;
  bool final() const { return state == "SUCCEEDED" || state == "FAILED"; }
  // Ended by SIGTERM or SIGKILL (a scheduler's time limit, a cancel, a requeue, an OOM kill).
  bool killed() const { return signal && (*signal == SIGTERM || *signal == SIGKILL); }
};
std::optional<WrapperRecord> parse_wrapper_record(const std::string& text);

// A decision about a task (tasks/<id>/control): SKIPPED, CANCELLED, TIMEOUT, LOST; or, in the
// index only, REUSED next to a SUCCEEDED record copied from the experiment whose task it reuses.
struct ControlRecord {
  std::string state;
  std::string reason;
};
std::optional<ControlRecord> parse_control_record(const std::string& text);

// A task reused from another experiment (ops/reuse.hpp): its index entry holds the source's
// SUCCEEDED record and the control record REUSED "reused from EXP/TASK", which decide() gives
// as the reason. Its logs and metrics are the source task's; once that experiment is removed,
// readers say kSourceRemoved.
constexpr const char* kReusedState = "REUSED";
constexpr const char* kReusedFrom = "reused from ";
constexpr const char* kSourceRemoved = "(source removed)";
struct ReuseSource {
  std::string exp;
  size_t task = 0;
};
// "reused from EXP/TASK" read back; nullopt for any other reason.
std::optional<ReuseSource> parse_reused_reason(const std::string& reason);
std::string format_control_record(const ControlRecord& c);

enum class Liveness { Unknown, Alive, Gone };

// A batch scheduler's view of the job element that runs a task, in the scheduler's own words
// and as a phase every dialect maps its states to.
struct SchedulerView {
  enum class Phase {
    Queued,     // waiting (PENDING, REQUEUED, held, ...)
    Running,    // started, or finishing
    Ended,      // ended; `ended_as` says how when the scheduler knows
    Gone,       // no longer known to the scheduler (purged from its memory)
    NeverRuns,  // waits for a dependency that can never be satisfied
  };
  enum class EndedAs { Other, Timeout, Cancelled, OutOfMemory };
  Phase phase = Phase::Queued;
  EndedAs ended_as = EndedAs::Other;
  std::string state;    // e.g. PENDING, RUNNING, TIMEOUT, NODE_FAIL
  std::string reason;   // e.g. Priority, Dependency
  std::string element;  // e.g. 123_4, for messages
  std::string log;      // "; <scheduler> log (PATH): <its last lines>", for a LOST reason
  std::string name;     // the scheduler's name, for messages ("Slurm", "PBS")
};

// An optional value held on the heap: facts of 100,000 tasks stay small where most have none.
template <typename T>
class Boxed {
 public:
  Boxed() = default;
  Boxed(const T& v) : p_(std::make_unique<T>(v)) {}  // NOLINT: as std::optional
  Boxed(const Boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& o) {
    p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  Boxed& operator=(T v) {
    p_ = std::make_unique<T>(std::move(v));
    return *this;
  }
  explicit operator bool() const { return p_ != nullptr; }
  bool has_value() const { return p_ != nullptr; }
  const T& operator*() const { return *p_; }
  T& operator*() { return *p_; }
  const T* operator->() const { return p_.get(); }
  T* operator->() { return p_.get(); }
  void reset() { p_.reset(); }

 private:
  std::unique_ptr<T> p_;
};

struct TaskFacts {
  size_t id = 0, stage = 0, index = 0;
  std::optional<WrapperRecord> record;  // the final record when complete, else the start record
  std::optional<ControlRecord> control;
  bool cancel_requested = false;
  Liveness liveness = Liveness::Unknown;
  Boxed<SchedulerView> scheduler;
  std::string blocked;  // why the task can never start, or ""
  bool folded = false;  // where the facts were read: the index of finished tasks (store/index.hpp)
};

// The decided view of one task.
struct TaskStatus {
  size_t id = 0;
  size_t stage = 0;
  size_t index = 0;
  State state = State::Pending;
  std::string reason;
  std::optional<int> exit_code;
  std::optional<int> signal;
  double start = 0, end = 0;
  std::string host;
  long pid = 0;
  int attempt = 0;
  bool wrapper_alive = false;  // the backend saw the wrapper alive (a resume may adopt it)
  std::string backend_state;   // the scheduler's state and reason, while it queues or runs the task
};

struct Decision {
  TaskStatus status;
  // A final state learned from the scheduler, to persist as the task's verdict at once (it
  // must outlive the scheduler's memory of the job).
  std::optional<ControlRecord> verdict;
};

// Pure: the same facts always give the same state (tests drive it directly).
Decision decide(const TaskFacts& f);

// Whether these facts may change if the records are read again: the backend says the task's
// wrapper or job is gone, but its records were read before it asked (the task may have written
// its final record in between).
bool needs_reread(const TaskFacts& f);

}  // namespace xrun::store
