#include "xrun/backend/batch/engine.hpp"

#include "xrun/backend/batch/arrays.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <unordered_map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "xrun/backend/follow.hpp"
#include "xrun/backend/observe.hpp"
#include "xrun/backend/options.hpp"
#include "xrun/plan/stage_graph.hpp"
#include "xrun/run/process.hpp"
#include "xrun/run/report.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/spec/options.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend::batch {

using store::State;

namespace {

std::string dialect_dir(const store::Experiment& exp, const Dialect& d) { return exp.path("backend/" + d.name()); }

// The options, then what the dialect learned at submission (kept in the store).
void configure_for(Dialect& d, const store::Experiment& exp, const json& options) {
  d.configure(options);
  if (auto text = util::try_read_file(dialect_dir(exp, d) + "/dialect.json")) {
    try {
      d.restore(json::parse(*text));
    } catch (...) {
      // damaged: the dialect asks the scheduler again
    }
  }
}
std::string logs_dir(const store::Experiment& exp, const Dialect& d) { return dialect_dir(exp, d) + "/logs"; }

Error missing_programs(const Dialect& d, const std::string& program) {
  return make_error(fmt::format("the {} backend needs {}'s client commands, and no '{}' is on PATH", d.name(),
                                d.display(), program),
                    d.missing_hint());
}

Result<void> check_programs(const Dialect& d) {
  for (const auto& prog : d.programs())
    if (run::find_on_path(prog).empty()) return missing_programs(d, prog);
  return {};
}

std::string batch_script(const Dialect& d, const store::Experiment& exp, const json& meta, const plan::Plan& p,
                         const ArrayJob& a, const Settings& s) {
  const auto& stage = p.stages[a.stage];
  std::string name = s.job_name.empty() ? util::slug(meta.value("name", p.name) + "." + stage.name) : s.job_name;
  const std::string pattern = d.log_pattern(logs_dir(exp, d));
  std::string out = d.header(s, name, pattern, exp.dir());
  out += fmt::format("# xrun experiment {}, stage {}/{} '{}'.\n", exp.id(), a.stage + 1, p.stages.size(), stage.name);
  out += "# The task wrapper records the task's status and logs in the run store (shared filesystem).\n";
  out += fmt::format("cd {} || exit 1\n", util::shell_quote(exp.dir()));  // never the scheduler's cwd alone
  out += fmt::format("_i={}\n", d.index_expression());
  if (pattern.empty())  // the script keeps its own log
    out += fmt::format("exec >>{}\"$_i.out\" 2>&1\n", util::shell_quote(a.script_path + "."));
  if (a.tasks.empty()) {
    out += fmt::format("# array index i runs task {} + i\n", a.base);
    out += fmt::format("exec sh {} {}\"$(({} + _i))\" {}\n", util::shell_quote(exp.path("wrapper.sh")),
                       util::shell_quote(exp.dir() + "/tasks/"), a.base, util::shell_quote(a.script_path + ".tasks"));
  } else {
    // The task map is part of the script, which the scheduler copies when it is submitted: a
    // later submission never changes what a queued job runs.
    out += "case $_i in\n";
    for (size_t k = 0; k < a.tasks.size(); ++k) out += fmt::format("  {}) _t={} ;;\n", a.indices[k], a.tasks[k]);
    out += "  *) echo \"xrun: no task for array index $_i\" >&2; exit 2 ;;\nesac\n";
    out += fmt::format("exec sh {} {}\"$_t\" {}\n", util::shell_quote(exp.path("wrapper.sh")),
                       util::shell_quote(exp.dir() + "/tasks/"), util::shell_quote(a.script_path + ".tasks"));
  }
  return out;
}

// Each stage's settings: its own options over the file's; a stage's `resources: {gpu: N}`
// becomes the scheduler's GPU request (`gpus`) unless the stage asks for gpus itself. Other
// resources are the local pool's: `notes` says they are left out here.
Result<std::vector<Settings>> stage_settings(const Dialect& d, const json& meta, const plan::Plan& p,
                                             std::vector<std::string>* notes) {
  std::vector<Settings> out;
  for (size_t s = 0; s < p.stages.size(); ++s) {
    json opts = run::stage_options(meta, p, s, d.name());
    const json own = spec::merge_options(p.stages[s].options, d.name());
    for (const auto& [name, n] : p.stages[s].resources) {
      if (name == "gpu") {
        if (!own.contains("gpus")) opts["gpus"] = std::to_string(n);  // over the top-level gpus
      } else if (notes) {
        notes->push_back(fmt::format("stage '{}': resource '{}' is counted by the local pool only; {} does not see it",
                                     p.stages[s].name, name, d.display()));
      }
    }
    auto st = d.settings(opts);
    if (!st) {
      Error e = st.error();
      if (!p.stages[s].options.empty()) e.what = fmt::format("stage '{}': {}", p.stages[s].name, e.what);
      return e;
    }
    if (notes) notes->insert(notes->end(), st->notes.begin(), st->notes.end());
    out.push_back(st.value());
  }
  return out;
}

const char* kSubmissionPrefix = "submission-";

}  // namespace

std::map<size_t, std::pair<std::string, size_t>> load_task_jobs(const std::string& dir,
                                                                std::map<std::string, std::string>* scripts) {
  std::map<size_t, std::pair<std::string, size_t>> m;
  std::vector<std::pair<int, std::string>> subs;
  for (const auto& f : util::list_dir(dir)) {
    if (!util::starts_with(f, kSubmissionPrefix) || f.size() < 17 || f.substr(f.size() - 5) != ".json") continue;
    subs.emplace_back(std::atoi(f.c_str() + 11), f);
  }
  std::sort(subs.begin(), subs.end());
  for (const auto& [n, f] : subs) {
    auto text = util::try_read_file(dir + "/" + f);
    if (!text) continue;
    try {
      auto j = json::parse(*text);
      for (const auto& a : j.at("arrays")) {
        std::string job = a.at("job_id").get<std::string>();
        size_t base = a.at("base").get<size_t>();
        if (scripts && a.contains("script") && a["script"].is_string()) (*scripts)[job] = a["script"].get<std::string>();
        const auto& indices = a.at("indices");
        if (a.contains("tasks")) {  // a task map: index k runs tasks[k]
          const auto& tasks = a.at("tasks");
          for (size_t k = 0; k < indices.size() && k < tasks.size(); ++k)
            m[tasks[k].get<size_t>()] = {job, indices[k].get<size_t>()};
        } else {
          for (const auto& i : indices) m[base + i.get<size_t>()] = {job, i.get<size_t>()};
        }
      }
    } catch (...) {
      continue;  // a damaged record is ignored, never fatal for readers
    }
  }
  return m;
}

Result<void> BatchBackend::check_options(const json& options) const {
  auto s = d_->settings(options);
  if (!s) return s.error();
  return {};
}

Result<void> BatchBackend::check_programs(const json& options) const {
  (void)options;
  return batch::check_programs(*d_);
}

Result<int> BatchBackend::launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                 const RunOptions& opts) {
  configure_for(*d_, exp, run::merged_options(meta, d_->name()));
  auto settings = d_->settings(run::merged_options(meta, d_->name()));
  if (!settings) return settings.error();
  std::vector<std::string> resource_notes;
  auto per_stage = stage_settings(*d_, meta, p, &resource_notes);
  if (!per_stage) return per_stage.error();
  XRUN_TRY(batch::check_programs(*d_));
  // One submitter at a time: two resumes never submit the same tasks twice.
  auto lock = opts.lock ? Result<store::RunnerLock>(std::move(*opts.lock)) : store::RunnerLock::acquire(exp);
  if (!lock) return lock.error();
  const std::string dir = dialect_dir(exp, *d_);
  XRUN_TRY(util::make_dirs(logs_dir(exp, *d_)));
  XRUN_TRY(util::atomic_write(dir + "/dialect.json", d_->identity().dump() + "\n"));
  const size_t max_array = d_->max_array_size(true);
  auto graph = plan::StageGraph::of(p, opts.keep_going);
  auto arrays = plan_arrays(p, graph, opts.to_run, max_array, dir, d_->script_suffix());
  fit_to_dialect(arrays, *d_);
  std::vector<std::string> job_of(arrays.size());
  std::set<std::string> notes(resource_notes.begin(), resource_notes.end());

  size_t submission = 1;
  while (util::exists(fmt::format("{}/{}{}.json", dir, kSubmissionPrefix, submission))) ++submission;
  const std::string record_path = fmt::format("{}/{}{}.json", dir, kSubmissionPrefix, submission);
  // Each submission's scripts (and the logs named after them) are its own.
  if (submission > 1)
    for (auto& a : arrays) {
      auto dot = a.script_path.rfind('.');
      a.script_path = a.script_path.substr(0, dot) + fmt::format(".s{}", submission) + a.script_path.substr(dot);
    }
  std::map<size_t, std::vector<std::string>> ids_by_stage;
  std::map<size_t, std::string> stale;  // task -> its old queued element, replaced now
  if (opts.resume) {
    auto st = observe_tasks(*this, exp, p, meta).tasks;
    auto jobs = load_task_jobs(dir);
    // Elements still queued that run again now (they waited on work being redone): their old
    // element is cancelled once the array replacing it is recorded (before, a reader would take
    // the old element's CANCELLED for the task's verdict), so that nothing runs twice.
    for (const auto& t : st)
      if (opts.to_run.count(t.id) && !store::is_final(t.state) && jobs.count(t.id))
        stale[t.id] = d_->element(jobs[t.id].first, jobs[t.id].second);
    // Later stages also wait for the earlier-stage jobs still in the queue: the whole array
    // when none of its elements failed, else each element still there (a failed element would
    // never let a dependency on the whole array be met).
    std::set<std::string> has_failure;
    for (const auto& t : st)
      if (jobs.count(t.id) && (opts.to_run.count(t.id) || (store::is_final(t.state) && !run::satisfied(t))))
        has_failure.insert(jobs[t.id].first);
    std::set<std::pair<size_t, std::string>> seen;
    for (const auto& t : st) {
      if (store::is_final(t.state) || opts.to_run.count(t.id) || !jobs.count(t.id)) continue;
      const auto& [job, index] = jobs[t.id];
      std::string target = has_failure.count(job) ? d_->element(job, index) : job;
      if (seen.insert({t.stage, target}).second) ids_by_stage[t.stage].push_back(target);
    }
  }
  // Ctrl-C, SIGTERM and SIGHUP wait until the submission in flight is recorded: no array is
  // ever submitted without the store knowing it (`xrun cancel` reaches every one). Ctrl-C and
  // TERM then cancel what was submitted; a hangup (a dropped ssh connection) cancels nothing:
  // the submission is completed, and xrun detaches (exit 129) instead of following it.
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP});
  bool hangup = false;
  // The first of Ctrl-C or TERM that came (0: none); a hangup is only noted.
  auto interrupt_signal = [&] {
    for (int sig; (sig = sigs.wait(0)) != 0;) {
      if (sig != SIGHUP) return sig;
      hangup = true;
    }
    return 0;
  };
  json record = json::array();
  std::vector<std::string> submitted;
  auto write_record = [&] {
    json sub{{"submission", submission}, {"submitted", util::now_seconds()}, {"max_array_size", max_array},
             {"arrays", record}};
    return util::atomic_write(record_path, sub.dump(2) + "\n");
  };
  auto write_runner = [&](const std::string& state, const std::string& error) {
    json r{{"backend", d_->name()}, {"state", state},         {"pid", ::getpid()},
           {"host", util::hostname()}, {"started", util::now_seconds()}, {"jobs", submitted},
           {"resume", opts.resume}};
    if (!error.empty()) {
      r["error"] = error;
      r["ended"] = util::now_seconds();
      r["cancelled_jobs"] = submitted;
    }
    (void)exp.write_runner(r);
  };
  // A submission that fails or is interrupted half-way leaves no half-submitted experiment:
  // the arrays already submitted are cancelled, and the experiment is recorded as such.
  auto cancel_submitted = [&] {
    if (submitted.empty()) return;
    std::vector<std::string> targets(submitted.begin(), submitted.end());
    (void)run::capture(d_->cancel_argv(targets), 60);
  };
  auto undo = [&](Error e) {
    e.exit_code = 1;
    cancel_submitted();
    if (!submitted.empty()) e.hint += fmt::format(" (the {} array(s) already submitted were cancelled)", submitted.size());
    write_runner("submit-failed", e.what);
    return e;
  };
  // Interrupted between two submissions (or after the last): what was submitted is cancelled.
  auto interrupted = [&](int sig) {
    cancel_submitted();
    write_runner("interrupted", fmt::format("interrupted by signal {} during the submission", sig));
    std::vector<size_t> open(opts.to_run.begin(), opts.to_run.end());
    (void)exp.add_cancel_request(open);
    std::cerr << fmt::format("xrun: interrupted: the {} array(s) submitted so far were cancelled", submitted.size())
              << std::endl;
    return 130;
  };
  for (size_t ai = 0; ai < arrays.size(); ++ai) {
    const auto& a = arrays[ai];
    const auto& stage_set = per_stage.value()[a.stage];
    if (int sig = interrupt_signal(); sig != 0) return interrupted(sig);
    // One file of scripts per array: each task's folder is made when it starts.
    std::vector<size_t> tasks;
    for (size_t k = 0; k < a.indices.size(); ++k) tasks.push_back(a.task_of(k));
    // Tasks that ran before: their earlier attempt is archived for this one. Should the array
    // never be submitted, it is put back as it was (the store tells what really happened).
    std::vector<std::pair<size_t, int>> begun;
    auto unsubmitted = [&](Error e) {
      for (const auto& [task, attempt] : begun)
        if (auto back = exp.restore_attempt(task, attempt); !back) spdlog::warn("{}", back.error().what);
      return undo(std::move(e));
    };
    if (auto w = run::write_task_scripts(exp, p, meta, tasks, a.script_path + ".tasks", &begun); !w)
      return unsubmitted(w.error());
    if (auto w = util::atomic_write(a.script_path, batch_script(*d_, exp, meta, p, a, stage_set)); !w)
      return unsubmitted(w.error());
    const std::string array = a.array();
    auto after = after_for(a, arrays, job_of, ids_by_stage, graph, p, *d_, &notes);
    auto argv = d_->submit_argv(a.script_path, array, stage_set, after);
    spdlog::debug("{}", fmt::join(argv, " "));
    auto r = run::capture(argv, 120);
    if (!r) return undo(r.error());  // (timed out: it may have been submitted; the attempt stays)
    auto id = r->code == 0 ? d_->job_id(r.value()) : std::nullopt;
    if (!id) {
      Error e = runtime_error(fmt::format("{} failed for stage '{}': {}", argv[0], p.stages[a.stage].name,
                                       util::trim(r->err.empty() ? r->out : r->err)),
                           fmt::format("check the {} options; the batch script is {}", d_->name(), a.script_path));
      return unsubmitted(e);
    }
    submitted.push_back(*id);
    ids_by_stage[a.stage].push_back(*id);
    job_of[ai] = *id;
    json deps = json::array();
    for (const auto& x : after)
      deps.push_back(fmt::format("{}:{}", x.corresponding ? "corr" : x.success ? "ok" : "any", x.job));
    json rec{{"job_id", *id},
             {"stage", a.stage},
             {"stage_name", p.stages[a.stage].name},
             {"base", a.base},
             {"indices", a.indices},
             {"array", array},
             {"after", deps},
             {"script", a.script_path}};
    if (!a.tasks.empty()) rec["tasks"] = a.tasks;
    record.push_back(std::move(rec));
    // Recorded at once: a crash or a signal from here on still leaves the array known.
    if (auto w = write_record(); !w) return undo(w.error());
    std::vector<std::string> replaced;
    for (size_t k = 0; k < a.indices.size(); ++k)
      if (auto it = stale.find(a.task_of(k)); it != stale.end()) replaced.push_back(it->second);
    if (!replaced.empty()) {
      spdlog::debug("cancelling {} queued element(s) replaced by {}", replaced.size(), *id);
      (void)run::capture(d_->cancel_argv(replaced), 60);
    }
  }
  if (int sig = interrupt_signal(); sig != 0) return interrupted(sig);
  write_runner("submitted", "");
  if (!opts.quiet)
    for (const auto& n : notes) std::cerr << "xrun: note: " << n << std::endl;
  lock = Result<store::RunnerLock>(make_error("released"));  // submitted: `xrun resume` may go on
  if (!opts.quiet)
    std::cerr << fmt::format("xrun: submitted {} array job{} ({}); follow with: xrun status {} --watch", submitted.size(),
                             submitted.size() == 1 ? "" : "s", fmt::join(submitted, ", "), exp.id())
              << std::endl;
  if (!opts.wait) return 0;
  if (hangup) {  // (came during the submission)
    std::cerr << detach_message(*this, exp) << std::endl;
    return 129;
  }
  return follow(*this, exp, p, meta, settings->poll, opts.quiet);
}

Result<void> BatchBackend::dry_run(std::ostream& os, const std::string& exp_name, const json& options_sections,
                                  const plan::Plan& p, const RunOptions& opts) {
  const json options = spec::merge_options(options_sections, d_->name());
  d_->configure(options);
  auto settings = d_->settings(options);
  if (!settings) return settings.error();
  const bool can_ask = !run::find_on_path(d_->programs().back()).empty();
  size_t max_array = d_->max_array_size(can_ask);
  std::string note = can_ask ? " (from the scheduler)" : fmt::format(" ({}'s default; it cannot be asked here)", d_->display());
  store::Experiment exp("<experiment-id>", "<store>/experiments/<experiment-id>");
  json meta{{"name", exp_name}, {"options", options_sections}};
  std::vector<std::string> resource_notes;
  auto per_stage = stage_settings(*d_, meta, p, &resource_notes);
  if (!per_stage) return per_stage.error();
  std::set<std::string> notes(resource_notes.begin(), resource_notes.end());
  auto graph = plan::StageGraph::of(p, opts.keep_going);
  auto arrays = plan_arrays(p, graph, opts.to_run, max_array, dialect_dir(exp, *d_), d_->script_suffix());
  fit_to_dialect(arrays, *d_);
  std::vector<std::string> job_of(arrays.size());
  os << fmt::format("backend {}: {} array job(s), largest array {}{}\n", d_->name(), arrays.size(), max_array, note);
  std::map<size_t, std::vector<std::string>> ids;
  size_t k = 0;
  for (size_t ai = 0; ai < arrays.size(); ++ai) {
    const auto& a = arrays[ai];
    ++k;
    const auto& stage_set = per_stage.value()[a.stage];
    os << fmt::format("\n# --- {} ---\n{}", a.script_path, batch_script(*d_, exp, meta, p, a, stage_set));
    auto argv = d_->submit_argv(a.script_path, a.array(), stage_set, after_for(a, arrays, job_of, ids, graph, p, *d_, &notes));
    os << "$ " << fmt::format("{}", fmt::join(argv, " ")) << "\n";
    ids[a.stage].push_back(fmt::format("<job{}>", k));
    job_of[ai] = fmt::format("<job{}>", k);
  }
  for (const auto& n : notes) os << "note: " << n << "\n";
  if (run::find_on_path(d_->programs().front()).empty())
    os << fmt::format("\nnote: no '{}' on PATH here: a real run needs {}'s client commands\n", d_->programs().front(),
                      d_->display());
  return {};
}

Result<void> BatchBackend::observe(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                   std::vector<store::TaskFacts>& facts) {
  const std::string dir = dialect_dir(exp, *d_);
  configure_for(*d_, exp, run::merged_options(meta, d_->name()));
  std::map<std::string, std::string> scripts;
  auto task_jobs = load_task_jobs(dir, &scripts);
  // Tasks whose end the scheduler may still explain: unfinished ones, and ones a signal ended
  // (the wrapper records FAILED by SIGTERM when the scheduler kills a job at its time limit, or
  // cancels or requeues it: the scheduler's word is the truth).
  auto wanted = [&](const store::TaskFacts& f) {
    if (!task_jobs.count(f.id)) return false;
    // (Its wrapper got a stopping signal: a time limit the task trapped is still a TIMEOUT.)
    if (f.record && f.record->final() && !f.record->got.empty()) return !f.control;
    if (f.record && f.record->state == "SUCCEEDED") return false;
    if (f.record && f.record->state == "FAILED")
      return f.record->killed();
    if (f.record) return true;  // started, no end recorded: only the scheduler can tell
    return !f.control || f.control->state == "LOST";
  };
  std::set<std::string> jobs;
  for (const auto& f : facts)
    if (wanted(f)) jobs.insert(task_jobs[f.id].first);
  if (jobs.empty()) return {};
  if (run::find_on_path(d_->programs().back()).empty())
    return runtime_error(fmt::format("cannot ask {} about this experiment: no '{}' on PATH", d_->display(),
                                  d_->programs().back()),
                      "run xrun on a login node of the cluster; the states shown come from the store only");
  spdlog::debug("one queue query for {} job(s) of {}", jobs.size(), exp.id());
  auto entries = d_->query(jobs);
  if (!entries) return entries.error();
  // Entries by (job, array index): jobs numbered in a small map, elements in a hash map keyed
  // by number and index (one lookup per task, no string compared per element).
  std::map<std::string, uint64_t> job_no;
  std::unordered_map<uint64_t, const QueueEntry*> by_element;
  by_element.reserve(entries.value().size());
  std::map<std::string, const QueueEntry*> whole;
  auto element_key = [](uint64_t job, size_t index) { return job << 32 | (index & 0xffffffffu); };
  for (const auto& q : entries.value()) {
    if (q.indices.empty()) whole[q.job] = &q;
    if (q.indices.empty()) continue;
    uint64_t no = job_no.emplace(q.job, job_no.size()).first->second;
    for (size_t i : q.indices) by_element[element_key(no, i)] = &q;  // array indices are < 2^32
  }
  // Each stage's time limit in seconds (xrun's one walltime rule), when known.
  std::map<size_t, std::optional<double>> walltimes;
  auto stage_walltime = [&](size_t stage) -> std::optional<double> {
    auto it = walltimes.find(stage);
    if (it != walltimes.end()) return it->second;
    std::optional<double> limit = d_->default_walltime();
    if (stage < p.stages.size()) {
      const json opts = run::stage_options(meta, p, stage, d_->name());
      if (opts.contains("walltime")) limit = options::parse_duration(options::text(opts["walltime"]));
    }
    return walltimes[stage] = limit;
  };
  const std::string* last_job = nullptr;
  const uint64_t* last_no = nullptr;
  // Queue entries whose dependency can never be met: cancelled, the entry only (an element
  // chained element for element can be the only one of its array that never runs).
  std::set<std::string> never;
  for (auto& f : facts) {
    if (!wanted(f)) continue;
    const auto& [job, index] = task_jobs[f.id];
    const QueueEntry* q = nullptr;
    if (!last_job || *last_job != job) {
      auto it = job_no.find(job);
      last_job = &job;
      last_no = it == job_no.end() ? nullptr : &it->second;
    }
    if (auto it = last_no && index <= 0xffffffffu ? by_element.find(element_key(*last_no, index)) : by_element.end(); it != by_element.end())
      q = it->second;
    else if (auto w = whole.find(job); w != whole.end()) q = w->second;
    store::SchedulerView v;
    if (q) {
      v = d_->classify(*q);
    } else {
      v.phase = store::SchedulerView::Phase::Gone;
    }
    v.name = d_->display();
    v.element = d_->element(job, index);
    if (v.phase == store::SchedulerView::Phase::Ended || v.phase == store::SchedulerView::Phase::Gone) {
      const std::string log = d_->log_path(logs_dir(exp, *d_), scripts[job], job, index);
      const std::string log_text = run::tail_lines(exp.dir(), log, 50);  // (read once)
      std::string tail = util::trim(run::last_lines(log_text, 3));
      std::replace(tail.begin(), tail.end(), '\n', ' ');
      if (tail.size() > 300) tail = tail.substr(tail.size() - 300);
      if (!tail.empty()) v.log = fmt::format("; {} log ({}): {}", d_->display(), log, tail);
      // Gone (purged before anyone looked): the scheduler's own log may still say how it ended.
      if (v.phase == store::SchedulerView::Phase::Gone) {
        auto as = d_->ended_in_log(log_text, f.record ? f.record->start : 0);
        std::string from = "from its log";
        // Else a killed task (or one whose wrapper got a stopping signal) whose recorded run
        // time reached its stage's time limit was stopped at that limit: the scheduler's own
        // record of it is gone (PBS Pro keeps no history by default), this is the evidence.
        if (as == store::SchedulerView::EndedAs::Other && f.record && f.record->final() && f.record->end > 0 &&
            (f.record->killed() || !f.record->got.empty())) {
          const auto limit = stage_walltime(f.stage);
          if (limit && f.record->end - f.record->start >= *limit - 2) {
            as = store::SchedulerView::EndedAs::Timeout;
            from = "from the task's recorded run time";
          }
        }
        if (as != store::SchedulerView::EndedAs::Other) {
          v.phase = store::SchedulerView::Phase::Ended;
          v.ended_as = as;
          v.state = as == store::SchedulerView::EndedAs::Timeout       ? "TIMEOUT"
                    : as == store::SchedulerView::EndedAs::OutOfMemory ? "OUT_OF_MEMORY"
                                                                        : "CANCELLED";
          v.reason = from;
        }
      }
    }
    if (v.phase == store::SchedulerView::Phase::NeverRuns && q && q->state == "PENDING") {
      if (q->indices.empty()) never.insert(job);
      else never.insert(d_->element(job, index));
    }
    f.scheduler = std::move(v);
  }
  if (!never.empty()) (void)run::capture(d_->cancel_argv({never.begin(), never.end()}), 60);
  (void)p;
  return {};
}

std::string BatchBackend::scheduler_log(const store::Experiment& exp, size_t task) {
  std::map<std::string, std::string> scripts;
  auto jobs = load_task_jobs(dialect_dir(exp, *d_), &scripts);
  auto it = jobs.find(task);
  return it == jobs.end() ? ""
                          : d_->log_path(logs_dir(exp, *d_), scripts[it->second.first], it->second.first,
                                         it->second.second);
}

Result<void> BatchBackend::cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                  const std::vector<store::TaskStatus>& tasks) {
  configure_for(*d_, exp, run::merged_options(meta, d_->name()));
  auto task_jobs = load_task_jobs(dialect_dir(exp, *d_));
  // When every unfinished element of an array is cancelled, the array itself is; otherwise
  // exactly the elements asked for (a running sibling is never touched).
  // (The targets' cancel request is already recorded, so they count as open themselves.)
  std::map<std::string, size_t> open_per_job, cancel_per_job;
  std::set<size_t> target_ids;
  for (const auto& t : tasks) target_ids.insert(t.id);
  for (const auto& t : observe_tasks(*this, exp, p, meta).tasks)
    if ((!store::is_final(t.state) || target_ids.count(t.id)) && task_jobs.count(t.id))
      ++open_per_job[task_jobs[t.id].first];
  std::map<std::string, std::vector<size_t>> wanted;
  for (const auto& t : tasks) {
    if (!task_jobs.count(t.id)) continue;
    const auto& [job, index] = task_jobs[t.id];
    ++cancel_per_job[job];
    wanted[job].push_back(index);
  }
  std::vector<std::string> targets;
  for (const auto& [job, indices] : wanted) {
    if (cancel_per_job[job] >= open_per_job[job]) {
      targets.push_back(job);
    } else {
      for (size_t i : indices) targets.push_back(d_->element(job, i));
    }
  }
  if (targets.empty()) return {};
  auto argv = d_->cancel_argv(targets);
  if (run::find_on_path(argv.front()).empty())
    return runtime_error(fmt::format("no '{}' on PATH: the tasks are marked cancelled but their jobs may still run", argv.front()),
                      "run `xrun cancel` again on a login node of the cluster");
  spdlog::debug("{}", fmt::join(argv, " "));
  auto r = run::capture(argv, 120);
  if (!r) return r.error();
  if (r->code != 0 && !d_->cancel_error_is_benign(r->err))
    return runtime_error(fmt::format("{} failed: {}", argv.front(), util::trim(r->err)));
  return {};
}

Result<bool> common_setting(const std::string& key, const json& val, Settings& s) {
  if (key == "max_parallel" || key == "concurrency") {
    auto n = options::whole_number(key, val, 1, 1000000000, "it limits how many tasks of an array run at once");
    if (!n) return n.error();
    s.max_parallel = n.value();
    return true;
  }
  if (key == "poll_interval") {
    auto d = options::seconds(key, val, 0.2, 3600);
    if (!d) return d.error();
    s.poll = d.value();
    return true;
  }
  return false;
}

std::string array_spec(const std::vector<size_t>& sorted) {
  std::string out;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? std::to_string(sorted[i]) : fmt::format("{}-{}", sorted[i], sorted[j]);
    i = j + 1;
  }
  return out;
}

std::optional<std::vector<size_t>> parse_array_spec(const std::string& spec0) {
  std::string spec = spec0.substr(0, spec0.find('%'));
  std::vector<size_t> out;
  for (const auto& part : util::split(spec, ',')) {
    if (part.empty()) return std::nullopt;
    auto dash = part.find('-');
    auto num = [](const std::string& s) -> std::optional<size_t> {
      if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
      return static_cast<size_t>(std::stoul(s));
    };
    if (dash == std::string::npos) {
      auto n = num(part);
      if (!n) return std::nullopt;
      out.push_back(*n);
    } else {
      std::string range = part.substr(dash + 1);
      auto colon = range.find(':');  // step syntax a-b:s
      size_t step = 1;
      if (colon != std::string::npos) {
        auto st = num(range.substr(colon + 1));
        if (!st || *st == 0) return std::nullopt;
        step = *st;
        range = range.substr(0, colon);
      }
      auto a = num(part.substr(0, dash)), b = num(range);
      if (!a || !b || *b < *a || *b - *a > 10000000) return std::nullopt;
      for (size_t k = *a; k <= *b; k += step) out.push_back(k);
    }
  }
  return out;
}

}  // namespace xrun::backend::batch
