#include "xrun/backend/batch/slurm.hpp"

#include <csignal>
#include <ctime>

#include <algorithm>
#include <map>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/backend/options.hpp"
#include "xrun/run/task_files.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend::batch {

namespace {

using Phase = store::SchedulerView::Phase;

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
std::string pattern_escape(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Slurm's job states, by what they mean for a task.
const std::vector<std::string> kQueued = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED"};
const std::vector<std::string> kRunning = {"RUNNING", "CONFIGURING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT"};

bool in(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

Result<BatchSignal> batch_signal(const std::string& value) {
  const std::string hint = fmt::format(
      "write it as [B:]SIGNAL[@SECONDS], e.g. 'B:USR1@300'; the task gets one of {} (xrun's task wrapper passes "
      "these on to the task's process group)",
      fmt::join(run::forwarded_signals(), ", "));
  BatchSignal out;
  std::string v = util::trim(value), flags, sig = v, when;
  if (auto colon = v.find(':'); colon != std::string::npos) {
    flags = v.substr(0, colon);
    sig = v.substr(colon + 1);
    std::transform(flags.begin(), flags.end(), flags.begin(), ::toupper);
    if (flags.empty() || flags.size() > 2 || flags.find_first_not_of("RB") != std::string::npos ||
        (flags.size() == 2 && flags[0] == flags[1]))
      return make_error(fmt::format("slurm option 'signal': '{}' has the flags '{}'; Slurm knows only R and B", v, flags),
                        hint);
  }
  if (auto at = sig.find('@'); at != std::string::npos) {
    when = sig.substr(at + 1);
    sig = sig.substr(0, at);
    if (!all_digits(when) || when.size() > 5)
      return make_error(fmt::format("slurm option 'signal': '{}' is not a number of seconds in '{}'", when, v), hint);
  }
  std::string name = sig;
  std::transform(name.begin(), name.end(), name.begin(), ::toupper);
  if (util::starts_with(name, "SIG")) name = name.substr(3);
  if (all_digits(name)) {
    static const std::map<int, std::string> by_number = {{SIGHUP, "HUP"},   {SIGINT, "INT"},   {SIGQUIT, "QUIT"},
                                                         {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"}, {SIGALRM, "ALRM"},
                                                         {SIGTERM, "TERM"}};
    auto it = name.size() < 4 ? by_number.find(std::stoi(name)) : by_number.end();
    name = it == by_number.end() ? "" : it->second;
  }
  const auto& ok = run::forwarded_signals();
  if (name.empty() || std::find(ok.begin(), ok.end(), name) == ok.end())
    return make_error(fmt::format("slurm option 'signal': xrun's task wrapper does not pass '{}' on: it would stop the "
                                  "wrapper, or never reach the task",
                                  sig),
                      hint);
  if (flags.find('B') == std::string::npos) {
    flags += 'B';
    out.added = true;
  }
  out.value = flags + ":" + sig + (when.empty() ? "" : "@" + when);
  return out;
}

Result<Settings> SlurmDialect::settings(const json& opts) const {
  Settings s;
  for (const auto& [key, val] : opts.items()) {
    if (key == "setup") continue;
    XRUN_TRY(options::require_scalar("slurm", key, val));
    std::string v = options::text(val);
    if (key == "name") s.job_name = util::slug(v);
    else if (key == "nodes") s.directives.push_back("--nodes=" + v);
    else if (key == "cpus") s.directives.push_back("--cpus-per-task=" + v);
    else if (key == "mem") s.directives.push_back("--mem=" + v);
    else if (key == "gpus") s.directives.push_back("--gres=gpu:" + v);
    else if (key == "walltime") {
      std::string u = v;
      std::transform(u.begin(), u.end(), u.begin(), ::toupper);
      if (u != "UNLIMITED" && u != "INFINITE") {
        auto d = options::duration("walltime", val);
        if (!d) return d.error();
      }
      s.directives.push_back("--time=" + v);
    }
    else if (key == "signal") {
      auto sig = batch_signal(v);
      if (!sig) return sig.error();
      s.directives.push_back("--signal=" + sig->value);
      if (sig->added)
        s.notes.push_back(fmt::format("slurm signal '{}' is sent as '{}': xrun runs no job steps, and Slurm sends a "
                                      "signal without B: to job steps only; xrun's task wrapper passes it on to the "
                                      "task's process group",
                                      v, sig->value));
    }
    else if (key == "account") s.directives.push_back("--account=" + v);
    else if (key == "partition") s.directives.push_back("--partition=" + v);
    else if (key == "email") {
      s.directives.push_back("--mail-user=" + v);
      s.directives.push_back("--mail-type=END,FAIL");
    } else if (auto common = common_setting(key, val, s); !common) {
      return common.error();
    } else if (common.value()) {
      continue;
    } else if (options::is_general(key)) {
      continue;  // general options Slurm has no use for (the local pool's jobs, kill_grace)
    } else if (auto b = options::boolean(val); b && !*b) {
      continue;
    } else if (key.size() == 1) {
      s.directives.push_back(b ? "-" + key : fmt::format("-{} {}", key, v));
    } else {
      std::string flag = key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      s.directives.push_back(b ? "--" + flag : fmt::format("--{}={}", flag, v));
    }
  }
  return s;
}

size_t SlurmDialect::max_array_size(bool ask) const {
  if (!ask) return 1001;
  auto r = run::capture({"scontrol", "show", "config"}, 60);
  if (!r || r->code != 0) return 1001;
  return parse_max_array_size(r->out);
}

std::string SlurmDialect::header(const Settings& s, const std::string& job_name, const std::string& log_pattern,
                                 const std::string& workdir) const {
  std::string out = "#!/bin/sh\n";
  out += fmt::format("#SBATCH --job-name={}\n", sbatch_quote(job_name));
  out += fmt::format("#SBATCH --output={}\n", sbatch_quote(log_pattern));
  out += fmt::format("#SBATCH --chdir={}\n", sbatch_quote(workdir));
  for (const auto& d : s.directives) out += "#SBATCH " + sbatch_directive(d) + "\n";
  return out;
}

std::string SlurmDialect::log_pattern(const std::string& logs_dir) const { return pattern_escape(logs_dir) + "/%A_%a.out"; }

std::string SlurmDialect::log_path(const std::string& logs_dir, const std::string&, const std::string& job,
                                   size_t index) const {
  return fmt::format("{}/{}_{}.out", logs_dir, job, index);
}

std::vector<std::string> SlurmDialect::submit_argv(const std::string& script, const std::string& array,
                                                   const Settings& s, const std::vector<After>& after) const {
  std::vector<std::string> argv{"sbatch", "--parsable"};
  if (!array.empty()) argv.push_back("--array=" + array + (s.max_parallel > 0 ? fmt::format("%{}", s.max_parallel) : ""));
  std::vector<std::string> ok, any, corr;
  for (const auto& a : after) (a.corresponding ? corr : a.success ? ok : any).push_back(a.job);
  std::vector<std::string> parts;
  if (!ok.empty()) parts.push_back(fmt::format("afterok:{}", fmt::join(ok, ":")));
  if (!any.empty()) parts.push_back(fmt::format("afterany:{}", fmt::join(any, ":")));
  if (!corr.empty()) parts.push_back(fmt::format("aftercorr:{}", fmt::join(corr, ":")));
  if (!parts.empty()) argv.push_back(fmt::format("--dependency={}", fmt::join(parts, ",")));
  argv.push_back(script);
  return argv;
}

std::optional<std::string> SlurmDialect::job_id(const run::Captured& r) const {
  std::string id = util::trim(r.out.substr(0, r.out.find(';')));  // --parsable: "JOBID[;CLUSTER]"
  if (!all_digits(id)) return std::nullopt;
  return id;
}

Result<std::vector<QueueEntry>> SlurmDialect::query(const std::set<std::string>& jobs) const {
  // -r: one line per array element, so pending elements are never abbreviated away.
  auto r = run::capture(
      {"squeue", "-h", "-r", "-t", "all", "-j", fmt::format("{}", fmt::join(jobs, ",")), "-o", "%i|%T|%r"}, 60);
  if (!r) return r.error();
  if (r->code != 0 && r->err.find("Invalid job id") == std::string::npos)
    return runtime_error(fmt::format("squeue failed: {}", util::trim(r->err)), "the states shown come from the store only");
  return parse_squeue(r->code == 0 ? r->out : "");
}

store::SchedulerView SlurmDialect::classify(const QueueEntry& e) const {
  store::SchedulerView v;
  v.state = e.state;
  v.reason = e.reason;
  if (e.reason == "DependencyNeverSatisfied") v.phase = Phase::NeverRuns;
  else if (in(kQueued, e.state)) v.phase = Phase::Queued;
  else if (in(kRunning, e.state)) v.phase = Phase::Running;
  else {
    v.phase = Phase::Ended;
    if (e.state == "TIMEOUT" || e.state == "DEADLINE") v.ended_as = store::SchedulerView::EndedAs::Timeout;
    else if (e.state == "OUT_OF_MEMORY") v.ended_as = store::SchedulerView::EndedAs::OutOfMemory;
    else if (e.state == "CANCELLED") v.ended_as = store::SchedulerView::EndedAs::Cancelled;
  }
  return v;
}

std::vector<std::string> SlurmDialect::cancel_argv(const std::vector<std::string>& targets) const {
  std::vector<std::string> argv{"scancel"};
  argv.insert(argv.end(), targets.begin(), targets.end());
  return argv;
}

bool SlurmDialect::cancel_error_is_benign(const std::string& err) const {
  return err.find("already completing or completed") != std::string::npos ||
         err.find("Invalid job id") != std::string::npos;
}

std::string SlurmDialect::element(const std::string& job, size_t index) const { return fmt::format("{}_{}", job, index); }

store::SchedulerView::EndedAs SlurmDialect::ended_in_log(const std::string& log_text, double since) const {
  // slurmstepd's words when it ends a running job: "*** JOB 123 ON node CANCELLED AT
  // 2026-12-07T10:00:00 DUE TO TIME LIMIT ***" (or "... ***" for scancel, "DUE TO PREEMPTION"),
  // the time in the node's local time. The last such line is the one that counts.
  // Its memory: "slurmstepd: error: Detected 1 oom_kill event in StepId=123.batch. Some of the
  // step tasks have been OOM Killed." (older Slurm: "oom-kill event(s)"). The later of the two
  // kinds of line decides.
  using EndedAs = store::SchedulerView::EndedAs;
  auto line_start = [&](size_t pos) {
    size_t nl = log_text.rfind('\n', pos);
    return nl == std::string::npos ? size_t{0} : nl + 1;
  };
  size_t oom = std::string::npos;
  for (const char* word : {"oom_kill event", "oom-kill event", "OOM Killed"}) {
    auto pos = log_text.rfind(word);
    // (slurmstepd's line only: what the task printed is in its own files, but be sure)
    if (pos != std::string::npos && log_text.find("slurmstepd", line_start(pos)) < pos &&
        (oom == std::string::npos || pos > oom))
      oom = pos;
  }
  const std::string_view marker = " CANCELLED AT ";
  size_t at = std::string::npos;
  for (size_t pos = log_text.find(marker); pos != std::string::npos; pos = log_text.find(marker, pos + 1))
    if (log_text.find("*** JOB ", line_start(pos)) < pos) at = pos;
  if (oom != std::string::npos && (at == std::string::npos || oom > at)) return EndedAs::OutOfMemory;
  if (at == std::string::npos) return EndedAs::Other;
  size_t eol = log_text.find('\n', at);
  const std::string rest = log_text.substr(at + marker.size(), eol == std::string::npos ? std::string::npos : eol - at - marker.size());
  if (since > 0) {
    struct tm tm {};
    if (const char* end = ::strptime(rest.c_str(), "%Y-%m-%dT%H:%M:%S", &tm); end) {
      tm.tm_isdst = -1;
      const time_t when = ::mktime(&tm);
      // (Whole seconds: a line of the same second as the start is this run's.)
      if (when != static_cast<time_t>(-1) && static_cast<double>(when) + 1 < since) return EndedAs::Other;
    }
  }
  if (rest.find("DUE TO TIME LIMIT") != std::string::npos) return EndedAs::Timeout;
  const auto due = rest.find("DUE TO");
  if (due == std::string::npos || rest.find("DUE TO PREEMPTION") != std::string::npos) return EndedAs::Cancelled;
  return EndedAs::Other;  // (node failure, ...: no verdict of its own; the log says it)
}

std::vector<QueueEntry> parse_squeue(const std::string& out) {
  // Read in place (one line per array element with -r: 100,000 lines for a large sweep); only
  // the entries themselves are made.
  std::vector<QueueEntry> recs;
  std::string_view rest = out;
  auto trim = [](std::string_view v) {  // as util::trim
    size_t b = v.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return std::string_view();
    return v.substr(b, v.find_last_not_of(" \t\r\n") - b + 1);
  };
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = trim(rest.substr(0, nl));
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    size_t bar1 = line.find('|');
    if (bar1 == std::string_view::npos || bar1 == 0) continue;
    size_t bar2 = line.find('|', bar1 + 1);
    if (bar2 == std::string_view::npos) continue;
    size_t bar3 = line.find('|', bar2 + 1);
    std::string_view id = line.substr(0, bar1);
    QueueEntry r;
    r.state = line.substr(bar1 + 1, bar2 - bar1 - 1);
    r.reason = line.substr(bar2 + 1, bar3 == std::string_view::npos ? std::string_view::npos : bar3 - bar2 - 1);
    auto us = id.find('_');
    if (us == std::string_view::npos) {
      r.job = id;
    } else {
      r.job = id.substr(0, us);
      std::string_view idx = id.substr(us + 1);
      size_t n = 0;
      bool digits = !idx.empty() && idx.size() <= 9;
      for (char c : idx) {
        digits = digits && c >= '0' && c <= '9';
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      if (digits) {
        r.indices.push_back(n);  // one element (the common case)
      } else {
        if (!idx.empty() && idx.front() == '[') {
          auto close = idx.find(']');
          idx = idx.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
        }
        // An index list squeue abbreviated (`123_[2,9,22,...]`) or that cannot be read: the job
        // is still there, so the record stands for every element not listed on its own line.
        if (auto parsed = parse_array_spec(std::string(idx))) r.indices = *parsed;
      }
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

}  // namespace xrun::backend::batch
