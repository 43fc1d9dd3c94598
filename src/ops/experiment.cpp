#include "xrun/ops/experiment.hpp"

#include <unordered_map>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xrun/backend/observe.hpp"
#include "xrun/spec/spec.hpp"
#include "xrun/util/clock.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::ops {

Result<plan::Expander> load_expander(SpecInputs& in) {
  if (!in.file.empty() && !in.file_flag.empty() && in.file != in.file_flag)
    return make_error(fmt::format("two experiment files given: '{}' and -f '{}'", in.file, in.file_flag),
                      "give the file once");
  if (in.file.empty()) in.file = in.file_flag;
  if (in.file.empty()) {
    in.file = "experiment.yml";
    if (!util::exists(in.file))
      return make_error("no experiment file given, and there is no experiment.yml in this directory",
                        "give the file (`xrun run FILE` or `-f FILE`), or run from the folder holding experiment.yml");
  }
  vars::Overrides ov;
  for (const auto& s : in.sets) {
    auto r = vars::parse_override(s);
    if (!r) return r.error();
    ov.push_back(std::move(r.value()));
  }
  auto sp = spec::load_spec(in.file);
  if (!sp) return sp.error();
  auto ex = plan::Expander::create(std::move(sp.value()), ov, in.max_combinations);
  if (ex && in.limit > 0) ex->set_limit(in.limit);
  return ex;
}

std::vector<store::TaskStatus> Opened::statuses(std::optional<Error>* warning) const {
  auto seen = backend::observe_tasks(*backend, exp, plan, meta);
  if (seen.warning) {
    if (warning) *warning = seen.warning;
    else
      spdlog::warn("{}{}", seen.warning->what, seen.warning->hint.empty() ? "" : " (" + seen.warning->hint + ")");
  }
  return std::move(seen.tasks);
}

store::TaskStatus Opened::status_of(size_t task) const {
  return backend::observe_task(*backend, exp, plan, meta, task, exp.cancelled().count(task) > 0);
}

Result<Opened> open_experiment(const std::string& store_root, const std::string& ref, bool by_name,
                               std::string* note) {
  Opened o;
  o.store = store::Store::open(store_root);
  auto e = o.store.find(ref, by_name, note);
  if (!e) return e.error();
  o.exp = e.value();
  auto m = o.exp.meta();
  if (!m) return m.error();
  o.meta = m.value();
  auto p = o.exp.load_plan();
  if (!p) return p.error();
  o.plan = std::move(p.value());
  if (auto d = o.exp.index_damage()) {
    // The facts of its finished tasks are lost with it: no command reads them as never run.
    return runtime_error(fmt::format("experiment '{}' is damaged: {}", o.exp.id(), *d),
                         "its finished tasks cannot be read; `xrun rm` removes the experiment (or, to run them "
                         "all again, remove its `index` and `indexed` files: they then read as never run)");
  }
  auto b = backend::make(o.meta.value("backend", std::string("local")));
  if (!b) return b.error();
  o.backend = std::move(b.value());
  return o;
}

Result<void> cancel_tasks(const Opened& o, const std::vector<store::TaskStatus>& targets) {
  if (targets.empty()) return {};
  std::vector<size_t> ids;
  for (const auto& t : targets) ids.push_back(t.id);
  XRUN_TRY(o.exp.add_cancel_request(ids));
  return o.backend->cancel(o.exp, o.plan, o.meta, targets);
}

bool wait_runner_gone(const store::Experiment& exp, double seconds) {
  const double until = util::monotonic_seconds() + seconds;
  while (exp.runner_alive()) {
    if (util::monotonic_seconds() >= until) return false;
    ::usleep(20000);
  }
  return true;
}

std::vector<store::TaskStatus> cancel_targets(const std::vector<store::TaskStatus>& statuses,
                                              const std::vector<size_t>& wanted) {
  std::vector<store::TaskStatus> targets;
  if (wanted.empty()) {
    for (const auto& t : statuses)
      if (!store::is_final(t.state)) targets.push_back(t);
  } else {
    std::unordered_map<size_t, size_t> at;  // id -> where in `statuses`
    for (size_t k = 0; k < statuses.size(); ++k) at.emplace(statuses[k].id, k);
    for (size_t id : wanted)
      if (auto it = at.find(id); it != at.end() && !store::is_final(statuses[it->second].state))
        targets.push_back(statuses[it->second]);
  }
  return targets;
}

}  // namespace xrun::ops
