#include "xrun/backend/batch/pbs.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "xrun/backend/batch/slurm.hpp"
#include "xrun/backend/options.hpp"
#include "xrun/util/text.hpp"

namespace xrun::backend::batch {

namespace {

using Phase = store::SchedulerView::Phase;
using Flavor = PbsDialect::Flavor;

// A value on a #PBS line: qsub splits on blanks; quote what has them.
std::string pbs_quote(const std::string& v) {
  if (v.find_first_of(" \t\"'") == std::string::npos) return v;
  return "\"" + v + "\"";
}

// xrun's one walltime rule, written as PBS reads it: MM:SS and HH:MM:SS mean the same on both;
// a bare number is minutes (Slurm's reading; PBS would read seconds), D-HH:MM:SS becomes hours.
std::string pbs_walltime(const std::string& v) {
  if (v.find('-') == std::string::npos && v.find(':') != std::string::npos) return v;
  auto d = options::parse_duration(v);
  if (!d) return v;
  long s = std::lround(*d);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

Flavor parse_flavor(const std::string& v) {
  if (v == "pro" || v == "openpbs" || v == "pbspro") return Flavor::Pro;
  if (v == "torque") return Flavor::Torque;
  if (v == "slurm") return Flavor::Slurm;
  return Flavor::Unknown;
}

// "123[4].server" -> ("123[].server", 4); "123.server" -> ("123.server", none).
std::pair<std::string, std::optional<size_t>> split_element(const std::string& id) {
  auto open = id.find('[');
  auto close = id.find(']', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return {id, std::nullopt};
  std::string inner = id.substr(open + 1, close - open - 1);
  std::string job = id.substr(0, open + 1) + id.substr(close);
  if (inner.empty() || inner.size() > 9 || !std::all_of(inner.begin(), inner.end(), ::isdigit)) return {job, std::nullopt};
  return {job, static_cast<size_t>(std::stoul(inner))};
}

}  // namespace

PbsDialect::Flavor flavor_from_version(const std::string& out, int code) {
  if (out.find("pbs_version") != std::string::npos) return Flavor::Pro;
  if (code == 0 && (out.find("Version") != std::string::npos || out.find("version") != std::string::npos))
    return Flavor::Torque;
  return Flavor::Slurm;  // Slurm's wrappers know no --version
}

PbsDialect::Flavor PbsDialect::flavor() const {
  if (flavor_ == Flavor::Unknown) {
    auto r = run::capture({"qstat", "--version"}, 30);
    flavor_ = r ? flavor_from_version(r->out + r->err, r->code) : Flavor::Pro;
  }
  return flavor_;
}

void PbsDialect::configure(const json& o) {
  if (o.contains("flavor")) flavor_ = parse_flavor(options::text(o["flavor"]));
  if (o.contains("max_array_size"))
    if (auto n = options::whole_number("max_array_size", o["max_array_size"], 2, 100000000); n) max_array_ = n.value();
}

json PbsDialect::identity() const {
  const char* names[] = {"unknown", "pro", "torque", "slurm"};
  return json{{"flavor", names[static_cast<int>(flavor())]}};
}

void PbsDialect::restore(const json& j) {
  if (flavor_ == Flavor::Unknown && j.is_object() && j.contains("flavor") && j["flavor"].is_string())
    flavor_ = parse_flavor(j["flavor"].get<std::string>());
}

Result<Settings> PbsDialect::settings(const json& opts) const {
  Settings s;
  // experi's defaults: one chunk of one cpu, and a walltime of 1:00, unless the file says.
  if (!opts.contains("walltime")) s.directives.push_back("-l walltime=1:00");
  const Flavor f = opts.contains("flavor") ? parse_flavor(options::text(opts["flavor"])) : flavor();
  std::string select = "1", ncpus = "1", mem, gpus;
  bool resources = false;
  for (const auto& [key, val] : opts.items()) {
    if (key == "setup") continue;
    XRUN_TRY(options::require_scalar("pbs", key, val));
    std::string v = options::text(val);
    if (key == "name") s.job_name = util::slug(v);
    else if (key == "nodes") select = v, resources = true;
    else if (key == "cpus") ncpus = v, resources = true;
    else if (key == "mem") mem = v, resources = true;
    else if (key == "gpus") gpus = v, resources = true;
    else if (key == "walltime" || key == "cputime") {
      auto d = options::duration(key, val);
      if (!d) return d.error();
      s.directives.push_back(fmt::format("-l {}={}", key, pbs_walltime(v)));
    }
    else if (key == "account") s.directives.push_back((f == Flavor::Torque ? "-A " : "-P ") + pbs_quote(v));
    else if (key == "partition") s.directives.push_back("-q " + pbs_quote(v));
    else if (key == "email") {
      s.directives.push_back("-M " + pbs_quote(v));
      s.directives.push_back("-m ae");
    } else if (auto common = common_setting(key, val, s); !common) {
      return common.error();
    } else if (common.value()) {
      continue;
    } else if (key == "flavor") {
      if (parse_flavor(v) == Flavor::Unknown)
        return make_error(fmt::format("pbs option 'flavor' must be pro, torque or slurm, got '{}'", v),
                          "pro: PBS Pro/OpenPBS; torque: Torque; slurm: Slurm's qsub wrappers (slurm-wlm-torque)");
    } else if (key == "max_array_size") {
      auto n = options::whole_number(key, val, 2, 100000000, "the largest array the server accepts");
      if (!n) return n.error();
    } else if (options::is_general(key)) {
      continue;  // general options PBS has no use for (the local pool's jobs, kill_grace)
    } else if (auto b = options::boolean(val); b && !*b) {
      continue;
    } else if (key.size() == 1) {  // a flag, as the seed document says: `o: dest` -> `#PBS -o dest`
      s.directives.push_back(b ? "-" + key : fmt::format("-{} {}", key, pbs_quote(v)));
    } else {  // any other resource: `place: scatter` -> `#PBS -l place=scatter`
      s.directives.push_back(fmt::format("-l {}={}", key, pbs_quote(v)));
    }
  }
  // The resource request (experi's defaults: one chunk of one cpu).
  std::string res;
  if (f == Flavor::Torque) {
    res = fmt::format("-l nodes={}:ppn={}{}", select, ncpus, gpus.empty() ? "" : ":gpus=" + gpus);
    if (!mem.empty()) s.directives.insert(s.directives.begin(), "-l mem=" + mem);
  } else {
    res = fmt::format("-l select={}:ncpus={}{}{}", select, ncpus, mem.empty() ? "" : ":mem=" + mem,
                      gpus.empty() ? "" : ":ngpus=" + gpus);
  }
  s.directives.insert(s.directives.begin(), res);
  (void)resources;
  return s;
}

size_t PbsDialect::max_array_size(bool ask) const {
  if (max_array_) return max_array_;
  if (ask && flavor() == Flavor::Slurm) {  // Slurm underneath: its own limit
    auto r = run::capture({"scontrol", "show", "config"}, 60);
    if (r && r->code == 0) return parse_max_array_size(r->out);
  }
  return 10000;  // PBS Pro's default max_array_size
}

std::string PbsDialect::header(const Settings& s, const std::string& job_name, const std::string&,
                               const std::string& workdir) const {
  std::string out = "#!/bin/sh\n";
  out += fmt::format("#PBS -N {}\n", pbs_quote(job_name.substr(0, 230)));
  // The script keeps its own log (below); the scheduler's copies go nowhere.
  out += "#PBS -j oe\n#PBS -o /dev/null\n";
  // PBS runs a job script with the user's login shell (csh, tcsh, fish ...) unless told: the
  // script is sh.
  out += "#PBS -S /bin/sh\n";
  for (const auto& d : s.directives) out += "#PBS " + d + "\n";
  (void)workdir;
  return out;
}

std::string PbsDialect::index_expression() const {
  // PBS Pro, Torque, Slurm's wrappers (which set only SLURM_*); 0 for a plain job.
  return "${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-${SLURM_ARRAY_TASK_ID:-0}}}";
}

bool PbsDialect::index_lists() const { return flavor() != Flavor::Pro; }

std::string PbsDialect::log_path(const std::string&, const std::string& script, const std::string&, size_t index) const {
  return fmt::format("{}.{}.out", script, index);
}

std::vector<std::string> PbsDialect::submit_argv(const std::string& script, const std::string& array,
                                                 const Settings& s, const std::vector<After>& after) const {
  std::vector<std::string> argv{"qsub"};
  const Flavor f = flavor();
  if (!array.empty()) {
    if (f == Flavor::Pro) {
      argv.push_back("-J");
      argv.push_back(array);  // a range: index_lists() is false for PBS Pro
    } else {
      argv.push_back("-t");
      argv.push_back(array + (s.max_parallel > 0 ? fmt::format("%{}", s.max_parallel) : ""));
    }
  }
  std::vector<std::string> ok, any;
  for (const auto& a : after) (a.success ? ok : any).push_back(a.job);
  std::vector<std::string> parts;
  // Torque waits on a whole array with afterokarray/afteranyarray.
  auto add = [&](const char* kind, const std::vector<std::string>& ids) {
    std::vector<std::string> plain, arrays;
    for (const auto& id : ids) (f == Flavor::Torque && id.find("[]") != std::string::npos ? arrays : plain).push_back(id);
    if (!plain.empty()) parts.push_back(fmt::format("{}:{}", kind, fmt::join(plain, ":")));
    if (!arrays.empty()) parts.push_back(fmt::format("{}array:{}", kind, fmt::join(arrays, ":")));
  };
  add("afterok", ok);
  add("afterany", any);
  if (!parts.empty()) {
    argv.push_back("-W");
    argv.push_back(fmt::format("depend={}", fmt::join(parts, ",")));
  }
  argv.push_back(script);
  return argv;
}

std::optional<std::string> PbsDialect::job_id(const run::Captured& r) const {
  std::string id = util::trim(r.out.substr(0, r.out.find('\n')));
  if (id.empty() || id.find_first_of(" \t") != std::string::npos || !std::isdigit(static_cast<unsigned char>(id[0])))
    return std::nullopt;
  return id;
}

std::vector<QueueEntry> parse_qstat_json(const std::string& out) {
  std::vector<QueueEntry> recs;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(out);
  } catch (...) {
    return recs;
  }
  if (!j.is_object() || !j.contains("Jobs") || !j["Jobs"].is_object()) return recs;
  for (const auto& [id, job] : j["Jobs"].items()) {
    if (!job.is_object()) continue;
    QueueEntry e;
    auto [array, index] = split_element(id);
    e.job = array;
    if (index) e.indices = {*index};
    e.state = job.value("job_state", std::string());
    e.comment = job.value("comment", std::string());
    if (job.contains("Exit_status") && job["Exit_status"].is_number_integer()) e.exit_status = job["Exit_status"].get<int>();
    recs.push_back(std::move(e));
  }
  return recs;
}

std::vector<QueueEntry> parse_qstat_text(const std::string& out) {
  std::vector<QueueEntry> recs;
  for (const auto& raw : util::split(out, '\n')) {
    std::string line = util::trim(raw);
    if (util::starts_with(line, "Job Id:")) {
      QueueEntry e;
      auto [array, index] = split_element(util::trim(line.substr(7)));
      e.job = array;
      if (index) e.indices = {*index};
      recs.push_back(std::move(e));
      continue;
    }
    auto eq = line.find(" = ");
    if (recs.empty() || eq == std::string::npos) continue;  // tolerant: anything else is skipped
    std::string key = util::trim(line.substr(0, eq)), value = util::trim(line.substr(eq + 3));
    auto& e = recs.back();
    if (key == "job_state") e.state = value;
    else if (key == "comment") e.comment = value;
    else if (key == "resources_used.walltime") e.walltime_used = options::parse_duration(value);
    else if (key == "Resource_List.walltime") e.walltime_limit = options::parse_duration(value);
    else if (key == "exit_status" || key == "Exit_status") {
      char* end = nullptr;
      long v = std::strtol(value.c_str(), &end, 10);
      if (end != value.c_str()) e.exit_status = static_cast<int>(v);
    }
  }
  return recs;
}

Result<std::vector<QueueEntry>> PbsDialect::query(const std::set<std::string>& jobs) const {
  const Flavor f = flavor();
  // Slurm's wrappers: qstat shows one record per array, without elements or pending reasons;
  // Slurm itself is asked (one squeue call), as the Slurm dialect does.
  if (f == Flavor::Slurm) return SlurmDialect().query(jobs);
  std::vector<std::string> argv{"qstat"};
  if (f == Flavor::Pro) argv.insert(argv.end(), {"-x", "-f", "-F", "json", "-t"});
  else if (f == Flavor::Torque) argv.insert(argv.end(), {"-f", "-t"});
  else argv.push_back("-f");
  argv.insert(argv.end(), jobs.begin(), jobs.end());
  auto r = run::capture(argv, 60);
  if (!r) return r.error();
  // Unknown ids (purged jobs) make qstat exit non-zero after printing the others.
  if (r->code != 0 && r->out.empty() && r->err.find("Unknown Job") == std::string::npos &&
      r->err.find("nknown") == std::string::npos)
    return runtime_error(fmt::format("qstat failed: {}", util::trim(r->err)), "the states shown come from the store only");
  if (f == Flavor::Pro) {
    // Output that cannot be read is not "no jobs": every queued task would be taken as gone.
    if (!util::trim(r->out).empty()) {
      try {
        auto j = nlohmann::json::parse(r->out);
        // (No "Jobs" beside the server's own keys: it knows none of them, e.g. a PBS Pro without
        // job history that forgot them.)
        if (!j.is_object() || (!j.contains("Jobs") && !j.contains("pbs_server")))
          return runtime_error("qstat's JSON has no 'Jobs'", "the states shown come from the store only");
      } catch (const std::exception& e) {
        return runtime_error(fmt::format("qstat's JSON cannot be read: {}", e.what()),
                             "the states shown come from the store only");
      }
    }
    return parse_qstat_json(r->out);
  }
  return parse_qstat_text(r->out);
}

store::SchedulerView PbsDialect::classify(const QueueEntry& e) const {
  if (flavor() == Flavor::Slurm) return SlurmDialect().classify(e);
  store::SchedulerView v;
  v.state = e.state;
  v.reason = e.comment;
  const std::string& s = e.state;
  if (s == "Q" || s == "H" || s == "W" || s == "T" || s == "S" || s == "U") v.phase = Phase::Queued;
  else if (s == "R" || s == "E" || s == "B") v.phase = Phase::Running;
  else {
    v.phase = Phase::Ended;
    std::string c = e.comment;
    std::transform(c.begin(), c.end(), c.begin(), ::tolower);
    if (c.find("dependency") != std::string::npos) v.phase = Phase::NeverRuns;
    else if (e.exit_status && (*e.exit_status == -29 || *e.exit_status == -11)) v.ended_as = store::SchedulerView::EndedAs::Timeout;
    // 256 + SIGTERM/SIGKILL is a qdel, or a walltime kill at some sites: TIMEOUT only with the
    // evidence of the walltime it used reaching its limit.
    else if (e.exit_status && (*e.exit_status == 256 + 15 || *e.exit_status == 256 + 9) && e.walltime_used &&
             e.walltime_limit && *e.walltime_used >= *e.walltime_limit)
      v.ended_as = store::SchedulerView::EndedAs::Timeout;
    // qdel: the job's shell killed by SIGTERM, then SIGKILL (PBS reports 256 + the signal).
    else if ((e.exit_status && (*e.exit_status == 256 + 15 || *e.exit_status == 256 + 9)) ||
             c.find("deleted") != std::string::npos || c.find("qdel") != std::string::npos)
      v.ended_as = store::SchedulerView::EndedAs::Cancelled;
    // Ended with no exit status at all: it never ran (PBS gives one to every job that did, even
    // one that could not start); deleted while it waited (Torque's qdel of a queued element).
    else if (!e.exit_status && c.empty())
      v.ended_as = store::SchedulerView::EndedAs::Cancelled;
  }
  return v;
}

std::vector<std::string> PbsDialect::cancel_argv(const std::vector<std::string>& targets) const {
  // Slurm's qdel reads `123_4` as job 123 and would cancel the whole array: scancel it is.
  if (flavor() == Flavor::Slurm) return SlurmDialect().cancel_argv(targets);
  std::vector<std::string> argv{"qdel"};
  argv.insert(argv.end(), targets.begin(), targets.end());
  return argv;
}

bool PbsDialect::cancel_error_is_benign(const std::string& err) const {
  if (flavor() == Flavor::Slurm && SlurmDialect().cancel_error_is_benign(err)) return true;
  for (const char* s : {"Unknown Job", "has finished", "finished", "Request invalid for state", "already"})
    if (err.find(s) != std::string::npos) return true;
  return false;
}

std::string PbsDialect::element(const std::string& job, size_t index) const {
  auto at = job.find("[]");
  if (at != std::string::npos) return job.substr(0, at) + fmt::format("[{}]", index) + job.substr(at + 2);
  if (flavor() == Flavor::Slurm) return fmt::format("{}_{}", job, index);
  return job;  // a plain job
}

}  // namespace xrun::backend::batch
