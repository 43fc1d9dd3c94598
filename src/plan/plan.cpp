#include "xrun/plan/plan.hpp"

#include <functional>

#include "xrun/spec/value.hpp"

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
  return json{{"id", id},
              {"index", index},
              {"commands", commands},
              {"variables", vars},
              {"creates", creates ? json(*creates) : json(nullptr)},
              {"requires", requires_ ? json(*requires_) : json(nullptr)}};
}

size_t Plan::task_count() const {
  size_t n = 0;
  for (const auto& s : stages) n += s.tasks.size();
  return n;
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
      for (const auto& [name, n] : s.resources) r[name] = n;
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
  return out;
}

Result<Plan> Plan::from_json(const json& j) {
  try {
    Plan p;
    p.name = j.at("name").get<std::string>();
    if (j.contains("sample_seeds"))
      for (const auto& s : j.at("sample_seeds")) p.sample_seeds.emplace_back(s.at("line").get<int>(), s.at("seed").get<uint64_t>());
    size_t next_id = 0;
    for (const auto& s : j.at("stages")) {
      Stage st;
      st.name = s.at("name").get<std::string>();
      st.on_failure = s.at("on_failure").get<std::string>() == "continue" ? spec::OnFailure::Continue
                                                                          : spec::OnFailure::Stop;
      if (s.contains("early_stopping"))
        for (const auto& r : s.at("early_stopping"))
          st.early_stopping.push_back(EarlyStop{r.at("metric").get<std::string>(), r.at("value").get<double>(),
                                                r.at("optimization").get<std::string>() != "minimize"});
      st.after = default_after(p.stages.size());
      if (s.contains("after")) {
        st.after.clear();
        for (const auto& a : s.at("after")) {
          After x{a.at("stage").get<size_t>(), a.value("per_task", false)};
          if (x.stage >= j.at("stages").size()) return make_error("the stored plan names a stage that does not exist");
          st.after.push_back(x);
        }
      }
      if (s.contains("options") && s["options"].is_object()) st.options = s["options"];
      if (s.contains("resources"))
        for (const auto& [name, n] : s.at("resources").items()) st.resources.emplace_back(name, n.get<int64_t>());
      for (const auto& t : s.at("tasks")) {
        Task task;
        // Ids are explicit in plan.json; they must number the tasks 0..N-1 in order.
        task.id = t.contains("id") ? t["id"].get<size_t>() : next_id;
        if (task.id != next_id)
          return make_error(fmt::format("the stored plan numbers task {} as {}", next_id, task.id),
                            "the run store may have been edited by hand");
        ++next_id;
        task.index = t.at("index").get<size_t>();
        task.commands = t.at("commands").get<std::vector<std::string>>();
        if (t.contains("creates") && t["creates"].is_string()) task.creates = t["creates"].get<std::string>();
        if (t.contains("requires") && t["requires"].is_string()) task.requires_ = t["requires"].get<std::string>();
        for (const auto& [k, v] : t.at("variables").items()) task.variables.emplace_back(k, value_from_json(v));
        st.tasks.push_back(std::move(task));
      }
      p.stages.push_back(std::move(st));
    }
    // Stages that wait for each other in a circle would never start.
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
        return make_error(fmt::format("the stored plan's stage '{}' waits for itself through its dependencies",
                                      p.stages[s].name),
                          "the run store may have been edited by hand");
    return p;
  } catch (const std::exception& e) {
    return make_error(fmt::format("the stored plan is not valid: {}", e.what()),
                      "the run store may have been edited by hand or written by another xrun version");
  }
}

}  // namespace xrun::plan
