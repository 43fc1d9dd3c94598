// The pool's deadlines, as pure bookkeeping on the runner's monotonic clock (the caller passes
// the time, so a test drives them with any numbers, no process and no sleep):
//   Deadline  a running task's walltime: SIGTERM once it is over, SIGKILL once the stage's
//             kill grace is over after that SIGTERM;
//   Doomed    the process groups asked to stop, each to get SIGKILL when its grace is over, even
//             if its leader has exited (a member that ignores SIGTERM must not outlive its task).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace xrun::backend::pool {

struct Deadline {
  double start = 0;    // when the task started
  double term_at = 0;  // when it got SIGTERM for its walltime; 0: not yet
  enum class Step { None, Term, Kill };
  void started(double now) {
    start = now;
    term_at = 0;
  }
  bool terminated() const { return term_at > 0; }
  // What is due at `now` for a task of this walltime (0: none) and grace: Term once the walltime
  // is over (the caller then calls terminate), Kill once the grace after that is over.
  Step due(double now, double walltime, double grace) const;
  void terminate(double now) { term_at = now; }
  // When the next step is due; a negative number when none is.
  double next(double walltime, double grace) const;
};

class Doomed {
 public:
  struct Group {
    size_t task = 0;
    long group = 0;             // the process group signalled
    double deadline = 0;        // when it gets SIGKILL
    uint64_t leader_start = 0;  // an adopted group's leader's start; 0 = ours
  };
  void add(const Group& g) { groups_.push_back(g); }
  bool empty() const { return groups_.empty(); }
  // The earliest deadline; a negative number when there is none.
  double next() const;
  // The groups whose grace is over at `now` (every one with `all`), taken out of the list; the
  // groups `gone` says are gone (no process left, or their pid is another group's now) are
  // dropped without being returned.
  std::vector<Group> take_due(double now, bool all, const std::function<bool(const Group&)>& gone);

 private:
  std::vector<Group> groups_;
};

}  // namespace xrun::backend::pool
