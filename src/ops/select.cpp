#include "xrun/ops/select.hpp"

#include <algorithm>
#include <cctype>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/util/text.hpp"

namespace xrun::ops {

namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// A variable's value as --where compares it: a string as itself, another value as its JSON text.
std::optional<std::string> value_text(const plan::Task& t, const std::string& name) {
  for (const auto& [n, v] : t.variables)
    if (n == name) {
      auto j = v.to_json();
      return j.is_string() ? j.get<std::string>() : j.dump();
    }
  return std::nullopt;
}

}  // namespace

Result<Selection> parse_selection(const std::vector<std::string>& where, const std::set<store::State>& states) {
  Selection s;
  s.states = states;
  std::vector<std::string> names;
  for (auto st : store::all_states()) names.push_back(store::to_string(st));
  for (const auto& text : where) {
    auto w = run::parse_where(text);
    if (!w) return w.error();
    for (auto& c : w->clauses) {
      if (c.key == "state")
        for (const auto& v : c.values)
          if (!store::parse_state(upper(util::trim(v)))) {
            std::string sg = util::suggest(upper(v), names);
            return make_error(fmt::format("--where '{}': '{}' is not a task state", text, v),
                              sg.empty() ? fmt::format("states: {}", fmt::join(names, ", "))
                                         : fmt::format("did you mean {}?", sg));
          }
      s.where.clauses.push_back(std::move(c));
    }
  }
  return s;
}

Result<run::TaskFilter> selector(const plan::Plan& p, const Selection& s) {
  if (s.empty()) return run::TaskFilter();
  std::set<std::string> known{"state"};
  for (const auto& st : p.stages)
    for (const auto& t : st.tasks)
      for (const auto& [n, v] : t.variables) known.insert(n);
  for (const auto& key : s.where.keys())
    if (!known.count(key)) {
      std::vector<std::string> vars(known.begin(), known.end());
      std::string sg = util::suggest(key, vars);
      return make_error(fmt::format("--where: no task has a variable '{}'", key),
                        sg.empty() ? fmt::format("keys: {}", fmt::join(vars, ", ")) : fmt::format("did you mean {}?", sg));
    }
  auto sel = std::make_shared<Selection>(s);
  const plan::Plan* plan = &p;
  return run::TaskFilter([sel, plan](const store::TaskStatus& t) {
    if (!sel->states.empty() && !sel->states.count(t.state)) return false;
    if (sel->where.empty()) return true;
    const auto& task = plan->stages[t.stage].tasks[t.index];
    return run::matches(sel->where, [&](const std::string& key) -> std::optional<std::string> {
      if (key == "state") return std::string(store::to_string(t.state));
      return value_text(task, key);
    });
  });
}

}  // namespace xrun::ops
