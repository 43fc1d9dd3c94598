// The bulk record of tasks that will never start in this attempt: when a local runner is
// interrupted, every task that had not started is CANCELLED by one line of `unstarted` (its
// reason and its ids as ranges) instead of a folder and a control record each.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xrun::store {

class Unstarted {
 public:
  // Tolerant: a damaged line (no tab, a bad range) is skipped; `damaged()` counts them.
  static Unstarted parse(std::string_view text);
  std::string format() const;
  // One more record: these ids (in any order, repeats allowed), with this reason.
  void add(std::vector<size_t> ids, const std::string& reason);
  // These ids leave every record (resume runs them again); true when any did.
  bool remove(const std::set<size_t>& ids);
  // The reason recorded for `id` (the latest record naming it), or null.
  const std::string* reason_of(size_t id) const;
  bool empty() const { return lines_.empty(); }
  size_t damaged() const { return damaged_; }
  size_t count() const;  // ids named, summed over the records

 private:
  struct Line {
    std::string reason;
    std::vector<std::pair<size_t, size_t>> ranges;  // sorted, disjoint, inclusive
  };
  std::vector<Line> lines_;
  size_t damaged_ = 0;
};

}  // namespace xrun::store
