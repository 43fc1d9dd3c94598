#include "xrun/plan/plan.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>

#include "xrun/spec/value.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace xrun::plan {

namespace {

Value value_from_json(const json& j) {
  if (j.is_boolean()) return Value::boolean(j.get<bool>());
  if (j.is_number_integer()) return Value::integer(j.get<int64_t>());
  if (j.is_number_float()) return Value::floating(j.get<double>());
  if (j.is_string()) return Value::string(j.get<std::string>());
  if (j.is_array()) {
    std::vector<Value> items;
    for (const auto& x : j) items.push_back(value_from_json(x));
    return Value::list(std::move(items));
  }
  return Value::null();
}

}  // namespace

std::vector<After> default_after(size_t stage) {
  if (stage == 0) return {};
  return {After{stage - 1, false}};
}

json Task::to_json() const {
  json vars = json::object();
  for (const auto& [k, v] : variables) vars[k] = v.to_json();
  json out{{"id", id},
           {"index", index},
           {"commands", commands},
           {"variables", vars},
           {"creates", creates ? json(*creates) : json(nullptr)},
           {"requires", requires_ ? json(*requires_) : json(nullptr)}};
  if (!workdir.empty()) out["workdir"] = workdir;
  return out;
}

size_t Plan::task_count() const {
  size_t n = 0;
  for (const auto& s : stages) n += s.tasks.size();
  return n;
}

std::optional<Plan::Where> Plan::find(size_t id) const {
  if (id < where_.size()) {
    const Where& w = where_[id];
    if (w.stage < stages.size() && w.index < stages[w.stage].tasks.size() && stages[w.stage].tasks[w.index].id == id)
      return w;
  }
  size_t slot = 0;  // not indexed (or changed since): scanned
  for (size_t s = 0; s < stages.size(); ++s)
    for (size_t i = 0; i < stages[s].tasks.size(); ++i, ++slot)
      if (stages[s].tasks[i].id == id) return Where{s, i, slot};
  return std::nullopt;
}

size_t Plan::id_end() const {
  size_t end = 0;
  for (const auto& s : stages)
    for (const auto& t : s.tasks) end = std::max(end, t.id + 1);
  for (const auto& r : retired) end = std::max(end, r.task.id + 1);
  return end;
}

Result<void> Plan::index_ids() {
  const size_t end = id_end(), count = task_count() + retired.size();
  if (end > 4 * count + 1024)  // (ids far beyond the tasks: a damaged plan, or a lookup table too large)
    return make_error(fmt::format("it numbers its {} tasks up to {}", count, end - 1));
  std::vector<Where> where(end, Where{SIZE_MAX, 0, SIZE_MAX});
  size_t slot = 0;
  for (size_t s = 0; s < stages.size(); ++s)
    for (size_t i = 0; i < stages[s].tasks.size(); ++i, ++slot) {
      const size_t id = stages[s].tasks[i].id;
      if (where[id].slot != SIZE_MAX) return make_error(fmt::format("it numbers two tasks {}", id));
      where[id] = Where{s, i, slot};
    }
  for (const auto& r : retired) {  // (not found by find(): their slot stays SIZE_MAX, their stage is past the end)
    if (where[r.task.id].slot != SIZE_MAX || where[r.task.id].stage != SIZE_MAX)
      return make_error(fmt::format("it numbers two tasks {}", r.task.id));
    where[r.task.id].stage = stages.size();
  }
  where_ = std::move(where);
  return {};
}

bool EarlyStop::met_by(const json& metrics) const {
  if (!metrics.is_object() || !metrics.contains(metric) || !metrics[metric].is_number()) return false;
  double v = metrics[metric].get<double>();
  return maximize ? v >= value : v <= value;
}

std::string EarlyStop::describe() const {
  return fmt::format("{} {} {}", metric, maximize ? ">=" : "<=", spec::py_float_repr(value));
}

json early_stopping_json(const std::vector<EarlyStop>& rules) {
  json out = json::array();
  for (const auto& r : rules)
    out.push_back(json{{"metric", r.metric}, {"value", r.value}, {"optimization", r.maximize ? "maximize" : "minimize"}});
  return out;
}

json Plan::to_json() const {
  json stages_j = json::array();
  for (const auto& s : stages) {
    json tasks = json::array();
    for (const auto& t : s.tasks) tasks.push_back(t.to_json());
    json st{{"name", s.name}, {"on_failure", spec::to_string(s.on_failure)}};
    if (!s.early_stopping.empty()) st["early_stopping"] = early_stopping_json(s.early_stopping);
    size_t k = static_cast<size_t>(&s - stages.data());
    if (s.after != default_after(k)) {  // written when the file says otherwise
      json after = json::array();
      for (const auto& a : s.after) after.push_back(json{{"stage", a.stage}, {"per_task", a.per_task}});
      st["after"] = after;
    }
    if (!s.options.empty()) st["options"] = s.options;
    if (!s.resources.empty()) {
      json r = json::object();
      for (const auto& [resource, n] : s.resources) r[resource] = n;
      st["resources"] = r;
    }
    st["tasks"] = tasks;
    stages_j.push_back(std::move(st));
  }
  json out{{"name", name}};
  if (!sample_seeds.empty()) {
    json seeds = json::array();
    for (const auto& [line, seed] : sample_seeds) seeds.push_back(json{{"line", line}, {"seed", seed}});
    out["sample_seeds"] = seeds;
  }
  out["stages"] = stages_j;
  if (!retired.empty()) {
    json r = json::array();
    for (const auto& t : retired) {
      json j{{"stage", t.stage}, {"key", t.key}};
      const json task = t.task.to_json();
      for (const auto& [k, v] : task.items()) j[k] = v;
      r.push_back(std::move(j));
    }
    out["retired"] = r;
  }
  return out;
}

namespace {

// One task of plan.json; a task without an id (plan.json has always written them) takes its
// position (`next_id`). Ids are unique (Plan::index_ids checks), not positions.
Task task_from_json(const json& t, size_t& next_id) {
  Task task;
  task.id = t.contains("id") ? t["id"].get<size_t>() : next_id;
  ++next_id;
  task.index = t.at("index").get<size_t>();
  task.commands = t.at("commands").get<std::vector<std::string>>();
  if (t.contains("creates") && t["creates"].is_string()) task.creates = t["creates"].get<std::string>();
  if (t.contains("requires") && t["requires"].is_string()) task.requires_ = t["requires"].get<std::string>();
  if (t.contains("workdir") && t["workdir"].is_string()) task.workdir = t["workdir"].get<std::string>();
  for (const auto& [k, v] : t.at("variables").items()) task.variables.emplace_back(k, value_from_json(v));
  return task;
}

// A stage's own fields (its tasks apart); `index`: its place among the stages.
Stage stage_from_json(const json& s, size_t index) {
  Stage st;
  st.name = s.at("name").get<std::string>();
  st.on_failure = s.at("on_failure").get<std::string>() == "continue" ? spec::OnFailure::Continue : spec::OnFailure::Stop;
  if (s.contains("early_stopping"))
    for (const auto& r : s.at("early_stopping"))
      st.early_stopping.push_back(EarlyStop{r.at("metric").get<std::string>(), r.at("value").get<double>(),
                                            r.at("optimization").get<std::string>() != "minimize"});
  st.after = default_after(index);
  if (s.contains("after")) {
    st.after.clear();
    for (const auto& a : s.at("after")) st.after.push_back(After{a.at("stage").get<size_t>(), a.value("per_task", false)});
  }
  if (s.contains("options") && s["options"].is_object()) st.options = s["options"];
  if (s.contains("resources"))
    for (const auto& [name, n] : s.at("resources").items()) st.resources.emplace_back(name, n.get<int64_t>());
  return st;
}

// Every stage waited for exists.
// Every `after` names a stage, and no stage waits for itself through its dependencies (it would
// never start).
void check_after(const Plan& p) {
  for (const auto& st : p.stages)
    for (const auto& a : st.after)
      if (a.stage >= p.stages.size()) throw std::runtime_error("the stored plan names a stage that does not exist");
  std::vector<int> mark(p.stages.size(), 0);
  std::function<bool(size_t)> cyclic = [&](size_t s) {
    if (mark[s] == 1) return true;
    if (mark[s] == 2) return false;
    mark[s] = 1;
    for (const auto& a : p.stages[s].after)
      if (a.stage == s || cyclic(a.stage)) return true;
    mark[s] = 2;
    return false;
  };
  for (size_t s = 0; s < p.stages.size(); ++s)
    if (cyclic(s))
      throw std::runtime_error(fmt::format("stage '{}' waits for itself through its dependencies", p.stages[s].name));
}

void header_from_json(const json& j, Plan& p) {
  p.name = j.at("name").get<std::string>();
  if (j.contains("retired"))
    for (const auto& r : j.at("retired")) {
      size_t unused = 0;
      p.retired.push_back(RetiredTask{r.at("stage").get<std::string>(), r.at("key").get<std::string>(),
                                      task_from_json(r, unused)});
      if (!r.contains("id")) throw std::runtime_error("a retired task has no id");
    }
  if (j.contains("sample_seeds"))
    for (const auto& s : j.at("sample_seeds")) p.sample_seeds.emplace_back(s.at("line").get<int>(), s.at("seed").get<uint64_t>());
}

Error invalid(const std::exception& e) {
  return make_error(fmt::format("the stored plan is not valid: {}", e.what()),
                    "the run store may have been edited by hand or written by another xrun version");
}

}  // namespace

Result<void> Plan::check_stages() const {
  try {
    check_after(*this);
    return {};
  } catch (const std::exception& e) {
    return invalid(e);
  }
}

Result<Plan> Plan::from_json(const json& j) {
  try {
    Plan p;
    header_from_json(j, p);
    size_t next_id = 0;
    for (const auto& s : j.at("stages")) {
      Stage st = stage_from_json(s, p.stages.size());
      for (const auto& t : s.at("tasks")) st.tasks.push_back(task_from_json(t, next_id));
      p.stages.push_back(std::move(st));
    }
    check_after(p);
    if (auto r = p.index_ids(); !r) throw std::runtime_error(r.error().what);
    return p;
  } catch (const std::exception& e) {
    return invalid(e);
  }
}

namespace {

// plan.json read event by event straight into the Plan: tasks, their commands and variables
// never exist as JSON documents (only a variable's value, a stage's own fields and the plan's
// header are built as small JSON values and converted).
class PlanReader final : public nlohmann::json_sax<json> {
 public:
  Plan plan;
  std::string error;

  bool null() override { return scalar([](Dom& d) { return d.null(); }, nullptr); }
  bool boolean(bool v) override { return scalar([v](Dom& d) { return d.boolean(v); }, v); }
  bool number_integer(number_integer_t v) override { return scalar([v](Dom& d) { return d.number_integer(v); }, v); }
  bool number_unsigned(number_unsigned_t v) override {
    return scalar([v](Dom& d) { return d.number_unsigned(v); }, v);
  }
  bool number_float(number_float_t v, const string_t& s) override {
    return scalar([v, &s](Dom& d) { return d.number_float(v, s); }, v);
  }
  bool string(string_t& v) override {
    if (!dom_ && !frames_.empty() && frames_.back() == F::Commands) {
      task_.commands.push_back(std::move(v));
      return true;
    }
    if (!dom_) return scalar([](Dom&) { return true; }, std::move(v));
    return scalar([&v](Dom& d) { return d.string(v); }, nullptr);
  }
  bool binary(binary_t&) override { throw std::runtime_error("unexpected binary value"); }
  bool key(string_t& k) override {
    if (dom_) return dom_->key(k);
    key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t n) override {
    if (dom_) {
      ++depth_;
      return dom_->start_object(n);
    }
    if (frames_.empty()) return push(F::Root);
    F f = frames_.back();
    if (f == F::Stages) {
      stage_extra_ = json::object();
      stage_tasks_ = false;
      return push(F::Stage);
    }
    if (f == F::Tasks) {
      task_ = Task();
      seen_ = 0;
      return push(F::Task);
    }
    if (f == F::Task && key_ == "variables") {
      seen_ |= kVariables;
      return push(F::Variables);
    }
    begin();
    ++depth_;
    return dom_->start_object(n);
  }
  bool end_object() override {
    if (dom_) {
      bool ok = dom_->end_object();
      if (--depth_ == 0) deliver();
      return ok;
    }
    F f = frames_.back();
    frames_.pop_back();
    if (f == F::Task) end_task();
    else if (f == F::Stage) end_stage();
    else if (f == F::Root) end_root();
    return true;
  }
  bool start_array(std::size_t n) override {
    if (!dom_ && !frames_.empty()) {
      F f = frames_.back();
      if (f == F::Root && key_ == "stages") {
        stages_ = true;
        return push(F::Stages);
      }
      if (f == F::Stage && key_ == "tasks") {
        stage_tasks_ = true;
        return push(F::Tasks);
      }
      if (f == F::Task && key_ == "commands") {
        seen_ |= kCommands;
        return push(F::Commands);
      }
    }
    if (!dom_) begin();
    ++depth_;
    return dom_->start_array(n);
  }
  bool end_array() override {
    if (dom_) {
      bool ok = dom_->end_array();
      if (--depth_ == 0) deliver();
      return ok;
    }
    frames_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = e.what();
    return false;
  }

 private:
  enum class F { Root, Stages, Stage, Tasks, Task, Commands, Variables };
  using Dom = nlohmann::detail::json_sax_dom_parser<json>;
  static constexpr int kIndex = 1, kCommands = 2, kVariables = 4;

  bool push(F f) {
    frames_.push_back(f);
    return true;
  }
  void begin() {
    if (frames_.empty()) throw std::runtime_error("it is not a JSON object");
    value_ = json();
    dom_ = std::make_unique<Dom>(value_, true);
  }
  // A scalar inside a value being built goes to its DOM parser; one on its own (a task's id, a
  // variable's value: most of a plan) is delivered as it is, without a DOM parser.
  template <typename Fn>
  bool scalar(Fn fwd, json&& alone) {
    if (!dom_) {
      if (frames_.empty()) throw std::runtime_error("it is not a JSON object");
      value_ = std::move(alone);
      deliver();
      return true;
    }
    bool ok = fwd(*dom_);
    if (depth_ == 0) deliver();
    return ok;
  }
  // A whole value read as JSON: where it belongs depends on where it was found.
  void deliver() {
    dom_.reset();
    switch (frames_.back()) {
      case F::Root: root_extra_[key_] = std::move(value_); break;
      case F::Stage: stage_extra_[key_] = std::move(value_); break;
      case F::Variables: task_.variables.emplace_back(key_, value_from_json(value_)); break;
      case F::Task:
        if (key_ == "id") {
          task_.id = value_.get<size_t>();
          has_id_ = true;
        } else if (key_ == "index") {
          task_.index = value_.get<size_t>();
          seen_ |= kIndex;
        } else if (key_ == "creates" && value_.is_string()) {
          task_.creates = value_.get<std::string>();
        } else if (key_ == "requires" && value_.is_string()) {
          task_.requires_ = value_.get<std::string>();
        } else if (key_ == "workdir" && value_.is_string()) {
          task_.workdir = value_.get<std::string>();
        } else if (key_ == "commands" || key_ == "variables") {
          throw std::runtime_error(fmt::format("a task's {} has the wrong type", key_));
        }
        break;
      case F::Stages: throw std::runtime_error("a stage is not an object");
      case F::Tasks: throw std::runtime_error("a task is not an object");
      case F::Commands: throw std::runtime_error("a task's command is not a string");
    }
  }
  void end_task() {
    // Ids are explicit in plan.json (unique, checked by Plan::index_ids; not positions).
    if (!has_id_) task_.id = next_id_;
    has_id_ = false;
    if (seen_ != (kIndex | kCommands | kVariables)) throw std::runtime_error("a task lacks its index, commands or variables");
    ++next_id_;
    tasks_.push_back(std::move(task_));
  }
  void end_stage() {
    if (!stage_tasks_) throw std::runtime_error("a stage has no task list");
    Stage st = stage_from_json(stage_extra_, plan.stages.size());
    st.tasks = std::move(tasks_);
    tasks_.clear();
    plan.stages.push_back(std::move(st));
  }
  void end_root() {
    if (!root_extra_.contains("name")) throw std::runtime_error("the plan has no name");
    if (!stages_) throw std::runtime_error("the plan has no list of stages");
    header_from_json(root_extra_, plan);
    check_after(plan);
    done_ = true;
  }

 public:
  bool complete() const { return done_; }

 private:
  std::vector<F> frames_;
  std::string key_;
  std::unique_ptr<Dom> dom_;
  json value_;
  int depth_ = 0;
  json root_extra_ = json::object(), stage_extra_ = json::object();
  bool stage_tasks_ = false, has_id_ = false, done_ = false, stages_ = false;
  int seen_ = 0;
  Task task_;
  std::vector<Task> tasks_;
  size_t next_id_ = 0;
};

}  // namespace

Result<Plan> Plan::parse(const std::string& text) {
  // Streamed into the plan (no whole document in memory): a plan of 100,000 tasks is read in a
  // fraction of the time and memory of a full parse.
  PlanReader r;
  try {
    bool ok = json::sax_parse(text, &r);
    if (!ok || !r.complete())
      throw std::runtime_error(r.error.empty() ? "it is not an object with a name and a list of stages" : r.error);
    if (auto ids = r.plan.index_ids(); !ids) throw std::runtime_error(ids.error().what);
    return std::move(r.plan);
  } catch (const std::exception& e) {
    return invalid(e);
  }
}

}  // namespace xrun::plan
