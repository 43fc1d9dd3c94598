#include "xrun/ops/resume.hpp"

#include <unistd.h>

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "xrun/plan/stage_graph.hpp"
#include "xrun/run/report.hpp"
#include "xrun/run/task_key.hpp"
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

Result<Reload> diff_reload(const Opened& o, const std::vector<store::TaskStatus>& statuses, const std::string& file) {
  SpecInputs in;
  in.file = file.empty() ? o.meta.value("file", std::string()) : file;
  if (o.meta.contains("set") && o.meta["set"].is_array())
    for (const auto& s : o.meta["set"])
      if (s.is_string()) in.sets.push_back(s.get<std::string>());
  if (o.meta.contains("limit") && o.meta["limit"].is_number_unsigned()) in.limit = o.meta["limit"].get<uint64_t>();
  auto ex = load_expander(in);
  if (!ex) return ex.error();
  auto fresh = ex->materialize();
  if (!fresh) return fresh.error();
  const auto& old = o.plan;
  Reload r;
  r.file = in.file;
  r.source = ex->spec().source;
  r.meta = o.meta;
  r.meta["options"] = ex->spec().sections;
  // The old tasks, by key: the plan's (their states as read), then those retired before (what
  // their own records say: no scheduler has them).
  const auto old_keys = run::plan_keys(o.meta, old);
  const bool local = o.backend && o.backend->adopts();
  std::vector<plan::OldTask> olds;
  olds.reserve(statuses.size() + old.retired.size());
  for (const auto& t : statuses) {
    auto w = old.find(t.id);
    if (!w) continue;
    const bool active = t.state == store::State::Running || (!local && !t.backend_state.empty());
    olds.push_back(plan::OldTask{t.id, old_keys[w->slot], run::satisfied(t), active, false});
  }
  for (const auto& rt : old.retired) {
    auto d = store::decide(o.exp.facts_of(rt.task.id));
    olds.push_back(plan::OldTask{rt.task.id, rt.key, run::satisfied(d.status), false, true});
  }
  r.diff = plan::diff_tasks(olds, run::plan_keys(r.meta, fresh.value()), old.id_end());
  // The new plan: the file's stages and tasks, each with the id the diff gave it.
  r.merged = std::move(fresh.value());
  size_t k = 0;
  for (auto& st : r.merged.stages)
    for (auto& t : st.tasks) t.id = r.diff.ids[k++];
  std::set<size_t> revived(r.diff.revived.begin(), r.diff.revived.end());
  for (const auto& rt : old.retired)
    if (!revived.count(rt.task.id)) r.merged.retired.push_back(rt);
  std::set<size_t> retiring(r.diff.retired.begin(), r.diff.retired.end());
  for (size_t s = 0; s < old.stages.size(); ++s)
    for (const auto& t : old.stages[s].tasks)
      if (retiring.count(t.id)) r.merged.retired.push_back(plan::RetiredTask{old.stages[s].name, old_keys[old.find(t.id)->slot], t});
  XRUN_TRY(r.merged.index_ids());
  // A `sample:` without a seed draws again: the unfinished tasks get new values (said; give the
  // seed the run drew, kept in plan.json's sample_seeds, to keep them).
  if (!old.sample_seeds.empty() && !r.merged.sample_seeds.empty())
    spdlog::warn("--reload: the file's sample has no seed, so it was drawn again (the run drew seed {}; write "
                 "`seed: {}` to keep the same draws)",
                 old.sample_seeds.front().second, old.sample_seeds.front().second);
  return r;
}

Result<plan::PlanDiff> reload_plan(Opened& o, const std::vector<store::TaskStatus>& statuses) {
  auto r = diff_reload(o, statuses);
  if (!r) return r.error();
  if (!r->diff.blocking.empty()) {
    std::vector<std::string> ids;
    for (size_t id : r->diff.blocking) ids.push_back(std::to_string(id));
    return make_error(fmt::format("--reload: {} would retire task{} {}, which {} still queued or running",
                                  r->file, ids.size() == 1 ? "" : "s", fmt::join(ids, ", "),
                                  ids.size() == 1 ? "is" : "are"),
                      fmt::format("cancel {} first (xrun cancel {} {}), then reload", ids.size() == 1 ? "it" : "them",
                                  o.exp.id(), fmt::join(ids, " ")));
  }
  // The previous file and plan are kept beside the new ones; the three files change as one
  // (Experiment::replace_files: a crash leaves the old three or the new three).
  std::string stamp = fmt::format("{:.0f}", util::now_seconds() * 1000);
  XRUN_TRY(o.exp.replace_files({{"experiment.yml", r->source},
                                {"plan.json", r->merged.to_json().dump() + "\n"},
                                {"meta.json", r->meta.dump(2) + "\n"}},
                               {{"plan.json", "plan." + stamp + ".json"}, {"experiment.yml", "experiment." + stamp + ".yml"}}));
  o.meta = std::move(r->meta);
  o.plan = std::move(r->merged);
  return std::move(r->diff);
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
