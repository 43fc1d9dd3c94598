#include "xrun/backend/pool/deadlines.hpp"

#include <algorithm>

namespace xrun::backend::pool {

Deadline::Step Deadline::due(double now, double walltime, double grace) const {
  if (walltime <= 0) return Step::None;
  if (term_at == 0) return now - start >= walltime ? Step::Term : Step::None;
  return now - term_at >= grace ? Step::Kill : Step::None;
}

double Deadline::next(double walltime, double grace) const {
  if (walltime <= 0) return -1;
  return term_at > 0 ? term_at + grace : start + walltime;
}

double Doomed::next() const {
  double next = -1;
  for (const auto& g : groups_) next = next < 0 ? g.deadline : std::min(next, g.deadline);
  return next;
}

std::vector<Doomed::Group> Doomed::take_due(double now, bool all, const std::function<bool(const Group&)>& gone) {
  std::vector<Group> due;
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (gone(*it)) {
      it = groups_.erase(it);
    } else if (all || now >= it->deadline) {
      due.push_back(*it);
      it = groups_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

}  // namespace xrun::backend::pool
