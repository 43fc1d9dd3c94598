#include "xrun/ops/resume.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xrun/plan/stage_graph.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::ops {

Result<ResumePlan> plan_resume(const Opened& o, const std::vector<store::TaskStatus>& statuses) {
  ResumePlan rp;
  // The file may have changed since the run.
  const std::string file = o.meta.value("file", std::string());
  auto now = util::try_read_file(file);
  auto then = util::try_read_file(o.exp.path("experiment.yml"));
  rp.file_gone = !now;
  rp.file_changed = !now || !then || *now != *then;
  // A pool backend (local, docker) adopts what an earlier runner left running; a scheduler's
  // queued and running jobs are left alone.
  const bool local = o.backend && o.backend->adopts();
  auto graph = plan::StageGraph::of(o.plan, false);
  std::set<size_t> rerun_stages;
  // A task still queued whose stage waits on a stage with work to redo: its old job waits on
  // the old run of that work, so it is submitted again, chained to the new run.
  auto waits_on_rerun = [&](const store::TaskStatus& t) {
    for (const auto& need : graph.needs(t.stage))
      if (rerun_stages.count(need.stage)) return true;
    return false;
  };
  for (const auto& t : statuses) {  // in stage order
    if (!local && t.state == store::State::Pending && !t.backend_state.empty() && waits_on_rerun(t)) {
      rp.to_run.insert(t.id);
      rerun_stages.insert(t.stage);
      continue;
    }
    // Whatever a scheduler still queues or runs (requeued jobs too) is never submitted twice.
    if (!local && !t.backend_state.empty()) {
      ++rp.still_active;
      continue;
    }
    if (run::satisfied(t)) continue;
    if (t.state == store::State::Running) {
      // Local: a wrapper still alive here is adopted by the new runner. Elsewhere we cannot
      // tell, and a scheduler's running job must not be submitted twice.
      if (local && !t.wrapper_alive)
        return make_error(fmt::format("task {} is running on host {}", t.id, t.host),
                          "resume from that host, or cancel the task first");
      if (!local) {
        ++rp.still_active;
        continue;
      }
    }
    if (!local && !t.backend_state.empty() && !store::is_final(t.state)) {  // still queued (or requeued)
      ++rp.still_active;
      continue;
    }
    rp.to_run.insert(t.id);
    rerun_stages.insert(t.stage);
  }
  return rp;
}

Result<size_t> reload_plan(Opened& o, const std::vector<store::TaskStatus>& statuses) {
  SpecInputs in;
  in.file = o.meta.value("file", std::string());
  if (o.meta.contains("set") && o.meta["set"].is_array())
    for (const auto& s : o.meta["set"])
      if (s.is_string()) in.sets.push_back(s.get<std::string>());
  if (o.meta.contains("limit") && o.meta["limit"].is_number_unsigned()) in.limit = o.meta["limit"].get<uint64_t>();
  auto ex = load_expander(in);
  if (!ex) return ex.error();
  auto fresh = ex->materialize();
  if (!fresh) return fresh.error();
  const auto& old = o.plan;
  auto differ = [&](const std::string& why) {
    return make_error(fmt::format("--reload: {} now expands differently: {}", in.file, why),
                      "tasks are matched by position, so the stages and their task counts must stay the same; run "
                      "the changed file as a new experiment (`xrun run`)");
  };
  if (fresh->stages.size() != old.stages.size())
    return differ(fmt::format("{} stages instead of {}", fresh->stages.size(), old.stages.size()));
  for (size_t s = 0; s < old.stages.size(); ++s) {
    if (fresh->stages[s].name != old.stages[s].name)
      return differ(fmt::format("stage {} is named '{}' instead of '{}'", s + 1, fresh->stages[s].name, old.stages[s].name));
    if (fresh->stages[s].tasks.size() != old.stages[s].tasks.size())
      return differ(fmt::format("stage '{}' has {} tasks instead of {}", old.stages[s].name, fresh->stages[s].tasks.size(),
                                old.stages[s].tasks.size()));
  }
  plan::Plan merged = fresh.value();
  // A `sample:` without a seed draws again: the unfinished tasks get new values (said; give the
  // seed the run drew, kept in plan.json's sample_seeds, to keep them).
  if (!old.sample_seeds.empty() && !fresh->sample_seeds.empty())
    spdlog::warn("--reload: the file's sample has no seed, so it was drawn again (the run drew seed {}; write "
                 "`seed: {}` to keep the same draws)",
                 old.sample_seeds.front().second, old.sample_seeds.front().second);
  size_t changed = 0;
  for (const auto& t : statuses) {
    auto& slot = merged.stages[t.stage].tasks[t.index];
    if (run::satisfied(t)) slot = old.stages[t.stage].tasks[t.index];  // keeps what it ran
    else if (slot.commands != old.stages[t.stage].tasks[t.index].commands) ++changed;
  }
  // The previous file and plan are kept beside the new ones.
  std::string stamp = fmt::format("{:.0f}", util::now_seconds() * 1000);
  XRUN_TRY(util::rename_path(o.exp.path("plan.json"), o.exp.path("plan." + stamp + ".json")));
  if (util::exists(o.exp.path("experiment.yml")))
    XRUN_TRY(util::rename_path(o.exp.path("experiment.yml"), o.exp.path("experiment." + stamp + ".yml")));
  XRUN_TRY(util::atomic_write(o.exp.path("experiment.yml"), ex->spec().source));
  XRUN_TRY(util::atomic_write(o.exp.path("plan.json"), merged.to_json().dump() + "\n"));
  o.meta["options"] = ex->spec().sections;
  XRUN_TRY(util::atomic_write(o.exp.path("meta.json"), o.meta.dump(2) + "\n"));
  o.plan = std::move(merged);
  return changed;
}

namespace {
// The task ids a cancel request names, one per line.
std::vector<size_t> request_ids(const std::string& text) {
  std::vector<size_t> ids;
  for (const auto& line : util::split(text, '\n'))
    if (auto v = util::parse_long(util::trim(line)); v && *v >= 0) ids.push_back(static_cast<size_t>(*v));
  return ids;
}
std::string request_text(const std::vector<size_t>& ids) {
  std::string body;
  for (size_t id : ids) body += fmt::format("{}\n", id);
  return body;
}
}  // namespace

Result<std::string> archive_cancel_requests(const Opened& o, const std::set<size_t>& rerun) {
  const std::string from = o.exp.path("cancel");
  if (!util::is_dir(from)) return std::string();
  const std::string rel = fmt::format("cancel.{:.0f}", util::now_seconds() * 1000);
  const std::string to = o.exp.path(rel);
  bool any = false;
  for (const auto& f : util::list_dir(from)) {
    if (f.empty() || f[0] == '.') continue;
    auto text = util::try_read_file(from + "/" + f);
    if (!text) continue;
    std::vector<size_t> theirs, others;
    for (size_t id : request_ids(*text)) (rerun.count(id) ? theirs : others).push_back(id);
    if (theirs.empty()) continue;
    if (!any) XRUN_TRY(util::make_dirs_under(o.exp.dir(), rel));
    any = true;
    if (others.empty()) {
      XRUN_TRY(util::rename_path(from + "/" + f, to + "/" + f));
      continue;
    }
    // History first, then the request in force without them (cut short in between, the
    // request still names them: nothing of the resume has run yet).
    XRUN_TRY(util::atomic_write(to + "/" + f, request_text(theirs)));
    XRUN_TRY(util::atomic_write(from + "/" + f, request_text(others)));
  }
  return any ? to : std::string();
}

Result<void> restore_cancel_requests(const Opened& o, const std::string& archived) {
  if (archived.empty()) return {};
  XRUN_TRY(util::make_dirs_under(o.exp.dir(), "cancel"));
  for (const auto& f : util::list_dir(archived)) {
    const std::string back = o.exp.path("cancel/" + f);
    if (auto kept = util::try_read_file(back)) {  // a split request: its ids together again
      auto ids = request_ids(*kept);
      for (size_t id : request_ids(util::try_read_file(archived + "/" + f).value_or(""))) ids.push_back(id);
      XRUN_TRY(util::atomic_write(back, request_text(ids)));
      ::unlink((archived + "/" + f).c_str());
    } else {
      XRUN_TRY(util::rename_path(archived + "/" + f, back));
    }
  }
  ::rmdir(archived.c_str());
  return {};
}

}  // namespace xrun::ops
