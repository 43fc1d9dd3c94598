#include "xrun/backend/slurm.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xrun/backend/follow.hpp"
#include "xrun/run/process.hpp"
#include "xrun/run/report.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend {

using store::State;

namespace {

std::string opt_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

bool truthy(const std::string& v) { return v == "True" || v == "true" || v == "yes" || v == "Yes" || v == "on"; }
bool falsy(const std::string& v) { return v == "False" || v == "false" || v == "no" || v == "No" || v == "off"; }

const std::set<std::string> kOtherBackendKeys = {"jobs", "kill_grace", "image", "volumes"};

Error no_sbatch() {
  return make_error("the slurm backend needs Slurm's client commands, and no 'sbatch' is on PATH",
                    "run xrun on a Slurm login node (or load the Slurm module), or use --backend local");
}

struct ArrayPlan {
  size_t stage = 0;
  size_t chunk = 0;
  size_t base = 0;               // global task id of array index 0
  std::vector<size_t> indices;   // array indices
  std::string script_path;
};

std::string scripts_dir(const store::Experiment& exp) { return exp.path("backend/slurm"); }

// Arrays of a launch: per stage, the tasks to run, chunked so that no index reaches MaxArraySize.
std::vector<ArrayPlan> plan_arrays(const plan::Plan& p, const std::set<size_t>& to_run, size_t max_array,
                                   const std::string& dir) {
  std::vector<ArrayPlan> arrays;
  auto offsets = store::stage_offsets(p);
  for (size_t s = 0; s < p.stages.size(); ++s) {
    std::map<size_t, ArrayPlan> by_chunk;
    for (size_t i = 0; i < p.stages[s].tasks.size(); ++i) {
      size_t id = offsets[s] + i;
      if (!to_run.count(id)) continue;
      size_t chunk = i / max_array;
      auto& a = by_chunk[chunk];
      a.stage = s;
      a.chunk = chunk;
      a.base = offsets[s] + chunk * max_array;
      a.indices.push_back(i - chunk * max_array);
      a.script_path = fmt::format("{}/stage{}-{}.sbatch", dir, s + 1, chunk);
    }
    for (auto& [c, a] : by_chunk) arrays.push_back(std::move(a));
  }
  return arrays;
}

// A value on an #SBATCH line: sbatch splits those lines on blanks and honours quotes.
std::string sbatch_quote(const std::string& v) {
  if (v.find_first_of(" \t\"'\\") == std::string::npos) return v;
  if (v.find('"') == std::string::npos) return "\"" + v + "\"";
  return "'" + v + "'";
}

// `--key=value` with its value quoted for an #SBATCH line.
std::string sbatch_directive(const std::string& d) {
  auto eq = d.find('=');
  if (eq == std::string::npos || d.rfind("--", 0) != 0) return d;
  return d.substr(0, eq + 1) + sbatch_quote(d.substr(eq + 1));
}

// Slurm expands %A, %a, %j, ... in --output: a '%' of the path itself is written '%%'.
std::string slurm_pattern_escape(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

// The Slurm log of array element `index` of `job` (where a task that left no status, e.g.
// killed for memory, has its only trace).
std::string slurm_log_path(const store::Experiment& exp, const std::string& job, size_t index) {
  return fmt::format("{}/logs/{}_{}.out", scripts_dir(exp), job, index);
}

std::string batch_script(const store::Experiment& exp, const json& meta, const plan::Plan& p, const ArrayPlan& a,
                         const SlurmSettings& s) {
  const auto& stage = p.stages[a.stage];
  std::string name = s.job_name.empty() ? util::slug(meta.value("name", p.name) + "." + stage.name) : s.job_name;
  std::string out = "#!/bin/sh\n";
  out += fmt::format("#SBATCH --job-name={}\n", name);
  out += fmt::format("#SBATCH --output={}\n", sbatch_quote(slurm_pattern_escape(scripts_dir(exp)) + "/logs/%A_%a.out"));
  out += fmt::format("#SBATCH --chdir={}\n", sbatch_quote(exp.dir()));
  for (const auto& d : s.directives) out += "#SBATCH " + sbatch_directive(d) + "\n";
  out += fmt::format("# xrun experiment {}, stage {}/{} '{}': array index i runs task {} + i.\n", exp.id(), a.stage + 1,
                     p.stages.size(), stage.name, a.base);
  out += "# The task wrapper records the task's status and logs in the run store (shared filesystem).\n";
  out += fmt::format("exec sh {} {}\"$(({} + SLURM_ARRAY_TASK_ID))\"\n", util::shell_quote(exp.path("wrapper.sh")),
                     util::shell_quote(exp.dir() + "/tasks/"), a.base);
  return out;
}

// Stage k waits for every earlier stage of this launch: afterok on stages that stop on
// failure, afterany on `on_failure: continue` ones (or all with --keep-going).
std::string dependency_for(size_t stage, const std::map<size_t, std::vector<std::string>>& ids, const plan::Plan& p,
                           bool keep_going, bool placeholders) {
  std::vector<std::string> ok, any;
  for (const auto& [s, list] : ids) {
    if (s >= stage) continue;
    bool cont = keep_going || p.stages[s].on_failure == spec::OnFailure::Continue;
    for (const auto& id : list) (cont ? any : ok).push_back(id);
  }
  std::vector<std::string> parts;
  if (!ok.empty()) parts.push_back("afterok:" + fmt::format("{}", fmt::join(ok, ":")));
  if (!any.empty()) parts.push_back("afterany:" + fmt::format("{}", fmt::join(any, ":")));
  (void)placeholders;
  return fmt::format("{}", fmt::join(parts, ","));
}

size_t query_max_array_size() {
  auto r = run::capture({"scontrol", "show", "config"}, 60);
  if (!r || r->code != 0) return 1001;
  return parse_max_array_size(r->out);
}

// task id -> (job id, array index), from every submission of the experiment (latest wins).
std::map<size_t, std::pair<std::string, size_t>> load_task_jobs(const store::Experiment& exp) {
  std::map<size_t, std::pair<std::string, size_t>> m;
  auto files = util::list_dir(scripts_dir(exp));
  std::vector<std::pair<int, std::string>> subs;
  for (const auto& f : files) {
    if (!util::starts_with(f, "submission-") || f.size() < 17 || f.substr(f.size() - 5) != ".json") continue;
    subs.emplace_back(std::atoi(f.c_str() + 11), f);
  }
  std::sort(subs.begin(), subs.end());
  for (const auto& [n, f] : subs) {
    auto text = util::try_read_file(scripts_dir(exp) + "/" + f);
    if (!text) continue;
    try {
      auto j = json::parse(*text);
      for (const auto& a : j.at("arrays")) {
        std::string job = a.at("job_id").get<std::string>();
        size_t base = a.at("base").get<size_t>();
        for (const auto& i : a.at("indices")) m[base + i.get<size_t>()] = {job, i.get<size_t>()};
      }
    } catch (...) {
      continue;  // a damaged record is ignored, never fatal for readers
    }
  }
  return m;
}

// "; Slurm log: <its last lines>" when the job left a log, for a LOST task's reason.
std::string log_hint(const std::string& path) {
  std::string tail = util::trim(run::tail_lines(path, 3));
  if (tail.empty()) return "";
  std::replace(tail.begin(), tail.end(), '\n', ' ');
  if (tail.size() > 300) tail = tail.substr(tail.size() - 300);
  return fmt::format("; Slurm log ({}): {}", path, tail);
}

const std::set<std::string> kActive = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED",
                                       "RESIZING", "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED"};

}  // namespace

Result<SlurmSettings> slurm_settings(const json& options) {
  SlurmSettings s;
  for (const auto& [key, val] : options.items()) {
    if (val.is_object() || (val.is_array() && key != "setup"))
      return make_error(fmt::format("slurm option '{}' must be a single value", key),
                        "write `key: value` under `slurm:` or `scheduler:`");
    std::string v = opt_text(val);
    if (v.find('\n') != std::string::npos)
      return make_error(fmt::format("slurm option '{}' has a line break in its value", key));
    if (key == "setup" || kOtherBackendKeys.count(key)) continue;
    if (key == "name") s.job_name = util::slug(v);
    else if (key == "nodes" || key == "select") s.directives.push_back("--nodes=" + v);
    else if (key == "ncpus" || key == "cpus" || key == "cpus_per_task") s.directives.push_back("--cpus-per-task=" + v);
    else if (key == "mem" || key == "memory") s.directives.push_back("--mem=" + v);
    else if (key == "gpus" || key == "ngpus") s.directives.push_back("--gres=gpu:" + v);
    else if (key == "walltime" || key == "time") s.directives.push_back("--time=" + v);
    else if (key == "account" || key == "project") s.directives.push_back("--account=" + v);
    else if (key == "partition" || key == "qos" || key == "constraint" || key == "reservation")
      s.directives.push_back(fmt::format("--{}={}", key, v));
    else if (key == "email" || key == "mail") {
      s.directives.push_back("--mail-user=" + v);
      s.directives.push_back("--mail-type=END,FAIL");
    } else if (key == "max_parallel" || key == "concurrency") {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1)
        return make_error(fmt::format("slurm option '{}' must be a whole number from 1, got '{}'", key, v),
                          "it limits how many tasks of an array run at once (%N)");
      s.throttle = fmt::format("%{}", n);
    } else if (key == "poll_interval") {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || d < 0.2 || d > 3600)
        return make_error(fmt::format("poll_interval must be seconds from 0.2 to 3600, got '{}'", v));
      s.poll = d;
    } else if (falsy(v)) {
      continue;
    } else if (key.size() == 1) {
      s.directives.push_back(truthy(v) ? "-" + key : fmt::format("-{} {}", key, v));
    } else {
      std::string flag = key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      s.directives.push_back(truthy(v) ? "--" + flag : fmt::format("--{}={}", flag, v));
    }
  }
  return s;
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

std::vector<QueueRecord> parse_squeue(const std::string& out) {
  std::vector<QueueRecord> recs;
  for (const auto& line : util::split(out, '\n')) {
    auto f = util::split(util::trim(line), '|');
    if (f.size() < 3 || f[0].empty()) continue;
    QueueRecord r;
    r.state = f[1];
    r.reason = f[2];
    const std::string& id = f[0];
    auto us = id.find('_');
    if (us == std::string::npos) {
      r.job = id;
    } else {
      r.job = id.substr(0, us);
      std::string rest = id.substr(us + 1);
      if (!rest.empty() && rest.front() == '[') rest = rest.substr(1, rest.find(']') == std::string::npos ? std::string::npos : rest.find(']') - 1);
      // An index list squeue abbreviated (`123_[2,9,22,...]`) or that cannot be read: the job
      // is still there, so the record stands for every element not listed on its own line.
      if (auto idx = parse_array_spec(rest)) r.indices = *idx;
    }
    recs.push_back(std::move(r));
  }
  return recs;
}

size_t parse_max_array_size(const std::string& text) {
  for (const auto& line : util::split(text, '\n')) {
    if (!util::starts_with(util::trim(line), "MaxArraySize")) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string v = util::trim(line.substr(eq + 1));
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (n > 0) return static_cast<size_t>(n);
  }
  return 1001;
}

Result<int> SlurmBackend::launch(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                 const RunOptions& opts) {
  auto settings = slurm_settings(run::merged_options(meta, "slurm"));
  if (!settings) return settings.error();
  if (run::find_on_path("sbatch").empty()) return no_sbatch();
  const std::string dir = scripts_dir(exp);
  XRUN_TRY(util::make_dirs(dir + "/logs"));
  size_t max_array = query_max_array_size();
  auto arrays = plan_arrays(p, opts.to_run, max_array, dir);

  size_t submission = 1;
  while (util::exists(fmt::format("{}/submission-{}.json", dir, submission))) ++submission;
  std::map<size_t, std::vector<std::string>> ids_by_stage;
  if (opts.resume) {
    // Later stages also wait for earlier-stage jobs still queued or running from before.
    auto st = exp.statuses(p);
    (void)refresh(exp, p, meta, st);
    auto jobs = load_task_jobs(exp);
    std::set<std::pair<size_t, std::string>> seen;
    for (const auto& t : st)
      if (!store::is_final(t.state) && !opts.to_run.count(t.id) && jobs.count(t.id) &&
          seen.insert({t.stage, jobs[t.id].first}).second)
        ids_by_stage[t.stage].push_back(jobs[t.id].first);
  }
  json record = json::array();
  std::vector<std::string> submitted;
  // A submission that fails half-way is a runtime failure (exit 1): the arrays already
  // submitted are cancelled, and the experiment is recorded as failed to submit.
  auto undo = [&](Error e) {
    e.exit_code = 1;
    if (!submitted.empty()) {
      std::vector<std::string> argv{"scancel"};
      argv.insert(argv.end(), submitted.begin(), submitted.end());
      (void)run::capture(argv, 60);
      e.hint += fmt::format(" (the {} array(s) already submitted were cancelled)", submitted.size());
    }
    (void)exp.write_runner(json{{"backend", "slurm"},
                                {"state", "submit-failed"},
                                {"error", e.what},
                                {"pid", ::getpid()},
                                {"host", util::hostname()},
                                {"started", util::now_seconds()},
                                {"ended", util::now_seconds()},
                                {"cancelled_jobs", submitted}});
    return e;
  };
  for (const auto& a : arrays) {
    auto offsets = store::stage_offsets(p);
    for (size_t i : a.indices) {
      auto prep = run::prepare_task(exp, p, meta, a.base + i);
      if (!prep) return undo(prep.error());
    }
    if (auto w = util::atomic_write(a.script_path, batch_script(exp, meta, p, a, settings.value())); !w)
      return undo(w.error());
    std::vector<std::string> argv{"sbatch", "--parsable", "--array=" + array_spec(a.indices) + settings->throttle};
    std::string dep = dependency_for(a.stage, ids_by_stage, p, opts.keep_going, false);
    if (!dep.empty()) argv.push_back("--dependency=" + dep);
    argv.push_back(a.script_path);
    spdlog::debug("{}", fmt::join(argv, " "));
    auto r = run::capture(argv, 120);
    if (!r) return undo(r.error());
    std::string id = util::trim(r->out.substr(0, r->out.find(';')));
    if (r->code != 0 || id.empty() || !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      Error e = make_error(fmt::format("sbatch failed for stage '{}': {}", p.stages[a.stage].name,
                                       util::trim(r->err.empty() ? r->out : r->err)),
                           fmt::format("check the slurm options; the batch script is {}", a.script_path));
      return undo(e);
    }
    submitted.push_back(id);
    ids_by_stage[a.stage].push_back(id);
    record.push_back(json{{"job_id", id},
                          {"stage", a.stage},
                          {"stage_name", p.stages[a.stage].name},
                          {"base", a.base},
                          {"indices", a.indices},
                          {"array", array_spec(a.indices) + settings->throttle},
                          {"dependency", dep},
                          {"script", a.script_path}});
  }
  json sub{{"submission", submission}, {"submitted", util::now_seconds()}, {"max_array_size", max_array},
           {"arrays", record}};
  if (auto w = util::atomic_write(fmt::format("{}/submission-{}.json", dir, submission), sub.dump(2) + "\n"); !w)
    return undo(w.error());
  json runner{{"backend", "slurm"},     {"state", "submitted"},         {"pid", ::getpid()},
              {"host", util::hostname()}, {"started", util::now_seconds()}, {"jobs", submitted},
              {"resume", opts.resume}};
  (void)exp.write_runner(runner);
  if (!opts.quiet)
    std::cerr << fmt::format("xrun: submitted {} array job{} ({}); follow with: xrun status {} --watch", submitted.size(),
                             submitted.size() == 1 ? "" : "s", fmt::join(submitted, ", "), exp.id())
              << std::endl;
  if (!opts.wait) return 0;
  return follow(*this, exp, p, meta, settings->poll, opts.quiet);
}

Result<void> SlurmBackend::dry_run(std::ostream& os, const spec::Spec& sp, const plan::Plan& p, const RunOptions& opts) {
  auto settings = slurm_settings(sp.options_for("slurm"));
  if (!settings) return settings.error();
  size_t max_array = 1001;
  std::string note = " (Slurm's default; scontrol is not available here)";
  if (!run::find_on_path("scontrol").empty()) {
    max_array = query_max_array_size();
    note = " (from scontrol show config)";
  }
  store::Experiment exp("<experiment-id>", "<store>/experiments/<experiment-id>");
  json meta{{"name", sp.name}};
  auto arrays = plan_arrays(p, opts.to_run, max_array, scripts_dir(exp));
  os << fmt::format("backend slurm: {} array job(s), MaxArraySize {}{}\n", arrays.size(), max_array, note);
  std::map<size_t, std::vector<std::string>> ids;
  size_t k = 0;
  for (const auto& a : arrays) {
    ++k;
    os << fmt::format("\n# --- {} ---\n{}", a.script_path, batch_script(exp, meta, p, a, settings.value()));
    std::string line = fmt::format("sbatch --parsable --array={}{}", array_spec(a.indices), settings->throttle);
    std::string dep = dependency_for(a.stage, ids, p, opts.keep_going, true);
    if (!dep.empty()) line += " --dependency=" + dep;
    os << "$ " << line << " " << a.script_path << "\n";
    ids[a.stage].push_back(fmt::format("<job{}>", k));
  }
  if (run::find_on_path("sbatch").empty())
    os << "\nnote: no 'sbatch' on PATH here: a real run needs Slurm's client commands\n";
  return {};
}

Result<void> SlurmBackend::refresh(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                   std::vector<store::TaskStatus>& tasks) {
  auto task_jobs = load_task_jobs(exp);
  // Tasks whose end the scheduler may still explain: unfinished ones, and ones a signal ended
  // (the wrapper records FAILED by SIGTERM when Slurm kills a job at its time limit or when it
  // is cancelled outside xrun: Slurm's verdict, TIMEOUT or CANCELLED, is the truth).
  auto signalled = [](const store::TaskStatus& t) {
    return t.state == State::Failed && t.signal && (*t.signal == SIGTERM || *t.signal == SIGKILL);
  };
  std::set<std::string> jobs;
  for (const auto& t : tasks)
    if ((!store::is_final(t.state) || signalled(t)) && task_jobs.count(t.id)) jobs.insert(task_jobs[t.id].first);
  if (jobs.empty()) return {};
  if (run::find_on_path("squeue").empty())
    return make_error("cannot ask Slurm about this experiment: no 'squeue' on PATH",
                      "run xrun status on a Slurm login node; the states shown come from the store only");
  // One call for the whole experiment.
  spdlog::debug("squeue for {} job(s) of {}", jobs.size(), exp.id());
  // -r: one line per array element, so pending elements are never abbreviated away.
  auto r = run::capture({"squeue", "-h", "-r", "-t", "all", "-j", fmt::format("{}", fmt::join(jobs, ",")), "-o", "%i|%T|%r"},
                        60);
  if (!r) return r.error();
  if (r->code != 0 && r->err.find("Invalid job id") == std::string::npos)
    return make_error(fmt::format("squeue failed: {}", util::trim(r->err)), "the states shown come from the store only");
  std::map<std::pair<std::string, size_t>, const QueueRecord*> queue;
  std::map<std::string, const QueueRecord*> whole;
  auto recs = parse_squeue(r->code == 0 ? r->out : "");
  for (const auto& q : recs) {
    if (q.indices.empty()) whole[q.job] = &q;
    for (size_t i : q.indices) queue[{q.job, i}] = &q;
  }
  // Stages whose failure blocks later ones (for tasks that never ran).
  auto offsets = store::stage_offsets(p);
  std::vector<bool> stage_failed(p.stages.size(), false);
  for (const auto& t : tasks)
    if (store::is_final(t.state) && !run::satisfied(t)) stage_failed[t.stage] = true;
  auto blocked_by = [&](size_t stage) -> std::string {
    for (size_t s = 0; s < stage; ++s)
      if (stage_failed[s] && p.stages[s].on_failure == spec::OnFailure::Stop)
        return fmt::format("stage '{}' did not succeed", p.stages[s].name);
    return "";
  };
  std::set<std::string> never;  // arrays to cancel: their dependency can never be met
  std::set<size_t> cancelled_ids;
  bool cancelled_loaded = false;
  // Slurm's TIMEOUT / CANCELLED, persisted as the task's verdict (first one wins).
  auto verdict = [&](store::TaskStatus& t, const char* state, const std::string& reason) {
    if (auto r = exp.record_verdict(t.id, {state, reason}); !r) spdlog::warn("{}", r.error().what);
    t.state = std::string(state) == "TIMEOUT" ? State::Timeout : State::Cancelled;
    t.reason = reason;
  };
  for (auto& t : tasks) {
    if ((store::is_final(t.state) && !signalled(t)) || !task_jobs.count(t.id)) continue;
    const auto& [job, index] = task_jobs[t.id];
    const QueueRecord* q = nullptr;
    if (auto it = queue.find({job, index}); it != queue.end()) q = it->second;
    else if (auto w = whole.find(job); w != whole.end()) q = w->second;
    const std::string elem = fmt::format("{}_{}", job, index);
    if (signalled(t)) {  // the wrapper recorded a kill: Slurm says whose
      if (q && q->state == "TIMEOUT") verdict(t, "TIMEOUT", "Slurm's time limit was reached");
      else if (q && q->state == "CANCELLED") verdict(t, "CANCELLED", "cancelled in Slurm (outside xrun)");
      continue;
    }
    // The scheduler was asked after the records were read: a task it reports ended may have
    // written its final record in between. Read it again before deciding it was lost.
    auto ended_meanwhile = [&] {
      if (!cancelled_loaded) {
        cancelled_ids = exp.cancelled();
        cancelled_loaded = true;
      }
      store::TaskStatus fresh = exp.status_of(t.id, cancelled_ids.count(t.id) > 0);
      if (!store::is_final(fresh.state)) return false;
      fresh.stage = t.stage;
      fresh.index = t.index;
      t = fresh;
      return true;
    };
    if (q) {
      t.backend_state = q->reason.empty() || q->reason == "None" ? q->state : fmt::format("{} ({})", q->state, q->reason);
      if (q->reason == "DependencyNeverSatisfied") {
        if (t.state == State::Pending) {
          t.state = State::Skipped;
          std::string why = blocked_by(t.stage);
          t.reason = why.empty() ? "its dependency can never be satisfied" : why;
          if (q->state == "PENDING") never.insert(job);
        }
        continue;
      }
      if (kActive.count(q->state)) {
        if (t.state == State::Pending && q->state != "PENDING") t.state = State::Running;
        continue;
      }
      // The job has ended but the task has no final status.
      if (q->state == "TIMEOUT") {
        verdict(t, "TIMEOUT", "Slurm's time limit was reached");
      } else if (q->state == "CANCELLED") {
        verdict(t, "CANCELLED", "cancelled in Slurm (outside xrun)");
      } else if (ended_meanwhile()) {
        continue;
      } else {
        t.state = State::Lost;
        t.reason = fmt::format("Slurm job {} ended {} without a final task status{}", elem, q->state,
                               log_hint(slurm_log_path(exp, job, index)));
      }
      continue;
    }
    // Not in the queue any more.
    if (ended_meanwhile()) continue;
    std::string why = blocked_by(t.stage);
    if (t.state == State::Pending && !why.empty()) {
      t.state = State::Skipped;
      t.reason = why;
    } else {
      t.state = State::Lost;
      t.reason = fmt::format("Slurm job {} left the queue without a final task status{}", elem,
                             log_hint(slurm_log_path(exp, job, index)));
    }
  }
  if (!never.empty()) {
    std::vector<std::string> argv{"scancel"};
    argv.insert(argv.end(), never.begin(), never.end());
    (void)run::capture(argv, 60);
  }
  (void)meta;
  (void)offsets;
  return {};
}

std::string SlurmBackend::scheduler_log(const store::Experiment& exp, size_t task) {
  auto jobs = load_task_jobs(exp);
  auto it = jobs.find(task);
  return it == jobs.end() ? "" : slurm_log_path(exp, it->second.first, it->second.second);
}

Result<void> SlurmBackend::cancel(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                  const std::vector<store::TaskStatus>& tasks) {
  auto task_jobs = load_task_jobs(exp);
  // Every unfinished task of an array cancelled: cancel the array itself.
  std::map<std::string, size_t> open_per_job, cancel_per_job;
  auto all = exp.statuses(p);
  for (const auto& t : all)
    if (!store::is_final(t.state) && task_jobs.count(t.id)) ++open_per_job[task_jobs[t.id].first];
  std::vector<std::string> elements;
  for (const auto& t : tasks) {
    if (!task_jobs.count(t.id)) continue;
    ++cancel_per_job[task_jobs[t.id].first];
    elements.push_back(fmt::format("{}_{}", task_jobs[t.id].first, task_jobs[t.id].second));
  }
  std::vector<std::string> argv{"scancel"};
  for (const auto& [job, n] : cancel_per_job)
    if (n >= open_per_job[job]) argv.push_back(job);
  for (const auto& e : elements)
    if (!cancel_per_job.count(e.substr(0, e.find('_'))) ||
        cancel_per_job[e.substr(0, e.find('_'))] < open_per_job[e.substr(0, e.find('_'))])
      argv.push_back(e);
  if (argv.size() == 1) return {};
  if (run::find_on_path("scancel").empty())
    return make_error("no 'scancel' on PATH: the tasks are marked cancelled but their jobs may still run",
                      "run `xrun cancel` again on a Slurm login node");
  auto r = run::capture(argv, 120);
  if (!r) return r.error();
  if (r->code != 0 && r->err.find("already completing or completed") == std::string::npos &&
      r->err.find("Invalid job id") == std::string::npos)
    return make_error(fmt::format("scancel failed: {}", util::trim(r->err)));
  (void)meta;
  return {};
}

}  // namespace xrun::backend
