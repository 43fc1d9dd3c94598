#include "xrun/run/report.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/ostream.h>

#include "xrun/plan/task_writer.hpp"
#include "xrun/run/task_key.hpp"
#include "xrun/spec/options.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/json_writer.hpp"
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
  util::Fd dir = util::open_under(exp.dir(), exp.dir() + "/tasks", O_RDONLY | O_DIRECTORY);
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
    if (store::is_failure(t.state) || (t.state == State::Skipped && !satisfied(t)))
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

std::string tail_lines(const std::string& base, const std::string& path, size_t n) {
  util::Fd fd = util::open_under(base, path, O_RDONLY | O_NONBLOCK);
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
  return last_lines(std::move(data), n);
}

std::string last_lines(std::string data, size_t n) {
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
  if (t.signal && (t.state == State::Failed || t.state == State::Cancelled || t.state == State::Timeout ||
                   t.state == State::OutOfMemory))
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
    if (store::is_failure(t.state)) bad.push_back(&t);
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
    std::string last = tail_lines(exp.dir(), err, 5);
    for (const auto& line : util::split(last, '\n'))
      if (!last.empty()) fmt::print(os, "    | {}\n", line);
  }
  fmt::print(os, "see a log: xrun logs {} {} --stderr; rerun what did not succeed: xrun resume {}\n", exp.id(),
             bad.front()->id, exp.id());
}

void write_status_json(std::ostream& os, const store::Experiment& exp, const json& meta, const plan::Plan& p,
                       const std::vector<TaskStatus>& tasks, const TaskFilter& keep) {
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
  if (!p.retired.empty()) {  // listed, counted nowhere
    json retired = json::array();
    for (const auto& r : p.retired) {
      json vars = json::object();
      for (const auto& [name, v] : r.task.variables) vars[name] = v.to_json();
      retired.push_back(json{{"id", r.task.id}, {"stage", r.stage}, {"key", r.key}, {"commands", r.task.commands},
                             {"variables", vars}, {"dir", exp.task_dir(r.task.id)}});
    }
    head["retired"] = retired;
  }
  std::string text = head.dump();
  text.pop_back();  // the closing brace: the task list is streamed after it
  os << text << ", \"tasks\": [";
  // Each task object written directly, its keys as fixed text and each value by util::JsonWriter
  // (nlohmann's serializer for what needs escaping and for reals): the same bytes as nlohmann's
  // compact dump of the object, O(tasks) with small constants.
  util::JsonWriter w(os);
  const std::string tasks_dir = exp.dir() + "/tasks/";
  // The folder's part of every log path, escaped once (when it is valid UTF-8 on its own, its
  // escaping is the start of every path's; else each path is escaped whole, as nlohmann would).
  std::optional<std::string> dir_text;
  if (util::JsonWriter::plain(tasks_dir)) dir_text = tasks_dir;
  else
    try {
      std::string q = json(tasks_dir).dump();
      dir_text = q.substr(1, q.size() - 2);
    } catch (const json::exception&) {
    }
  util::Fd tasks_fd = util::open_under(exp.dir(), exp.dir() + "/tasks", O_RDONLY | O_DIRECTORY);
  const auto index = exp.index();
  std::vector<std::string> stage_text(p.stages.size());  // `,"stage":"name","index":`
  for (size_t s = 0; s < p.stages.size(); ++s) stage_text[s] = ",\"stage\":" + json(p.stages[s].name).dump() + ",\"index\":";
  // `"name":` of each variable, as the last task had them (tasks of a stage share them).
  std::vector<std::pair<const std::string*, std::string>> var_keys;
  // Each stage's part of its tasks' content keys; a task's own part is its commands and its
  // variables' text as just written (the buffer is not flushed within a task).
  std::vector<plan::KeyContext> key_ctx;
  key_ctx.reserve(p.stages.size());
  for (size_t s = 0; s < p.stages.size(); ++s) key_ctx.emplace_back(key_stage(meta, p, s));
  std::vector<std::pair<size_t, size_t>> value_at;
  std::vector<std::pair<std::string_view, std::string_view>> key_vars;
  auto opt_string = [&](const char* key, const std::string& v) {
    w.raw(key);
    if (v.empty()) w.raw("null");
    else w.string(v);
  };
  auto opt_int = [&](const char* key, bool has, int64_t v) {
    w.raw(key);
    if (has) w.integer(v);
    else w.raw("null");
  };
  auto opt_real = [&](const char* key, bool has, double v) {
    w.raw(key);
    if (has) w.value(json(v));
    else w.raw("null");
  };
  auto log_path = [&](size_t id, const char* name) {
    if (dir_text) {
      w.raw('"');
      w.raw(*dir_text);
      w.unsigned_integer(id);
      w.raw(name);
      w.raw('"');
    } else {
      w.string(tasks_dir + std::to_string(id) + name);
    }
  };
  // The experiments reused tasks came from, looked up once each: whether each still exists, and
  // its tasks/ folder, opened once (a reused experiment may have 100,000 tasks from one source).
  struct Source {
    std::optional<store::Experiment> exp;
    std::shared_ptr<util::Fd> tasks;
  };
  std::map<std::string, Source> sources;
  auto source = [&](const std::string& id) -> const Source& {
    auto it = sources.find(id);
    if (it != sources.end()) return it->second;
    Source s;
    s.exp = exp.sibling(id);
    if (s.exp)
      s.tasks = std::make_shared<util::Fd>(util::open_under(s.exp->dir(), s.exp->dir() + "/tasks", O_RDONLY | O_DIRECTORY));
    return sources.emplace(id, std::move(s)).first->second;
  };
  bool first = true;
  for (const auto& st : tasks) {
    if (keep && !keep(st)) continue;
    const auto& task = p.stages[st.stage].tasks[st.index];
    w.raw(first ? "{\"id\":" : ", {\"id\":");
    first = false;
    w.unsigned_integer(st.id);
    w.raw(stage_text[st.stage]);
    w.unsigned_integer(st.index);
    w.raw(",\"state\":\"");
    w.raw(store::to_string(st.state));
    w.raw('"');
    // A task reused from another experiment: its logs and metrics are that task's (gone with it).
    std::optional<store::ReuseSource> src;
    const Source* from_src = nullptr;
    if (st.state == State::Succeeded && (src = store::parse_reused_reason(st.reason))) from_src = &source(src->exp);
    const std::optional<store::Experiment> from = from_src ? from_src->exp : std::nullopt;
    opt_string(",\"reason\":", src && !from ? st.reason + " " + store::kSourceRemoved : st.reason);
    opt_int(",\"exit_code\":", st.exit_code.has_value(), st.exit_code.value_or(0));
    opt_int(",\"signal\":", st.signal.has_value(), st.signal.value_or(0));
    w.raw(",\"attempt\":");
    w.integer(st.attempt);
    opt_string(",\"host\":", st.host);
    opt_int(",\"pid\":", st.pid > 0, st.pid);
    opt_real(",\"start\":", st.start > 0, st.start);
    opt_real(",\"end\":", st.end > 0, st.end);
    double dur = duration(st);
    opt_real(",\"duration\":", dur >= 0, dur);
    opt_string(",\"scheduler\":", st.backend_state);
    w.raw(",\"variables\":{");
    size_t v = 0;
    value_at.clear();
    for (const auto& [name, value] : task.variables) {
      if (v) w.raw(',');
      if (v == var_keys.size()) var_keys.emplace_back();
      auto& [known, key] = var_keys[v++];
      if (!known || *known != name) {
        key = json(name).dump() + ":";
        known = &name;
      }
      w.raw(key);
      size_t at = w.buffered().size();
      plan::write_value(w, value);
      value_at.emplace_back(at, w.buffered().size());
    }
    w.raw("},\"commands\":[");
    for (size_t c = 0; c < task.commands.size(); ++c) {
      if (c) w.raw(',');
      w.string(task.commands[c]);
    }
    {
      const std::string_view buf = w.buffered();
      key_vars.clear();
      for (size_t i = 0; i < task.variables.size(); ++i)
        key_vars.emplace_back(task.variables[i].first,
                              buf.substr(value_at[i].first, value_at[i].second - value_at[i].first));
      char key[plan::KeyContext::kSize];
      key_ctx[st.stage].key(task.commands, key_vars, key);
      w.raw("],\"key\":\"");
      w.raw(std::string_view(key, sizeof key));
      w.raw('"');
    }
    if (src) {
      w.raw(",\"stdout\":");
      opt_string("", from ? from->task_dir(src->task) + "/stdout" : "");
      w.raw(",\"stderr\":");
      opt_string("", from ? from->task_dir(src->task) + "/stderr" : "");
    } else {
      w.raw(",\"stdout\":");
      log_path(st.id, "/stdout");
      w.raw(",\"stderr\":");
      log_path(st.id, "/stderr");
    }
    w.raw(",\"metrics\":");
    // A folded task without a metrics file is not looked up.
    json m = src    ? (from ? last_metrics(from_src->tasks->valid() ? from_src->tasks->get() : -1, src->task) : json())
             : index->may_have_metrics(st.id) ? last_metrics(tasks_fd.get(), st.id)
                                              : json();
    if (m.is_null()) w.raw("null");
    else w.value(m);
    w.raw('}');
    w.maybe_flush();
  }
  w.flush();
  os << "]}\n";
}

void print_status(std::ostream& os, const store::Experiment& exp, const json& meta, const plan::Plan& p,
                  const std::vector<TaskStatus>& tasks, bool all, const TaskFilter& keep) {
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
  if (!p.retired.empty()) {  // listed, counted nowhere
    std::vector<std::string> ids;
    for (const auto& r : p.retired) ids.push_back(std::to_string(r.task.id));
    if (ids.size() > 20) ids.resize(20), ids.push_back("...");
    fmt::print(os, "  retired: {} task{} whose work left the file (kept in the store, never run): {}\n",
               p.retired.size(), p.retired.size() == 1 ? "" : "s", fmt::join(ids, " "));
  }
  bool filter = !all && !keep && tasks.size() > 50;
  fmt::print(os, "\n  {:>5}  {:<{}}  {:<9}  {:>9}  {:>3}  {:>8}  {}\n", "ID", "TASK", name_w + 6, "STATE", "EXIT", "TRY",
             "TIME", "VARIABLES / REASON");
  size_t hidden = 0;
  for (const auto& t : tasks) {
    if (keep && !keep(t)) continue;
    if (filter && t.state == State::Succeeded) {
      ++hidden;
      continue;
    }
    const auto& task = p.stages[t.stage].tasks[t.index];
    std::string extra = vars_text(task);
    if (!t.reason.empty()) {
      const auto src = t.state == State::Succeeded ? store::parse_reused_reason(t.reason) : std::nullopt;
      const bool gone = src && !exp.sibling(src->exp);  // a reused task whose source was removed
      extra += (extra.empty() ? "" : "  ") + std::string("[") + t.reason +
               (gone ? std::string(" ") + store::kSourceRemoved : "") + "]";
    }
    if (!t.backend_state.empty()) extra += (extra.empty() ? "" : "  ") + std::string("<") + t.backend_state + ">";
    double d = duration(t);
    fmt::print(os, "  {:>5}  {:<{}}  {:<9}  {:>9}  {:>3}  {:>8}  {}\n", t.id,
               fmt::format("{}/{}", p.stages[t.stage].name, t.index), name_w + 6, store::to_string(t.state),
               outcome(t), t.attempt > 0 ? std::to_string(t.attempt) : "-", d >= 0 ? util::human_duration(d) : "-", extra);
  }
  if (hidden) fmt::print(os, "  ({} SUCCEEDED tasks not shown; --all shows every task)\n", hidden);
}

}  // namespace xrun::run
