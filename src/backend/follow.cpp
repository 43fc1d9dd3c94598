#include "xrun/backend/follow.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "xrun/run/process.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend {

using store::State;

int follow(Backend& b, const store::Experiment& exp, const plan::Plan& p, const json& meta, double poll_seconds,
           bool quiet) {
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP});
  const bool tty = !quiet && ::isatty(2);
  const double start = util::now_seconds();
  double last_line = 0;
  for (;;) {
    auto st = exp.statuses(p);
    if (auto r = b.refresh(exp, p, meta, st); !r)
      std::cerr << "xrun: warning: " << r.error().what << std::endl;
    std::map<State, size_t> n;
    for (const auto& t : st) ++n[t.state];
    if (n[State::Pending] == 0 && n[State::Running] == 0) {
      if (tty) std::fprintf(stderr, "\r\033[K");
      if (!quiet) run::print_summary(std::cerr, exp, p, st, util::now_seconds() - start);
      bool ok = std::all_of(st.begin(), st.end(), [](const store::TaskStatus& t) { return run::satisfied(t); });
      return ok ? 0 : 1;
    }
    double now = util::now_seconds();
    if (!quiet && (tty || now - last_line >= std::max(5.0, poll_seconds))) {
      last_line = now;
      size_t done = st.size() - n[State::Pending] - n[State::Running];
      std::string line = fmt::format("[{}] {}/{} done, {} running, {} pending, {} failed, elapsed {}", b.name(), done,
                                     st.size(), n[State::Running], n[State::Pending],
                                     n[State::Failed] + n[State::Timeout] + n[State::Lost], util::human_duration(now - start));
      if (tty) std::fprintf(stderr, "\r\033[K%s", line.c_str());
      else std::fprintf(stderr, "%s\n", line.c_str());
      std::fflush(stderr);
    }
    int sig = sigs.wait(poll_seconds);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      if (tty) std::fprintf(stderr, "\r\033[K");
      std::vector<store::TaskStatus> open;
      std::vector<size_t> ids;
      for (const auto& t : exp.statuses(p))
        if (!store::is_final(t.state)) {
          open.push_back(t);
          ids.push_back(t.id);
        }
      if (!ids.empty()) {
        (void)exp.add_cancel_request(ids);
        if (auto r = b.cancel(exp, p, meta, open); !r) std::cerr << "xrun: warning: " << r.error().what << std::endl;
      }
      std::cerr << fmt::format("xrun: interrupted: cancelled {} unfinished task(s) of {}", ids.size(), exp.id()) << std::endl;
      return 130;
    }
  }
}

}  // namespace xrun::backend
