// What a batch scheduler (Slurm, PBS, ...) must say for the batch engine to drive it: how its
// options become script directives, how an array is submitted, chained, queried and cancelled,
// and how its job states map to a task's phase. A new scheduler is one Dialect.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/run/process.hpp"
#include "xrun/store/task_state.hpp"
#include "xrun/util/result.hpp"

namespace xrun::backend::batch {

using json = nlohmann::ordered_json;

// The dialect-neutral settings of a launch.
struct Settings {
  std::vector<std::string> directives;  // script header lines without the prefix, e.g. "--time=1:00:00"
  long max_parallel = 0;                // elements of one array running at once; 0 = no limit
  std::string job_name;                 // "" = <experiment>.<stage>
  double poll = 5;                      // seconds between refreshes with --wait
  std::vector<std::string> notes;       // what xrun changed in the options, said at launch and --dry-run
};

// A job this launch waits for, and whether it must succeed or only end.
struct After {
  std::string job;
  bool success = true;
  // Element for element: index i waits only for index i of `job` to succeed (Slurm's aftercorr).
  bool corresponding = false;
};

// One line of the scheduler's queue listing.
struct QueueEntry {
  std::string job;              // the array's job id
  std::vector<size_t> indices;  // array indices the line covers; empty = every element of the job
  std::string state;            // the scheduler's word
  std::string reason;           // why it waits, when the scheduler says
  std::optional<int> exit_status;  // once ended, when the scheduler reports one
  std::string comment;             // the scheduler's note (PBS: why a job was deleted)
  // The walltime it used and its limit, in seconds, when the scheduler says (PBS's
  // resources_used.walltime and Resource_List.walltime).
  std::optional<double> walltime_used, walltime_limit;
};

class Dialect {
 public:
  virtual ~Dialect() = default;
  virtual std::string name() const = 0;     // the backend's name and its options section, e.g. "slurm"
  virtual std::string display() const = 0;  // in messages, e.g. "Slurm"
  // The client programs it needs (the first is the submit command), and what to do without them.
  virtual std::vector<std::string> programs() const = 0;
  virtual std::string missing_hint() const = 0;

  // Options (`scheduler:` merged with the dialect's own section) -> settings; an error names the key.
  virtual Result<Settings> settings(const json& options) const = 0;
  // Takes the options for what follows (submit, query, cancel): e.g. PBS's flavour.
  virtual void configure(const json& options) { (void)options; }
  // What the dialect learned about the site at submission (e.g. PBS's flavour), kept in the
  // store (backend/<name>/dialect.json) so that later readers need not ask again.
  virtual json identity() const { return json::object(); }
  virtual void restore(const json& identity) { (void)identity; }
  // The largest array index the scheduler accepts + 1 (asks it when it can; `ask` false: the default).
  virtual size_t max_array_size(bool ask) const = 0;

  // The batch script's file suffix, e.g. "sbatch".
  virtual std::string script_suffix() const = 0;
  // The batch script's header (shebang and directive lines) for one array.
  virtual std::string header(const Settings& s, const std::string& job_name, const std::string& log_pattern,
                             const std::string& workdir) const = 0;
  // A shell expression for the element's array index inside the job (0 for a job that is not
  // an array).
  virtual std::string index_expression() const = 0;
  // Whether an array may be submitted as a list of indices (`--array=3,17,42`). Without, a
  // sparse set is submitted as a range over a map of task ids the script reads.
  virtual bool index_lists() const { return true; }
  // Whether an array can wait element for element on another (After::corresponding).
  virtual bool chains_elements() const { return false; }
  // Whether a one-element array must be submitted as a plain job.
  virtual bool single_as_plain_job() const { return false; }
  // The scheduler's log of an element: the pattern for the header (the scheduler writes it), or
  // "" when the script redirects its own output to log_path(...) instead.
  virtual std::string log_pattern(const std::string& logs_dir) const = 0;
  // `script`: the batch script the element ran.
  virtual std::string log_path(const std::string& logs_dir, const std::string& script, const std::string& job,
                               size_t index) const = 0;

  // argv that submits `script` as an array of `indices` (array_spec form; "" = a plain job), after `after`.
  virtual std::vector<std::string> submit_argv(const std::string& script, const std::string& array,
                                               const Settings& s, const std::vector<After>& after) const = 0;
  // The job id in a successful submission's output; nullopt when it cannot be read.
  virtual std::optional<std::string> job_id(const run::Captured& r) const = 0;

  // One call for the whole experiment: the queue entries of these jobs.
  virtual Result<std::vector<QueueEntry>> query(const std::set<std::string>& jobs) const = 0;
  // The phase a queue entry means for the task (and how it ended).
  virtual store::SchedulerView classify(const QueueEntry& e) const = 0;

  // argv that cancels these arrays and elements (elements as element() names them).
  virtual std::vector<std::string> cancel_argv(const std::vector<std::string>& targets) const = 0;
  // Whether a failed cancel only says the jobs had already ended.
  virtual bool cancel_error_is_benign(const std::string& err) const = 0;
  // An element's name, e.g. 123_4 (Slurm) or 123[4] (PBS).
  virtual std::string element(const std::string& job, size_t index) const = 0;
  // The time limit a job gets when the options give none (PBS: experi's `walltime: 1:00`), in
  // seconds; nullopt when the site decides (Slurm's partition default).
  virtual std::optional<double> default_walltime() const { return std::nullopt; }
  // How the scheduler's own log of an element says it ended (Slurm: "*** JOB 123 ON node
  // CANCELLED AT 2026-12-07T10:00:00 DUE TO TIME LIMIT ***"), for a job the scheduler no longer
  // knows; Other when it says nothing. Lines older than `since` (the task's recorded start, 0 =
  // any) are an earlier run's (a requeued job's log is appended to) and do not count.
  virtual store::SchedulerView::EndedAs ended_in_log(const std::string& log_text, double since) const {
    (void)log_text;
    (void)since;
    return store::SchedulerView::EndedAs::Other;
  }
};

// The settings every dialect reads the same way (max_parallel/concurrency, poll_interval):
// true when `key` was one of them (an error when its value is bad), false otherwise.
Result<bool> common_setting(const std::string& key, const json& value, Settings& s);

// "0-4,7,9-10" for sorted, distinct indices.
std::string array_spec(const std::vector<size_t>& sorted);
// "2-5%2", "1,3", "0-6:3" -> indices (any throttle suffix ignored); nullopt when malformed.
std::optional<std::vector<size_t>> parse_array_spec(const std::string& spec);

}  // namespace xrun::backend::batch
