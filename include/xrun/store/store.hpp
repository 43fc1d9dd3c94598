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
//   index, index.lock    the finished tasks' final records, folded out of tasks/<id>/
//                        (store/index.hpp); rewritten whole by whoever holds index.lock
//   spares               ids of folded tasks whose folders the live local runner keeps to reuse
//                        for new tasks (see fold()); tidied and removed when a runner ends or starts
// Every file has exactly one writer. Files xrun writes are atomic (temp + rename); the sh
// wrapper writes each of its two records once, ending with `written=1`, and readers ignore
// a record without it.
#pragma once

#include <map>
#include <memory>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/plan.hpp"
#include "xrun/store/index.hpp"
#include "xrun/store/unstarted.hpp"
#include "xrun/store/task_state.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/result.hpp"

namespace xrun::store {

using json = nlohmann::ordered_json;

class Experiment {
 public:
  Experiment() = default;
  Experiment(std::string id, std::string dir) : id_(std::move(id)), dir_(std::move(dir)) {}
  const std::string& id() const { return id_; }
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }
  std::string task_dir(size_t task) const;

  // meta.json and the plan; each first finishes a replacement cut short (settle()).
  Result<json> meta() const;
  Result<plan::Plan> load_plan() const;
  // The files xrun replaces whole and that must agree (experiment.yml, plan.json, meta.json:
  // task keys are computed from plan.json and meta.json), replaced as one (`resume --reload`).
  // `keep` first gives each current file a second name (history: plan.json -> plan.<ms>.json).
  // Each new file is then written aside (.NAME.<ms>.next) and synced; the journal `.replacing`,
  // naming them, is written and synced: that is the commit point. Each is then renamed over its
  // file and the journal removed. Cut short before the journal, the experiment reads as before
  // (the files aside are left, unused); after it, as after (settle() finishes the renames).
  Result<void> replace_files(const std::vector<std::pair<std::string, std::string>>& files,
                             const std::vector<std::pair<std::string, std::string>>& keep) const;
  // Finishes a replacement whose journal is there (renames cut short by a crash): each file
  // still aside is renamed over its file, then the journal goes. Any reader may: two at once
  // rename each file once (the second finds it gone). An error is damage that cannot be
  // finished here (a damaged journal, a store this process cannot write).
  Result<void> settle() const;
  // plan.json's size and modification time: a cache of anything derived from the plan
  // (summary.json) is stale when it differs.
  std::string plan_stamp() const;
  std::optional<json> runner() const;                 // runner.json, if any
  // runner.json (the runner only). With `reserve`, the file is padded so that a later update
  // fits in place: when the disk is full, an update that cannot be written atomically is
  // written over the reserved room, so a runner that ends normally is never taken for dead.
  Result<void> write_runner(const json& j, bool reserve = false) const;
  // The task's final record, written by the runner for a wrapper that is gone (a killed worker
  // whose task the runner reaped): atomically, else over the room the wrapper reserved.
  Result<void> write_final_record(size_t task, const WrapperRecord& w) const;
  std::set<size_t> cancelled() const;                 // union of cancel/* requests
  Result<void> add_cancel_request(const std::vector<size_t>& ids) const;
  Result<void> write_control(size_t task, const ControlRecord& c) const;  // runner only
  // A final state learned from outside (a scheduler's TIMEOUT, a cancel made outside xrun),
  // persisted at once so it outlives the scheduler's memory of the job. Any reader may record
  // one: the first for an attempt wins (link() onto `control`, which fails if it exists), so
  // two racing `xrun status` never lose or mix records, and an existing decision is kept.
  // Returns true when this call recorded it.
  Result<bool> record_verdict(size_t task, const ControlRecord& c) const;

  // The facts the store holds about every task: its records, its control record, whether a
  // cancel request names it: from the index for the tasks folded into it, else from the task's
  // own files (one small file each; the tasks/ folder is listed once, and a task without a
  // folder there has no record to read). store::decide() turns them into states, after the
  // backend added its view (backend/observe.hpp).
  std::vector<TaskFacts> facts(const plan::Plan& p) const;
  TaskFacts facts_of(size_t task, bool cancelled = false) const;

  // The bulk record of tasks that never started (`unstarted`, see unstarted.hpp): read again only
  // when the file changed. Never null. A task it names that has no record, decision or index
  // entry of its own reads as CANCELLED with its reason (facts(), facts_of()).
  std::shared_ptr<const Unstarted> unstarted() const;
  // These tasks, which never started, CANCELLED with `reason` by one more line of the record (the
  // local runner when it is interrupted: no folder or file per task).
  Result<void> record_unstarted(const std::vector<size_t>& ids, const std::string& reason) const;
  // These tasks leave the record (resume, before it runs them again).
  Result<void> release_unstarted(const std::set<size_t>& ids) const;
  // What is wrong with the index of finished tasks as a whole, if anything: not a regular file
  // (a folder, a symbolic link), empty, not starting with its header, or missing although tasks
  // were folded into it (`indexed`, made before the first index, says so). Its damaged single
  // lines are not this: they are counted by the index (TaskIndex::damaged). A damaged index makes
  // the experiment damaged (ops::open_experiment); nothing folds into it or rewrites it.
  std::optional<std::string> index_damage() const;
  // The index of finished tasks as it is now (read again only when the file changed; a damaged
  // line is skipped and counted). Never null.
  std::shared_ptr<const TaskIndex> index() const;
  // Fold these tasks' final facts into the index (those that are foldable(), see index.hpp),
  // then remove their record files, their script and empty output files (and their folder when
  // nothing is left). Takes index.lock without waiting: when another process folds, returns 0
  // and leaves the tasks as they are. Crash-safe: the index is durable before any file goes.
  // A task whose recorded process group still lives on this host (a background job that may
  // still write its output) is left for a later fold. Returns how many tasks were folded.
  // `recycle` (the runner only, while it runs): of these tasks, a folder holding nothing but its
  // records, its script and empty output files is not emptied and removed but kept whole in
  // place as a spare folder (its `started` blanked, its output open nowhere else, its name listed
  // in `spares`) and its name appended to `spared`; begin_attempt() renames it to a new task's id
  // (one rename inside tasks/). A finished task's folder is
  // thus reused instead of a folder and five files being created and removed per task (which is
  // what inode-creating file systems, and metadata servers, are slowest at).
  Result<size_t> fold(const std::vector<size_t>& tasks, bool requeues, const std::set<size_t>* recycle = nullptr,
                      std::vector<std::string>* spared = nullptr) const;
  // Final facts of tasks that never ran here (reused from another experiment: ops/reuse.hpp),
  // added to the index as they are; a task the index holds already is left. Waits for
  // index.lock; refuses a damaged index. Returns how many were added.
  Result<size_t> record_finished(const std::vector<IndexEntry>& entries) const;
  // Before these tasks run again (resume): the folded ones leave the index. Their final facts
  // go back to their own files (status, control, attempt), then the index is rewritten without
  // them; archive_attempt() then sets the attempt aside as usual. Waits for index.lock. (A task
  // folded again in between is reopened again by archive_attempt.)
  Result<void> reopen(const std::vector<size_t>& tasks) const;
  // The same, with the experiment's tasks/ folder already open (bulk reads).
  TaskFacts facts_at(int tasks_fd, size_t task, bool cancelled = false) const;

  // A task's folder (or tasks/) that is a symbolic link is refused: nothing is written through it.
  Result<void> check_task_dir(size_t task) const;

  // Move the current attempt's files into attempts/<n>/ before a task runs again. Returns
  // the number the new attempt gets.
  Result<int> archive_attempt(size_t task) const;
  // Attempt `attempt` was begun (archive_attempt returned it) but was never submitted: the
  // earlier attempt's files come back, as they were (nothing when the new attempt has records).
  Result<void> restore_attempt(size_t task, int attempt) const;
  // A new attempt of a task about to start: a task without a folder gets a new one and attempt
  // 1 (no `attempt` file: the number is in its records), else as archive_attempt. `fresh` says
  // whether the folder is new (nothing in it but empty files, nobody else writing it). With
  // `spares` (names fold() set aside), a new folder is a spare one renamed into place.
  Result<int> begin_attempt(size_t task, bool* fresh = nullptr, std::vector<std::string>* spares = nullptr) const;
  // Tidy the spare folders left (as a fold tidies a folded task's folder): `spares` (the
  // runner's own, when it ends) and those listed in `spares` by a runner that was killed; only
  // folders of tasks in the index. The runner calls it when it ends and when it starts.
  void remove_spares(const std::vector<std::string>& spares = {}) const;

  // Another experiment of the same store, when it exists (its meta.json is there): the source
  // of a reused task.
  std::optional<Experiment> sibling(const std::string& id) const;

  // Liveness of the runner: true when some process holds the experiment's lock.
  bool runner_alive() const;

 private:
  std::string id_, dir_;
  struct IndexCache;
  mutable std::shared_ptr<IndexCache> index_cache_;  // shared by copies of this experiment
  struct UnstartedCache;
  mutable std::shared_ptr<UnstartedCache> unstarted_cache_;
  // tasks/, opened once (never through a link) for the runner's new folders; shared by copies.
  mutable std::shared_ptr<util::Fd> tasks_fd_;
  Result<int> tasks_fd() const;
  // Appends `entries` to the index `idx` (the current one, read under index.lock), or writes it
  // whole, durably; then makes the `indexed` mark.
  Result<void> add_to_index(const TaskIndex& idx, const std::vector<IndexEntry>& entries) const;
};

// Held by the one live runner of an experiment; released on destruction.
// The experiment's lock: an open file description lock (F_OFD_SETLK) on its `lock` file, held by
// the one process that runs or submits it. Owned by its descriptor, not by the process: closing
// another descriptor of the file (a reader's runner_alive() in the same process) never drops
// it, and a second acquire in the same process is refused like another process's.
class RunnerLock {
 public:
  static Result<RunnerLock> acquire(const Experiment& exp);
  // As acquire, but waits up to `seconds` while another process holds it; `waiting` is called
  // once if it has to wait. The error says that it waited, and how long.
  static Result<RunnerLock> acquire_waiting(const Experiment& exp, double seconds,
                                            const std::function<void()>& waiting = {});
  RunnerLock(RunnerLock&&) noexcept;
  RunnerLock& operator=(RunnerLock&&) noexcept;
  RunnerLock(const RunnerLock&) = delete;
  ~RunnerLock();

 private:
  RunnerLock() = default;
  int fd_ = -1;
};

// A creator's claim on the experiment it is making: an flock held on the folder's `.creating`
// file from just after the folder is claimed until meta.json is written (done(), which removes
// the file). A creator that dies (Ctrl-C, kill -9) releases it with its descriptor, so a
// half-made folder (no meta.json) tells a creation under way from one cut short.
class Creation {
 public:
  static Result<Creation> begin(const Experiment& exp);
  void done();
  Creation(Creation&&) noexcept;
  Creation& operator=(Creation&&) = delete;
  Creation(const Creation&) = delete;
  ~Creation();

 private:
  Creation() = default;
  int fd_ = -1;
  std::string path_;
};

// An experiment folder without meta.json: being made, or left by a creation cut short.
struct HalfMade {
  std::string id;
  bool creator_gone = false;  // its `.creating` is held by nobody (without one: older than an hour)
};

class Store {
 public:
  // Root: `override` if non-empty, else $XRUN_HOME, else ~/.xrun. Created on first write.
  static Store open(const std::string& override_root);
  const std::string& root() const { return root_; }
  std::string experiments_dir() const { return root_ + "/experiments"; }
  // The store-wide index of succeeded keys, one file per experiment (ops/reuse.hpp).
  std::string keys_dir() const { return root_ + "/keys"; }

  // A new experiment folder with a fresh unique id <name>-YYYYMMDD-HHMMSS-<rand>.
  Result<Experiment> create(const std::string& name) const;
  // An id, a unique prefix of one, or "latest"; with `by_name`, also an experiment's name (the
  // exact part of its id before -YYYYMMDD-HHMMSS-xxxx), for the latest run of that name, which
  // `note` names when the name has several runs.
  Result<Experiment> find(const std::string& ref, bool by_name = false, std::string* note = nullptr) const;
  // Ids, newest first.
  std::vector<std::string> list() const;
  // Delete an experiment: its folder is first renamed to a hidden name (atomic: it leaves the
  // listing at once), then removed; a crash in between leaves only a hidden `.removing-*`
  // folder, which remove_leftovers() deletes.
  Result<void> remove(const Experiment& exp) const;
  // Hidden folders left by an interrupted remove(), and half-made experiments whose creator is
  // gone; returns how many were deleted.
  size_t remove_leftovers() const;
  // The half-made experiment of this exact id, if there is one (find() says of it that it is
  // half-made rather than unknown).
  std::optional<HalfMade> half_made(const std::string& id) const;
  std::vector<HalfMade> half_made() const;

 private:
  std::string root_;
};

// The name part of an experiment id ("sweep" of "sweep-20261122-153012-k3f9"; "" if it is not one).
std::string name_of_id(const std::string& id);
// Task reference from the command line: "12" (as status prints it) or "STAGE/INDEX".
Result<size_t> resolve_task_ref(const plan::Plan& p, const std::string& ref);
// (stage, index) of the task with this id ((stages, 0) when there is none): Plan::find.
std::pair<size_t, size_t> locate(const plan::Plan& p, size_t task);
// Which of the tasks 0..count-1 have an entry in an experiment's open tasks/ folder (one
// readdir, instead of a failed lookup per task that never started): an entry named by the
// task's id written in decimal (no sign, no leading zero), of any type (what it is, is for the
// record reader to judge). Other names are ignored. Nullopt when the folder cannot be read.
std::optional<std::vector<bool>> task_entries(int tasks_fd, size_t count);

}  // namespace xrun::store
