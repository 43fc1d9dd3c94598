// The stage graph: which stages a stage waits for, and whether it needs them to succeed or only
// to end. Every backend gates stages through it (the local pool before starting a stage, the
// batch engine's job dependencies, the states of tasks a gate keeps from ever starting).
#pragma once

#include <string>
#include <vector>

#include "xrun/plan/plan.hpp"

namespace xrun::plan {

class StageGraph {
 public:
  struct Need {
    size_t stage = 0;     // the stage waited for
    bool success = true;  // it must succeed (else: only end)
  };
  // Today's shape: each stage waits for every earlier one; a stage whose tasks fail stops the
  // later ones unless it says `on_failure: continue` (or the run keeps going, --keep-going).
  static StageGraph of(const Plan& p, bool keep_going);

  const std::vector<Need>& needs(size_t stage) const { return needs_.at(stage); }
  size_t size() const { return needs_.size(); }
  // Why `stage` can never start, given which stages did not succeed ("" when it can).
  std::string blocked(size_t stage, const std::vector<bool>& failed) const;

 private:
  std::vector<std::vector<Need>> needs_;
  std::vector<std::string> names_;
};

}  // namespace xrun::plan
