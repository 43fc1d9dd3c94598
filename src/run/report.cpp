#include "xrun/run/report.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "xrun/spec/options.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::run {

using store::State;
using store::TaskStatus;

bool is_satisfied_skip(const std::string& reason) {
  const std::string tail = kParentLeftOut;
  return util::starts_with(reason, kCreatesExists) || util::starts_with(reason, kEarlyStop) ||
         (reason.size() >= tail.size() && reason.compare(reason.size() - tail.size(), tail.size(), tail) == 0);
}

bool satisfied(const TaskStatus& t) {
  return t.state == State::Succeeded || (t.state == State::Skipped && is_satisfied_skip(t.reason));
}

json last_metrics(int tasks_fd, size_t task) {
  if (tasks_fd < 0) return json();
  auto tail = util::try_read_tail_beneath(tasks_fd, std::to_string(task) + "/metrics.jsonl", 64 * 1024);
  if (!tail) return json();
  // The last complete line that is a JSON object (a line being written is skipped).
  auto lines = util::split(*tail, '\n');
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (util::trim(*it).empty()) continue;
    try {
      auto j = json::parse(*it);
      if (j.is_object()) return j;
    } catch (...) {
    }
  }
  return json();
}

json task_metrics(const store::Experiment& exp, size_t task) {
  util::Fd dir(::open((exp.dir() + "/tasks").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return last_metrics(dir.valid() ? dir.get() : -1, task);
}

std::string parent_unusable(const store::TaskStatus& t) {
  if (!store::is_final(t.state)) return "";
  if (t.state == State::Skipped && (util::starts_with(t.reason, kEarlyStop) || is_satisfied_skip(t.reason)) &&
      !util::starts_with(t.reason, kCreatesExists))
    return kParentLeftOut;
  return satisfied(t) ? "" : "did not succeed";
}

std::string early_stop_reason(const store::Experiment& exp, const plan::Stage& stage, const std::vector<size_t>& done) {
  if (stage.early_stopping.empty()) return "";
  for (size_t id : done) {
    json m = task_metrics(exp, id);
    for (const auto& rule : stage.early_stopping)
      if (rule.met_by(m)) return fmt::format("{} task {} reached {}", kEarlyStop, id, rule.describe());
  }
  return "";
}

json merged_options(const json& meta, const std::string& backend) {
  return spec::merge_options(meta.value("options", json::object()), backend);
}

json stage_options(const json& meta, const plan::Plan& p, size_t stage, const std::string& backend) {
  return spec::stage_options(meta.value("options", json::object()),
                             stage < p.stages.size() ? p.stages[stage].options : json::object(), backend);
}

json counts_json(const std::vector<TaskStatus>& tasks, std::optional<size_t> stage) {
  std::map<State, size_t> n;
  for (const auto& t : tasks)
    if (!stage || t.stage == *stage) ++n[t.state];
  json c = json::object();
  for (State s : store::all_states()) c[store::to_string(s)] = n[s];
  return c;
}

std::string experiment_state(const std::vector<TaskStatus>& tasks, bool runner_alive) {
  bool running = runner_alive, pending = false, bad = false, cancelled = false;
  for (const auto& t : tasks) {
    if (t.state == State::Running) running = true;
    if (t.state == State::Pending) {
      pending = true;
      if (!t.backend_state.empty()) running = true;  // queued at a scheduler
    }
    if (t.state == State::Failed || t.state == State::Timeout || t.state == State::Lost ||
        (t.state == State::Skipped && !satisfied(t)))
      bad = true;
    if (t.state == State::Cancelled) cancelled = true;
  }
  if (running) return "running";
  if (pending) return "incomplete";
  if (bad) return "failed";
  if (cancelled) return "cancelled";
  return "succeeded";
}

void write_summary(const store::Experiment& exp, const plan::Plan& p, const std::vector<TaskStatus>& tasks) {
  json j{{"written", util::now_seconds()}, {"tasks", tasks.size()}, {"counts", counts_json(tasks)},
         {"state", experiment_state(tasks, false)}, {"plan", exp.plan_stamp()}};
  (void)p;
  (void)util::atomic_write(exp.path("summary.json"), j.dump(2) + "\n");
}

std::string tail_lines(const std::string& path, size_t n) {
  util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return {};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return {};
  off_t size = st.st_size;
  off_t chunk = 64 * 1024;
  std::string data;
  off_t pos = size;
  while (pos > 0) {
    off_t start = std::max<off_t>(0, pos - chunk);
    std::string buf(static_cast<size_t>(pos - start), '\0');
    ssize_t r = ::pread(fd.get(), buf.data(), buf.size(), start);
    if (r <= 0) break;
    data = buf.substr(0, static_cast<size_t>(r)) + data;
    pos = start;
    if (static_cast<size_t>(std::count(data.begin(), data.end(), '\n')) > n) break;
    if (data.size() > 4 * 1024 * 1024) break;
  }
  if (!data.empty() && data.back() == '\n') data.pop_back();
  size_t cut = data.size(), lines = 0;
  while (cut > 0) {
    size_t nl = data.rfind('\n', cut - 1);
    if (nl == std::string::npos) {
      cut = 0;
      break;
    }
    if (++lines == n) {
      cut = nl + 1;
      break;
    }
    cut = nl;
  }
  return data.substr(cut);
}

namespace {

std::string outcome(const TaskStatus& t) {
  if (t.signal && (t.state == State::Failed || t.state == State::Cancelled || t.state == State::Timeout))
    return fmt::format("sig {}", *t.signal);
  if (t.exit_code && t.end > 0) return std::to_string(*t.exit_code);
  return "";
}

double duration(const TaskStatus& t) {
  if (t.start <= 0) return -1;
  if (t.end > 0) return t.end - t.start;
  if (t.state == State::Running) return util::now_seconds() - t.start;
  return -1;
}

std::string vars_text(const plan::Task& task) {
  std::string s;
  for (const auto& [k, v] : task.variables) {
    if (!s.empty()) s += ' ';
    s += k + "=" + v.str();
  }
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

void print_summary(std::ostream& os, const store::Experiment& exp, const plan::Plan& p,
                   const std::vector<TaskStatus>& tasks, double elapsed) {
  std::map<State, size_t> n;
  for (const auto& t : tasks) ++n[t.state];
  std::vector<std::string> parts;
  for (State s : store::all_states())
    if (n[s]) parts.push_back(fmt::format("{} {}", n[s], store::to_string(s)));
  fmt::print(os, "xrun: experiment {}: {} task{} in {}: {}\n", exp.id(), tasks.size(), tasks.size() == 1 ? "" : "s",
             util::human_duration(elapsed), fmt::join(parts, ", "));
  std::vector<const TaskStatus*> bad;
  for (const auto& t : tasks)
    if (t.state == State::Failed || t.state == State::Timeout || t.state == State::Lost) bad.push_back(&t);
  if (bad.empty()) return;
  fmt::print(os, "failed tasks ({}):\n", bad.size());
  size_t shown = 0;
  for (const auto* t : bad) {
    if (++shown > 10) {
      fmt::print(os, "  ... and {} more (xrun status {})\n", bad.size() - 10, exp.id());
      break;
    }
    const auto& st = p.stages[t->stage];
    std::string err = exp.task_dir(t->id) + "/stderr";
    fmt::print(os, "  task {} ({}/{}) {}{}: {}\n", t->id, st.name, t->index, store::to_string(t->state),
               t->reason.empty() ? "" : " (" + t->reason + ")", vars_text(st.tasks[t->index]));
    fmt::print(os, "    log: {}\n", err);
    std::string last = tail_lines(err, 5);
    for (const auto& line : util::split(last, '\n'))
      if (!last.empty()) fmt::print(os, "    | {}\n", line);
  }
  fmt::print(os, "see a log: xrun logs {} {} --stderr; rerun what did not succeed: xrun resume {}\n", exp.id(),
             bad.front()->id, exp.id());
}

void write_status_json(std::ostream& os, const store::Experiment& exp, const json& meta, const plan::Plan& p,
                       const std::vector<TaskStatus>& tasks, const std::set<State>& only) {
  auto runner = exp.runner().value_or(json::object());
  bool alive = exp.runner_alive();
  runner["alive"] = alive;
  json stages = json::array();
  for (size_t s = 0; s < p.stages.size(); ++s)
    stages.push_back(json{{"name", p.stages[s].name},
                          {"on_failure", spec::to_string(p.stages[s].on_failure)},
                          {"tasks", p.stages[s].tasks.size()},
                          {"counts", counts_json(tasks, s)}});
  json head{{"id", exp.id()},
            {"name", meta.value("name", p.name)},
            {"file", meta.value("file", "")},
            {"workdir", meta.value("workdir", "")},
            {"backend", meta.value("backend", "local")},
            {"created", meta.value("created", 0.0)},
            {"dir", exp.dir()},
            {"state", experiment_state(tasks, alive)},
            {"runner", runner},
            {"counts", counts_json(tasks)},
            {"stages", stages}};
  std::string text = head.dump();
  text.pop_back();  // the closing brace: the task list is streamed after it
  os << text << ", \"tasks\": [";
  // One task object per stage updated in place (same keys within a stage), serialised by
  // nlohmann into a buffer written in blocks: O(tasks) with small constants.
  std::string buf;
  nlohmann::detail::serializer<json> ser(nlohmann::detail::output_adapter<char>(buf), ' ');
  json t;
  size_t last_stage = SIZE_MAX;
  const std::string tasks_dir = exp.dir() + "/tasks/";
  util::Fd tasks_fd(::open(tasks_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const auto index = exp.index();
  auto opt = [](bool has, const auto& v) { return has ? json(v) : json(nullptr); };
  bool first = true;
  // The fields of `t`, looked up once per stage (its keys stay the same within a stage).
  struct Fields {
    json *id, *index, *state, *reason, *exit_code, *signal, *attempt, *host, *pid, *start, *end, *duration, *scheduler,
        *metrics, *variables, *commands, *out, *err;
  } fl{};
  std::vector<json*> var_slots;
  std::vector<const std::string*> var_names;
  std::string path;
  for (size_t k = 0; k < tasks.size(); ++k) {
    const auto& st = tasks[k];
    if (!only.empty() && !only.count(st.state)) continue;
    const auto& task = p.stages[st.stage].tasks[st.index];
    if (st.stage != last_stage) {
      json vars = json::object();
      for (const auto& [name, v] : task.variables) vars[name] = nullptr;
      t = json{{"id", 0},       {"stage", p.stages[st.stage].name},
               {"index", 0},    {"state", ""},
               {"reason", nullptr}, {"exit_code", nullptr},
               {"signal", nullptr}, {"attempt", 0},
               {"host", nullptr},   {"pid", nullptr},
               {"start", nullptr},  {"end", nullptr},
               {"duration", nullptr}, {"scheduler", nullptr},
               {"variables", vars}, {"commands", task.commands},
               {"stdout", ""},      {"stderr", ""},
               {"metrics", nullptr}};
      fl = {&t["id"],    &t["index"], &t["state"], &t["reason"],    &t["exit_code"], &t["signal"],
            &t["attempt"], &t["host"], &t["pid"],  &t["start"],     &t["end"],       &t["duration"],
            &t["scheduler"], &t["metrics"], &t["variables"], &t["commands"], &t["stdout"], &t["stderr"]};
      var_slots.clear();
      var_names.clear();
      for (const auto& [name, v] : task.variables) {
        var_slots.push_back(&(*fl.variables)[name]);
        var_names.push_back(&name);
      }
      last_stage = st.stage;
    }
    double dur = duration(st);
    *fl.id = st.id;
    *fl.index = st.index;
    *fl.state = store::to_string(st.state);
    *fl.reason = opt(!st.reason.empty(), st.reason);
    *fl.exit_code = opt(st.exit_code.has_value(), st.exit_code.value_or(0));
    *fl.signal = opt(st.signal.has_value(), st.signal.value_or(0));
    *fl.attempt = st.attempt;
    *fl.host = opt(!st.host.empty(), st.host);
    *fl.pid = opt(st.pid > 0, st.pid);
    *fl.start = opt(st.start > 0, st.start);
    *fl.end = opt(st.end > 0, st.end);
    *fl.duration = opt(dur >= 0, dur);
    *fl.scheduler = opt(!st.backend_state.empty(), st.backend_state);
    // A folded task without a metrics file is not looked up.
    *fl.metrics = index->may_have_metrics(st.id) ? last_metrics(tasks_fd.get(), st.id) : json();
    // Tasks of a stage have the same variables (in the same order); one that differs is rebuilt.
    bool same = task.variables.size() == var_slots.size();
    for (size_t v = 0; same && v < var_names.size(); ++v) same = task.variables[v].first == *var_names[v];
    if (same) {
      size_t v = 0;
      for (const auto& [name, value] : task.variables) *var_slots[v++] = value.to_json();
    } else {
      json vars = json::object();
      for (const auto& [name, value] : task.variables) vars[name] = value.to_json();
      *fl.variables = std::move(vars);
      last_stage = SIZE_MAX;  // the slots are rebuilt for the next task
    }
    auto& cmds = *fl.commands;
    if (cmds.size() != task.commands.size()) cmds = task.commands;
    else
      for (size_t c = 0; c < task.commands.size(); ++c) cmds[c].get_ref<std::string&>() = task.commands[c];
    path.assign(tasks_dir).append(std::to_string(st.id));
    fl.out->get_ref<std::string&>().assign(path).append("/stdout");
    fl.err->get_ref<std::string&>().assign(path).append("/stderr");
    if (!first) buf += ", ";
    first = false;
    ser.dump(t, false, false, 0);
    if (buf.size() > (1 << 20)) {
      os.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
  }
  os.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  os << "]}\n";
}

void print_status(std::ostream& os, const store::Experiment& exp, const json& meta, const plan::Plan& p,
                  const std::vector<TaskStatus>& tasks, bool all, const std::set<State>& only) {
  bool alive = exp.runner_alive();
  auto runner = exp.runner();
  fmt::print(os, "experiment {}  ({})\n", exp.id(), meta.value("name", p.name));
  fmt::print(os, "  state:   {}\n", experiment_state(tasks, alive));
  fmt::print(os, "  backend: {}   file: {}\n", meta.value("backend", "local"), meta.value("file", ""));
  if (runner) {
    std::string rs = runner->value("state", "?");
    // A pool runner (local, docker) that is gone died; a scheduler's submitter ends on purpose.
    const std::string b = meta.value("backend", "local");
    if (rs == "running" && !alive && (b == "local" || b == "docker"))
      rs = "gone (the runner died; `xrun resume` continues)";
    fmt::print(os, "  runner:  {} (pid {} on {})\n", rs, runner->value("pid", 0), runner->value("host", "?"));
  }
  // Counts per stage and state (only the states that occur).
  std::vector<State> cols;
  for (State s : store::all_states())
    if (std::any_of(tasks.begin(), tasks.end(), [&](const TaskStatus& t) { return t.state == s; })) cols.push_back(s);
  size_t name_w = 5;
  for (const auto& s : p.stages) name_w = std::max(name_w, s.name.size());
  std::string head = fmt::format("  {:<{}} {:>6}", "stage", name_w, "tasks");
  for (State s : cols) head += fmt::format(" {:>9}", store::to_string(s));
  fmt::print(os, "\n{}\n", head);
  for (size_t s = 0; s < p.stages.size(); ++s) {
    std::map<State, size_t> n;
    for (const auto& t : tasks)
      if (t.stage == s) ++n[t.state];
    std::string row = fmt::format("  {:<{}} {:>6}", p.stages[s].name, name_w, p.stages[s].tasks.size());
    for (State c : cols) row += fmt::format(" {:>9}", n[c]);
    fmt::print(os, "{}\n", row);
  }
  bool filter = !all && only.empty() && tasks.size() > 50;
  fmt::print(os, "\n  {:>5}  {:<{}}  {:<9}  {:>9}  {:>3}  {:>8}  {}\n", "ID", "TASK", name_w + 6, "STATE", "EXIT", "TRY",
             "TIME", "VARIABLES / REASON");
  size_t hidden = 0;
  for (const auto& t : tasks) {
    if (!only.empty() && !only.count(t.state)) continue;
    if (filter && t.state == State::Succeeded) {
      ++hidden;
      continue;
    }
    const auto& task = p.stages[t.stage].tasks[t.index];
    std::string extra = vars_text(task);
    if (!t.reason.empty()) extra += (extra.empty() ? "" : "  ") + std::string("[") + t.reason + "]";
    if (!t.backend_state.empty()) extra += (extra.empty() ? "" : "  ") + std::string("<") + t.backend_state + ">";
    double d = duration(t);
    fmt::print(os, "  {:>5}  {:<{}}  {:<9}  {:>9}  {:>3}  {:>8}  {}\n", t.id,
               fmt::format("{}/{}", p.stages[t.stage].name, t.index), name_w + 6, store::to_string(t.state),
               outcome(t), t.attempt > 0 ? std::to_string(t.attempt) : "-", d >= 0 ? util::human_duration(d) : "-", extra);
  }
  if (hidden) fmt::print(os, "  ({} SUCCEEDED tasks not shown; --all shows every task)\n", hidden);
}

}  // namespace xrun::run
