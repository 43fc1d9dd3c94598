// The tasks a command acts on, chosen by `--where` (run/where.hpp) and `--state` together.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "xrun/plan/plan.hpp"
#include "xrun/run/report.hpp"
#include "xrun/run/where.hpp"
#include "xrun/store/task_state.hpp"
#include "xrun/util/result.hpp"

namespace xrun::ops {

struct Selection {
  run::Where where;               // every clause of every --where (and-ed)
  std::set<store::State> states;  // --state A,B: the same as a clause state=A|B
  bool empty() const { return where.empty() && states.empty(); }
};

// Each --where given (repeatable, and-ed). A `state=` value that names no state is an input
// error with a suggestion.
Result<Selection> parse_selection(const std::vector<std::string>& where, const std::set<store::State>& states);

// The filter of a selection over an experiment's plan: a task's variables (a string as itself,
// another value as its JSON text) and its state. A key that no task of the plan has (other
// than `state`) is an input error naming the variables there are: a typo never selects nothing
// in silence. Empty when the selection is.
Result<run::TaskFilter> selector(const plan::Plan& p, const Selection& s);

}  // namespace xrun::ops
