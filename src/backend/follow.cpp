#include "xrun/backend/follow.hpp"

#include <iostream>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/backend/observe.hpp"
#include "xrun/run/process.hpp"
#include "xrun/run/progress.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/clock.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend {

using store::State;

std::string detach_message(const Backend& b, const store::Experiment& exp) {
  return fmt::format("xrun: hangup: stopped following {0}; nothing was cancelled, its jobs go on in {1} "
                     "(`xrun status {0} --watch` follows them again, `xrun cancel {0}` stops them; Ctrl-C "
                     "while following cancels)",
                     exp.id(), b.name());
}

int follow(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta, double poll_seconds,
           bool quiet) {
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP});
  run::Progress progress(quiet, 2, std::max(5.0, poll_seconds));
  const double start = util::monotonic_seconds();
  for (;;) {
    auto seen = observe_tasks(b, exp, p, meta);
    if (seen.warning) progress.note("xrun: warning: " + seen.warning->what, true);
    const auto& st = seen.tasks;
    std::map<State, size_t> n;
    for (const auto& t : st) ++n[t.state];
    if (n[State::Pending] == 0 && n[State::Running] == 0) {
      progress.clear();
      if (!quiet) run::print_summary(std::cerr, exp, p, st, util::monotonic_seconds() - start);
      bool ok = std::all_of(st.begin(), st.end(), [](const store::TaskStatus& t) { return run::satisfied(t); });
      return ok ? 0 : 1;
    }
    if (progress.due()) {
      size_t done = st.size() - n[State::Pending] - n[State::Running];
      // The stages running side by side, each with its running tasks.
      std::vector<size_t> running(p.stages.size(), 0);
      for (const auto& t : st)
        if (t.state == State::Running && t.stage < running.size()) ++running[t.stage];
      std::vector<std::string> stages;
      for (size_t s = 0; s < running.size(); ++s)
        if (running[s] > 0) stages.push_back(fmt::format("{} {}", p.stages[s].name, running[s]));
      progress.show(fmt::format("[{}] {}/{} done, {} running{}, {} pending, {} failed, elapsed {}", b.name(), done,
                                st.size(), n[State::Running],
                                stages.empty() ? "" : fmt::format(" ({})", fmt::join(stages, ", ")), n[State::Pending],
                                n[State::Failed] + n[State::Timeout] + n[State::Lost] + n[State::OutOfMemory],
                                util::human_duration(util::monotonic_seconds() - start)));
    }
    int sig = sigs.wait(poll_seconds);
    if (sig == SIGHUP) {
      // A dropped ssh connection: the jobs live in the scheduler, not in this process. Only the
      // watcher goes; Ctrl-C (and TERM) cancel.
      progress.clear();
      progress.note(detach_message(b, exp), true);
      return 129;
    }
    if (sig == SIGINT || sig == SIGTERM) {
      progress.clear();
      std::vector<store::TaskStatus> open;
      std::vector<size_t> ids;
      for (const auto& t : observe_tasks(b, exp, p, meta).tasks)
        if (!store::is_final(t.state)) {
          open.push_back(t);
          ids.push_back(t.id);
        }
      if (!ids.empty()) {
        (void)exp.add_cancel_request(ids);
        if (auto r = b.cancel(exp, p, meta, open); !r) progress.note("xrun: warning: " + r.error().what, true);
      }
      progress.note(fmt::format("xrun: interrupted: cancelled {} unfinished task(s) of {}", ids.size(), exp.id()), true);
      return 130;
    }
  }
}

}  // namespace xrun::backend
