// How experiments and tasks are shown: the end-of-run summary, `xrun status` (table and JSON),
// and summary.json (a cache of counts for `xrun list`).
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xrun/plan/plan.hpp"
#include "xrun/store/store.hpp"

namespace xrun::run {

using json = nlohmann::ordered_json;

// A SKIPPED task whose output already exists (--skip-existing) counts as done, and so does one
// an early stop left out (its stage succeeded).
constexpr const char* kCreatesExists = "output exists:";
constexpr const char* kEarlyStop = "early stop:";
// The end of the reason of a per-task child whose parent an early stop left out: SKIPPED, and,
// like its parent, satisfied (the stage stopped on purpose).
constexpr const char* kParentLeftOut = "was left out by early stopping";
// The last complete JSON object line of a task's metrics.jsonl, or null.
json task_metrics(const store::Experiment& exp, size_t task);
json last_metrics(int tasks_fd, size_t task);
// The reason of the tasks an early stop leaves out, or "" when no finished task of the stage
// meets its early_stopping conditions (`done`: the stage's finished, succeeded tasks).
std::string early_stop_reason(const store::Experiment& exp, const plan::Stage& stage, const std::vector<size_t>& done);
bool is_satisfied_skip(const std::string& reason);
bool satisfied(const store::TaskStatus& t);
// Why a task that waits for `t` per task cannot run: "did not succeed", "was left out by early
// stopping" (it never ran: its output is missing), or "" when it may run (and while `t` is not final).
std::string parent_unusable(const store::TaskStatus& t);

// `scheduler:` merged with the backend's own section, from meta.json's options.
json merged_options(const json& meta, const std::string& backend);
// The options of one stage: the file's sections with the stage's own over them, merged for `backend`.
json stage_options(const json& meta, const plan::Plan& p, size_t stage, const std::string& backend);

// Counts per state, of every task or of one stage's.
json counts_json(const std::vector<store::TaskStatus>& tasks, std::optional<size_t> stage = std::nullopt);
// running | succeeded | failed | cancelled | incomplete
std::string experiment_state(const std::vector<store::TaskStatus>& tasks, bool runner_alive);

void write_summary(const store::Experiment& exp, const plan::Plan& p, const std::vector<store::TaskStatus>& tasks);
void print_summary(std::ostream& os, const store::Experiment& exp, const plan::Plan& p,
                   const std::vector<store::TaskStatus>& tasks, double elapsed);

// The full status document, as one line of JSON (tasks streamed).
// Which tasks to list (--state, --where: ops::selector); empty: all. Counts always cover every task.
using TaskFilter = std::function<bool(const store::TaskStatus&)>;
void write_status_json(std::ostream& os, const store::Experiment& exp, const json& meta, const plan::Plan& p,
                       const std::vector<store::TaskStatus>& tasks, const TaskFilter& keep = {});
void print_status(std::ostream& os, const store::Experiment& exp, const json& meta, const plan::Plan& p,
                  const std::vector<store::TaskStatus>& tasks, bool all, const TaskFilter& keep = {});

// The last `n` lines of a file (reads only its end).
std::string tail_lines(const std::string& base, const std::string& path, size_t n);
// The last `n` lines of `text`, as tail_lines gives them (no final newline).
std::string last_lines(std::string text, size_t n);

}  // namespace xrun::run
