// The run store: the truth about every experiment and task, readable from any shell.
//
// <root>/experiments/<id>/
//   meta.json            who/what/when; written once by the creator
//   experiment.yml       copy of the experiment file
//   plan.json            the expanded plan (tasks numbered 0..N-1 across stages)
//   wrapper.sh           the POSIX sh task wrapper (same for every backend)
//   runner.json          the runner's own record (pid, host, state); written by the runner only
//   lock                 fcntl-locked by the live runner (liveness without trusting pids)
//   summary.json         counts per state, written by the runner when it ends (a cache for `list`)
//   cancel/<request>     one file per `xrun cancel`: the task ids it cancelled
//   backend/             backend-specific records (e.g. Slurm job ids)
//   tasks/<id>/          cmd.sh, attempt, control (runner); started, status (wrapper);
//                        stdout, stderr; attempts/<n>/ (earlier attempts)
// Every file has exactly one writer. Files xrun writes are atomic (temp + rename); the sh
// wrapper writes each of its two records once, ending with `written=1`, and readers ignore
// a record without it.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/plan.hpp"
#include "xrun/util/result.hpp"

namespace xrun::store {

using json = nlohmann::ordered_json;

enum class State { Pending, Running, Succeeded, Failed, Timeout, Cancelled, Skipped, Lost };
const char* to_string(State s);
std::optional<State> parse_state(const std::string& s);
const std::vector<State>& all_states();
bool is_final(State s);

// What the wrapper wrote (tasks/<id>/started, then tasks/<id>/status), key=value lines.
struct WrapperRecord {
  std::string state;  // RUNNING, SUCCEEDED, FAILED
  std::optional<int> exit_code;
  std::optional<int> signal;
  double start = 0, end = 0;
  std::string host;
  long pid = 0;      // the task's process group
  long wrapper = 0;  // the wrapper process that will write the final record
  int attempt = 0;
};
std::optional<WrapperRecord> parse_wrapper_record(const std::string& text);

// What the runner decided (tasks/<id>/control): SKIPPED, CANCELLED, TIMEOUT, LOST.
struct ControlRecord {
  std::string state;
  std::string reason;
};
std::optional<ControlRecord> parse_control_record(const std::string& text);
std::string format_control_record(const ControlRecord& c);

// The resolved view of one task.
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
  bool wrapper_alive = false;  // the wrapper process was seen alive (local host only)
  std::string backend_state;   // e.g. Slurm's PENDING/RUNNING and reason, when known
};

// Pure resolution of a task's state from its records (tests drive this directly).
// `alive`: nullopt when liveness cannot be checked here (another host).
TaskStatus resolve(const std::optional<WrapperRecord>& w, const std::optional<ControlRecord>& c, bool cancelled,
                   std::optional<bool> alive);

class Experiment {
 public:
  Experiment() = default;
  Experiment(std::string id, std::string dir) : id_(std::move(id)), dir_(std::move(dir)) {}
  const std::string& id() const { return id_; }
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }
  std::string task_dir(size_t task) const;

  Result<json> meta() const;
  Result<plan::Plan> load_plan() const;
  std::optional<json> runner() const;                 // runner.json, if any
  Result<void> write_runner(const json& j) const;     // runner only
  std::set<size_t> cancelled() const;                 // union of cancel/* requests
  Result<void> add_cancel_request(const std::vector<size_t>& ids) const;
  Result<void> write_control(size_t task, const ControlRecord& c) const;  // runner only
  // A final state learned from outside (a scheduler's TIMEOUT, a cancel made outside xrun),
  // persisted at once so it outlives the scheduler's memory of the job. Any reader may record
  // one: the first for an attempt wins (link() onto `control`, which fails if it exists), so
  // two racing `xrun status` never lose or mix records, and an existing decision is kept.
  // Returns true when this call recorded it.
  Result<bool> record_verdict(size_t task, const ControlRecord& c) const;

  // Read and resolve every task (O(tasks): one small file each).
  std::vector<TaskStatus> statuses(const plan::Plan& p) const;
  TaskStatus status_of(size_t task, bool cancelled = false) const;
  // The same, with the experiment's tasks/ folder already open (bulk reads).
  TaskStatus status_at(int tasks_fd, size_t task, bool cancelled = false) const;

  // A task's folder (or tasks/) that is a symbolic link is refused: nothing is written through it.
  Result<void> check_task_dir(size_t task) const;

  // Move the current attempt's files into attempts/<n>/ before a task runs again. Returns
  // the number the new attempt gets.
  Result<int> archive_attempt(size_t task) const;

  // Liveness of the runner: true when some process holds the experiment's lock.
  bool runner_alive() const;

 private:
  std::string id_, dir_;
};

// Held by the one live runner of an experiment; released on destruction.
class RunnerLock {
 public:
  static Result<RunnerLock> acquire(const Experiment& exp);
  RunnerLock(RunnerLock&&) noexcept;
  RunnerLock& operator=(RunnerLock&&) noexcept;
  RunnerLock(const RunnerLock&) = delete;
  ~RunnerLock();

 private:
  RunnerLock() = default;
  int fd_ = -1;
};

class Store {
 public:
  // Root: `override` if non-empty, else $XRUN_HOME, else ~/.xrun. Created on first write.
  static Store open(const std::string& override_root);
  const std::string& root() const { return root_; }
  std::string experiments_dir() const { return root_ + "/experiments"; }

  // A new experiment folder with a fresh unique id <name>-YYYYMMDD-HHMMSS-<rand>.
  Result<Experiment> create(const std::string& name) const;
  // An id, a unique prefix of one, or "latest".
  Result<Experiment> find(const std::string& ref) const;
  // Ids, newest first.
  std::vector<std::string> list() const;
  // Delete an experiment: its folder is first renamed to a hidden name (atomic: it leaves the
  // listing at once), then removed; a crash in between leaves only a hidden `.removing-*`
  // folder, which remove_leftovers() deletes.
  Result<void> remove(const Experiment& exp) const;
  // Hidden folders left by an interrupted remove(); returns how many were deleted.
  size_t remove_leftovers() const;

 private:
  std::string root_;
};

// Task reference from the command line: "12" (as status prints it) or "STAGE/INDEX".
Result<size_t> resolve_task_ref(const plan::Plan& p, const std::string& ref);
// (stage, index) of a global task id.
std::pair<size_t, size_t> locate(const plan::Plan& p, size_t task);
// Global id of the first task of each stage.
std::vector<size_t> stage_offsets(const plan::Plan& p);

// The pid is alive on this host and its command line names `needle` (guards against pid reuse).
bool process_alive(long pid, const std::string& needle);

}  // namespace xrun::store
