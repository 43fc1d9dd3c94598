// The index of finished tasks (<experiment>/index): the final facts of tasks that ended, folded
// out of their per-task records so that reading an experiment costs one file plus the tasks that
// changed since, and a finished task keeps no record file of its own.
//
// It holds facts, never a decision: each entry is the task's final wrapper record and its
// control record, exactly as they were read; store::decide() decides from them as it would from
// the files. A task is folded only once its facts can no longer change (see foldable()).
//
// One line per task, tab-separated, each ending in a checksum of the line, so that damage (a
// truncated or edited file) loses only the damaged lines: their tasks are read from their
// records when these still exist. Whoever folds holds an flock on `index.lock` and appends the
// new lines to the file (then fdatasync), or, when the file is missing or its last line was cut
// short (a crash while appending), writes it whole, atomically (temp, fsync, rename, fsync of
// the folder). Readers parse only what was appended since they last looked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xrun/store/task_state.hpp"

namespace xrun::store {

struct IndexEntry {
  size_t id = 0;
  WrapperRecord record;  // the final record of the attempt (SUCCEEDED or FAILED)
  std::optional<ControlRecord> control;
  // Which of the task's files were kept when it was folded (empty output files are removed).
  bool has_stdout = false, has_stderr = false, has_metrics = false;
};

class TaskIndex {
 public:
  // Tolerant: a line that is malformed or fails its checksum is counted in damaged() and skipped.
  static TaskIndex parse(std::string_view text);
  // The same for more lines (appended to the file since): their entries are added.
  void add_text(std::string_view text);
  // A damaged line counted earlier is read again (a last line that was being appended).
  void forget_damaged(size_t n) { damaged_ -= std::min(n, damaged_); }
  std::string format() const;
  static std::string format_entry(const IndexEntry& e);
  // The first line of every index (format() writes it; an index without it is damaged whole).
  static std::string_view header();

  bool contains(size_t id) const { return id < pos_.size() && pos_[id] != 0; }
  std::optional<IndexEntry> find(size_t id) const;
  // False only for a folded task that left no metrics file (no need to look for one).
  bool may_have_metrics(size_t id) const { return !contains(id) || packed_[pos_[id] - 1].metrics; }
  void put(const IndexEntry& e);
  bool erase(size_t id);
  size_t size() const { return count_; }
  size_t damaged() const { return damaged_; }
  std::vector<size_t> ids() const;

 private:
  // Held packed (a few dozen bytes a task): hosts and control records are shared.
  struct Packed {
    double start = 0, end = 0;
    int64_t pid = 0, wrapper = 0;
    int32_t attempt = 0, exit = 0, signal = 0;
    uint32_t host = 0, control = 0;  // control: 0 = none, else controls_[control - 1]
    bool succeeded = false, has_exit = false, has_signal = false;
    bool out = false, err = false, metrics = false;
  };
  uint32_t intern_host(const std::string& h);
  std::vector<uint32_t> pos_;  // id -> packed_ index + 1 (0: not folded)
  std::vector<Packed> packed_;
  std::vector<std::string> hosts_;
  std::vector<ControlRecord> controls_;
  size_t count_ = 0, damaged_ = 0;
};

// Whether these facts are final for good, so they may be folded into the index: the wrapper
// recorded the attempt's end. Where a scheduler may requeue a job the wrapper ran (`requeues`),
// a record of a task killed by SIGTERM/SIGKILL is final only once a control record (a verdict or
// a decision) explains it: until then the scheduler may still run it again.
bool foldable(const TaskFacts& f, bool requeues);

// The facts an index entry holds (for decide()).
TaskFacts facts_of_entry(const IndexEntry& e);

// The text of a wrapper's final record, as the wrapper writes it.
std::string format_wrapper_record(const WrapperRecord& w);
// A task's `started` record (state RUNNING: no exit, signal or end), as the sh wrapper writes it.
std::string format_started_record(const WrapperRecord& w);
// The started record in two halves, around its pid (before + pid + after == format_started_record):
// a task's shell writes its own start, with its pid, before it runs anything (run::Child::spawn).
std::pair<std::string, std::string> started_record_around_pid(const WrapperRecord& w);

}  // namespace xrun::store
