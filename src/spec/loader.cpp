#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/spec/spec.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::spec {

namespace {

const std::vector<std::string> kBackends = {"scheduler", "local", "slurm", "pbs", "docker"};
constexpr size_t kMaxNodes = 1000000;
constexpr int kMaxDepth = 200;

// Walks the tree once: depth and node budget (aliases can make loops or exponential trees),
// duplicate keys in mappings. A repeated key keeps its last value, as PyYAML does (yaml-cpp
// keeps both entries and looks up the first): the earlier entries are removed, with a warning.
Result<void> check_tree(const std::string& file, YAML::Node n, int depth, size_t& budget,
                        std::vector<Warning>& warnings) {
  if (depth > kMaxDepth)
    return error_at(file, n.Mark(), fmt::format("nesting deeper than {} levels", kMaxDepth),
                    "flatten the file; a recursive YAML alias (&a [*a]) also causes this");
  if (++budget > kMaxNodes)
    return error_at(file, n.Mark(), "the file expands to more than a million YAML nodes",
                    "YAML aliases (*name) repeated inside each other multiply the document; write it out");
  if (n.IsSequence()) {
    for (auto c : n) XRUN_TRY(check_tree(file, c, depth + 1, budget, warnings));
  } else if (n.IsMap()) {
    std::map<std::string, Loc> seen;
    std::vector<std::string> repeated;  // one entry per earlier occurrence to drop
    for (auto kv : n) {
      if (!kv.first.IsScalar())
        return error_at(file, kv.first.Mark(), "mapping keys must be plain names",
                        "use `name: value`; complex keys are not part of the format");
      const std::string key = kv.first.Scalar();
      Loc here = loc_of(kv.first);
      auto [it, fresh] = seen.emplace(key, here);
      if (!fresh) {
        warnings.push_back({here, fmt::format("key '{}' is given twice (lines {} and {}): the last value is used, "
                                              "as PyYAML does; remove one of them",
                                              key, it->second.line, here.line)});
        it->second = here;
        repeated.push_back(key);
      }
      XRUN_TRY(check_tree(file, kv.second, depth + 1, budget, warnings));
    }
    for (const auto& key : repeated) n.remove(key);  // removes the first (earliest) entry
  }
  return {};
}

std::string strip_trailing_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

nlohmann::ordered_json to_options(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) {
    auto a = nlohmann::ordered_json::array();
    for (const auto& c : n) a.push_back(to_options(c));
    return a;
  }
  if (n.IsMap()) {
    auto o = nlohmann::ordered_json::object();
    for (const auto& kv : n) o[kv.first.Scalar()] = to_options(kv.second);
    return o;
  }
  return nullptr;
}

Result<CommandText> command_string(const std::string& file, const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar())
    return error_at(file, n.Mark(), fmt::format("{} must be a string, got {}", what, type_word(n)),
                    "write a shell command, e.g. `command: echo {x}`");
  return CommandText{strip_trailing_newlines(n.Scalar()), loc_of(n)};
}

Result<void> parse_command(const std::string& file, const YAML::Node& n, StageSpec& st) {
  if (n.IsScalar()) {
    auto c = command_string(file, n, "command");
    if (!c) return c.error();
    st.commands.push_back(std::move(c.value()));
  } else if (n.IsSequence()) {
    if (n.size() == 0)
      return error_at(file, n.Mark(), "command list is empty", "give at least one shell command");
    for (const auto& c : n) {
      auto r = command_string(file, c, "each item of a command list");
      if (!r) return r.error();
      st.commands.push_back(std::move(r.value()));
    }
  } else if (n.IsMap()) {
    static const std::vector<std::string> keys = {"cmd", "command", "creates", "requires"};
    YAML::Node cmd;
    bool has_cmd = false;
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
        std::string s = util::suggest(k, keys);
        return error_at(file, kv.first.Mark(), fmt::format("unknown key '{}' in command", k),
                        s.empty() ? "a command mapping takes cmd (or command), creates and requires"
                                  : fmt::format("did you mean '{}'?", s));
      }
      if (k == "cmd" || k == "command") {
        if (has_cmd) return error_at(file, kv.first.Mark(), "both 'cmd' and 'command' given", "keep one of them");
        cmd = kv.second;
        has_cmd = true;
      } else {
        auto r = command_string(file, kv.second, "'" + k + "'");
        if (!r) return r.error();
        (k == "creates" ? st.creates : st.requires_) = std::move(r.value());
      }
    }
    if (!has_cmd) return error_at(file, n.Mark(), "command mapping has no 'cmd'", "add `cmd: <shell command>`");
    if (cmd.IsMap()) return error_at(file, cmd.Mark(), "'cmd' must be a string or a list of strings");
    return parse_command(file, cmd, st);
  } else {
    return error_at(file, n.Mark(), "command is empty", "give a shell command, e.g. `command: echo hello`");
  }
  return {};
}

}  // namespace

std::string type_word(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "undefined";
  }
}

const char* to_string(OnFailure f) { return f == OnFailure::Stop ? "stop" : "continue"; }

// `max_tasks: N` or `max_tasks: {n: N, seed: S}`.
static Result<TaskCap> parse_cap(const std::string& path, const YAML::Node& val) {
  const std::string hint = "e.g. `max_tasks: 100`, or `max_tasks: {n: 100, seed: 7}` for a random subset";
  auto whole = [&](const YAML::Node& n, const char* what, uint64_t min) -> Result<uint64_t> {
    Value v = n.IsScalar() ? scalar_value(n) : Value();
    if (v.kind() != Value::Kind::Int || v.as_int() < static_cast<int64_t>(min))
      return error_at(path, n.Mark(), fmt::format("max_tasks {} must be a whole number from {}, got {}", what, min,
                                                  n.IsScalar() ? "'" + n.Scalar() + "'" : type_word(n)),
                      hint);
    return static_cast<uint64_t>(v.as_int());
  };
  TaskCap cap;
  cap.loc = loc_of(val);
  if (val.IsMap()) {
    for (const auto& kv : val) {
      const std::string k = kv.first.Scalar();
      if (k == "n") {
        auto n = whole(kv.second, "n", 1);
        if (!n) return n.error();
        cap.n = n.value();
      } else if (k == "seed") {
        auto s = whole(kv.second, "seed", 0);
        if (!s) return s.error();
        cap.seed = s.value();
      } else {
        std::string sg = util::suggest(k, {"n", "seed"});
        return error_at(path, kv.first.Mark(), fmt::format("unknown key '{}' in max_tasks", k),
                        sg.empty() ? hint : fmt::format("did you mean '{}'?", sg));
      }
    }
    if (cap.n == 0) return error_at(path, val.Mark(), "max_tasks has no 'n'", hint);
    return cap;
  }
  auto n = whole(val, "", 1);
  if (!n) return n.error();
  cap.n = n.value();
  return cap;
}

// `tags: [lr, batch]`: names, each once (a repeated one is left out, with a warning).
static Result<std::vector<TagSpec>> parse_tags(const std::string& path, const YAML::Node& val,
                                               std::vector<Warning>& warnings) {
  const std::string hint = "e.g. `tags: [lr, batch]`: the variables that name a task, for {tags} and {tagspath}";
  if (!val.IsSequence())
    return error_at(path, val.Mark(), fmt::format("tags must be a list of variable names, got {}", type_word(val)), hint);
  std::vector<TagSpec> tags;
  for (const auto& item : val) {
    if (!item.IsScalar() || util::trim(item.Scalar()).empty())
      return error_at(path, item.Mark(), fmt::format("each tag must be a variable's name, got {}", type_word(item)), hint);
    TagSpec t{item.Scalar(), loc_of(item)};
    if (std::any_of(tags.begin(), tags.end(), [&](const TagSpec& o) { return o.name == t.name; })) {
      warnings.push_back({t.loc, fmt::format("tag '{}' is listed twice; it counts once", t.name)});
      continue;
    }
    tags.push_back(std::move(t));
  }
  return tags;
}

// `reuse: true|false`.
static Result<bool> parse_reuse(const std::string& path, const YAML::Node& val) {
  Value v = val.IsScalar() ? scalar_value(val) : Value();
  if (v.kind() != Value::Kind::Bool)
    return error_at(path, val.Mark(), fmt::format("reuse must be true or false, got {}", val.IsScalar() ? "'" + val.Scalar() + "'" : type_word(val)),
                    "`reuse: true` records a task that succeeded in an earlier experiment as reused instead of running it");
  return v.as_bool();
}

// `early_stopping: [{metric: NAME, value: NUMBER, optimization: maximize|minimize}, ...]`.
static Result<std::vector<EarlyStopSpec>> parse_early_stopping(const std::string& path, const YAML::Node& val) {
  const std::string hint = "e.g. `early_stopping: [{metric: accuracy, value: 0.9, optimization: maximize}]`";
  if (!val.IsSequence() || val.size() == 0)
    return error_at(path, val.Mark(), fmt::format("early_stopping must be a non-empty list, got {}", type_word(val)), hint);
  std::vector<EarlyStopSpec> out;
  for (const auto& item : val) {
    if (!item.IsMap()) return error_at(path, item.Mark(), "each early_stopping condition must be a mapping", hint);
    EarlyStopSpec e;
    e.loc = loc_of(item);
    bool has_metric = false, has_value = false;
    for (const auto& kv : item) {
      const std::string k = kv.first.Scalar();
      if (k == "metric") {
        if (!kv.second.IsScalar() || kv.second.Scalar().empty())
          return error_at(path, kv.second.Mark(), "early_stopping 'metric' must be a name", hint);
        e.metric = kv.second.Scalar();
        has_metric = true;
      } else if (k == "value") {
        Value v = kv.second.IsScalar() ? scalar_value(kv.second) : Value();
        if (v.kind() == Value::Kind::Int) e.value = static_cast<double>(v.as_int());
        else if (v.kind() == Value::Kind::Float && std::isfinite(v.as_float())) e.value = v.as_float();
        else
          return error_at(path, kv.second.Mark(), fmt::format("early_stopping 'value' must be a number, got '{}'", v.str()),
                          hint);
        has_value = true;
      } else if (k == "optimization") {
        std::string o = kv.second.IsScalar() ? kv.second.Scalar() : "";
        if (o != "maximize" && o != "minimize") {
          std::string sg = util::suggest(o, {"maximize", "minimize"});
          return error_at(path, kv.second.Mark(), fmt::format("early_stopping 'optimization' must be maximize or minimize, got '{}'", o),
                          sg.empty() ? hint : fmt::format("did you mean '{}'?", sg));
        }
        e.maximize = o == "maximize";
      } else {
        std::string sg = util::suggest(k, {"metric", "value", "optimization"});
        return error_at(path, kv.first.Mark(), fmt::format("unknown key '{}' in early_stopping", k),
                        sg.empty() ? hint : fmt::format("did you mean '{}'?", sg));
      }
    }
    if (!has_metric || !has_value)
      return error_at(path, item.Mark(), fmt::format("an early_stopping condition needs '{}'", has_metric ? "value" : "metric"), hint);
    out.push_back(std::move(e));
  }
  return out;
}


// A backend section (`slurm: True`, `slurm: {walltime: 1:00:00}`, ...) into `sections[key]`,
// with the position of each option under `prefix + key + "." + option`.
static Result<void> parse_section(const std::string& path, const std::string& key, const YAML::Node& val,
                                  nlohmann::ordered_json& sections, std::map<std::string, Loc>& locs,
                                  const std::string& prefix) {
  if (val.IsNull()) {
    sections[key] = nlohmann::ordered_json::object();
  } else if (val.IsScalar()) {
    Value b = scalar_value(val);
    if (b.kind() != Value::Kind::Bool)
      return error_at(path, val.Mark(), fmt::format("'{}' must be True, False or a mapping of options", key),
                      fmt::format("e.g. `{}: True` for defaults, or `{}:` followed by indented options", key, key));
    if (b.as_bool()) sections[key] = nlohmann::ordered_json::object();
  } else if (val.IsMap()) {
    sections[key] = to_options(val);
    for (const auto& kv : val) locs[prefix + key + "." + kv.first.Scalar()] = loc_of(kv.second);
  } else {
    return error_at(path, val.Mark(),
                    fmt::format("'{}' must be True, False or a mapping of options, got {}", key, type_word(val)),
                    fmt::format("e.g. `{}: True`, or `{}:` followed by indented `option: value` lines", key, key));
  }
  return {};
}

// A resource's name: it becomes part of an environment variable (XRUN_RESOURCE_<NAME>).
static bool resource_name_ok(const std::string& n) {
  if (n.empty() || !(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// A job's `resources: {gpu: 1, licence: 1}`: how many of each declared resource one task takes.
static Result<std::vector<std::pair<std::string, int64_t>>> parse_resources(const std::string& path,
                                                                          const YAML::Node& val, std::map<std::string, Loc>& locs,
                                                                          const std::string& prefix) {
  std::vector<std::pair<std::string, int64_t>> out;
  if (!val.IsMap())
    return error_at(path, val.Mark(), fmt::format("'resources' must be a mapping of names to counts, got {}", type_word(val)),
                    "e.g. `resources: {gpu: 1}`: each task of the stage takes one gpu");
  for (const auto& kv : val) {
    const std::string name = kv.first.Scalar();
    if (!resource_name_ok(name))
      return error_at(path, kv.first.Mark(), fmt::format("resource name '{}' is not usable", name),
                      "use letters, digits and '_' (it names the variable XRUN_RESOURCE_<NAME>)");
    Value v = kv.second.IsScalar() ? scalar_value(kv.second) : Value::null();
    if (v.kind() != Value::Kind::Int || v.as_int() < 1)
      return error_at(path, kv.second.Mark(), fmt::format("resources: '{}' must be a whole number of at least 1", name),
                      fmt::format("e.g. `{}: 1`", name));
    out.emplace_back(name, v.as_int());
    locs[prefix + "resources." + name] = loc_of(kv.second);
  }
  return out;
}

// A job's `depends_on:` a name, or a list of names and `{stage: NAME, per_task: true}` entries.
static Result<std::vector<DependSpec>> parse_depends_on(const std::string& path, const YAML::Node& val) {
  std::vector<DependSpec> out;
  auto one = [&](const YAML::Node& n) -> Result<void> {
    DependSpec d;
    d.loc = loc_of(n);
    if (n.IsScalar() && !n.Scalar().empty()) {
      d.name = n.Scalar();
    } else if (n.IsMap()) {
      bool has_stage = false;
      for (const auto& kv : n) {
        const std::string k = kv.first.Scalar();
        if (k == "stage" && kv.second.IsScalar() && !kv.second.Scalar().empty()) {
          d.name = kv.second.Scalar();
          has_stage = true;
        } else if (k == "per_task") {
          Value b = kv.second.IsScalar() ? scalar_value(kv.second) : Value::null();
          if (b.kind() != Value::Kind::Bool)
            return error_at(path, kv.second.Mark(), "'per_task' must be true or false",
                            "`per_task: true`: each task waits only for the task of that stage with the same values");
          d.per_task = b.as_bool();
        } else {
          std::string s = util::suggest(k, {"stage", "per_task"});
          return error_at(path, kv.first.Mark(), fmt::format("unknown key '{}' in a depends_on entry", k),
                          s.empty() ? "an entry takes `stage: NAME` and `per_task: true|false`"
                                    : fmt::format("did you mean '{}'?", s));
        }
      }
      if (!has_stage)
        return error_at(path, n.Mark(), "a depends_on entry has no 'stage'", "write `{stage: NAME, per_task: true}`");
    } else {
      return error_at(path, n.Mark(), fmt::format("a depends_on entry must be a job's name, got {}", type_word(n)),
                      "e.g. `depends_on: [prepare]` or `depends_on: [{stage: sim, per_task: true}]`");
    }
    out.push_back(std::move(d));
    return {};
  };
  if (val.IsSequence()) {
    for (const auto& n : val) XRUN_TRY(one(n));
  } else if (!val.IsNull()) {
    XRUN_TRY(one(val));
  }
  return out;
}

// Names in `depends_on` resolved to stages; a name no job has, a stage waiting for itself or a
// cycle is an error at the entry.
static Result<void> resolve_stage_graph(const std::string& path, std::vector<StageSpec>& stages) {
  std::map<std::string, size_t> index;
  for (size_t s = 0; s < stages.size(); ++s) index[stages[s].name] = s;
  std::vector<std::string> names;
  for (const auto& st : stages) names.push_back(st.name);
  for (size_t s = 0; s < stages.size(); ++s) {
    std::set<size_t> seen;
    for (auto& d : stages[s].depends_on) {
      auto it = index.find(d.name);
      if (it == index.end()) {
        std::string near = util::suggest(d.name, names);
        return error_at(path, d.loc, fmt::format("job '{}' depends on '{}', which no job is named", stages[s].name, d.name),
                        near.empty() ? fmt::format("the jobs are named: {}", fmt::join(names, ", "))
                                     : fmt::format("did you mean '{}'?", near));
      }
      if (it->second == s)
        return error_at(path, d.loc, fmt::format("job '{}' depends on itself", d.name), "remove it from its own depends_on");
      if (!seen.insert(it->second).second)
        return error_at(path, d.loc, fmt::format("job '{}' names '{}' twice in depends_on", stages[s].name, d.name),
                        "keep one entry");
      d.stage = it->second;
    }
  }
  // Cycles: depth-first, reporting the first one found with its path.
  std::vector<int> mark(stages.size(), 0);  // 0 new, 1 on the path, 2 done
  std::vector<size_t> trail;
  std::function<Result<void>(size_t)> visit = [&](size_t s) -> Result<void> {
    mark[s] = 1;
    trail.push_back(s);
    for (const auto& d : stages[s].depends_on) {
      if (mark[d.stage] == 1) {
        std::vector<std::string> cycle;
        auto from = std::find(trail.begin(), trail.end(), d.stage);
        for (auto it = from; it != trail.end(); ++it) cycle.push_back(stages[*it].name);
        cycle.push_back(stages[d.stage].name);
        return error_at(path, d.loc,
                        fmt::format("the jobs' depends_on form a cycle (each waits for the next): {}", fmt::join(cycle, " -> ")),
                        "a job can only wait for jobs that do not wait for it; remove one of these dependencies");
      }
      if (mark[d.stage] == 0) XRUN_TRY(visit(d.stage));
    }
    trail.pop_back();
    mark[s] = 2;
    return {};
  };
  for (size_t s = 0; s < stages.size(); ++s)
    if (mark[s] == 0) XRUN_TRY(visit(s));
  return {};
}

const std::vector<std::string>& known_top_level_keys() {
  static const std::vector<std::string> keys = {"name",  "command", "jobs",   "variables", "scheduler", "local",
                                                "slurm", "pbs",     "docker", "workdir",   "shell", "max_tasks", "early_stopping",
                                                "tags",  "reuse"};
  return keys;
}

Loc loc_of(const YAML::Node& n) {
  auto m = n.Mark();
  if (m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

Error error_at(const std::string& file, const YAML::Mark& mark, std::string what, std::string hint) {
  Loc l;
  if (mark.line >= 0) l = {mark.line + 1, mark.column + 1};
  return error_at(file, l, std::move(what), std::move(hint));
}

Error error_at(const std::string& file, Loc loc, std::string what, std::string hint) {
  Error e = make_error(std::move(what), std::move(hint));
  e.file = file;
  e.line = loc.line > 0 ? loc.line : 1;
  e.col = loc.col > 0 ? loc.col : 1;
  return e;
}

Value scalar_value(const YAML::Node& n) {
  if (n.IsNull()) return Value::null();
  const std::string& tag = n.Tag();
  if (tag == "?") return resolve_plain_scalar(n.Scalar());
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return Value::string(n.Scalar());
  return tagged_scalar(tag, n.Scalar());
}

nlohmann::ordered_json Spec::options_for(const std::string& backend) const { return merge_options(sections, backend); }

bool Spec::reuses(size_t s, bool flag) const {
  if (s < stages.size() && stages[s].reuse) return *stages[s].reuse;
  return flag || reuse.value_or(false);
}

Result<Spec> load_spec(const std::string& path) {
  auto text = util::read_file(path);
  if (!text) return text.error();
  return parse_spec(text.value(), path);
}

Result<Spec> parse_spec(const std::string& text, const std::string& path) {
  Spec spec;
  spec.path = path;
  spec.source = text;
  spec.dir = util::dirname(util::absolute(path));
  std::string stem = util::basename(path);
  if (auto dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
  spec.name = stem;

  if (text.find('\0') != std::string::npos)
    return error_at(path, Loc{1, 1}, "the file contains NUL bytes: it is not a YAML text file",
                    "give the experiment's .yml file");
  if (size_t bad = util::invalid_utf8_at(text); bad != std::string::npos) {
    auto [line, col] = util::line_col(text, bad);
    return error_at(path, Loc{line, col},
                    fmt::format("byte 0x{:02x} is not valid UTF-8", static_cast<unsigned char>(text[bad])),
                    "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)");
  }
  if (util::trim(text).empty())
    return error_at(path, Loc{1, 1}, "the file is empty",
                    "an experiment needs at least `command: ...`, e.g. `command: echo hello`");

  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string msg = e.msg;
    if (msg == "bad file") msg = "the document is nested too deeply or is not valid YAML";
    return error_at(path, e.mark, "YAML syntax: " + msg,
                    "check the indentation and quoting near this position; quote strings that "
                    "contain ': ' or start with '{'");
  } catch (const std::exception& e) {
    return error_at(path, Loc{1, 1}, std::string("cannot parse YAML: ") + e.what());
  }
  size_t budget = 0;
  XRUN_TRY(check_tree(path, root, 0, budget, spec.warnings));
  if (root.IsNull())
    return error_at(path, Loc{1, 1}, "the file holds no settings (only comments?)",
                    "an experiment needs at least `command: ...`");
  if (!root.IsMap())
    return error_at(path, root.Mark(), fmt::format("the file must be a mapping of settings, got {}", type_word(root)),
                    "start with `command: ...` and optional `variables:`");

  YAML::Node command, jobs;
  bool has_command = false, has_jobs = false;
  const bool has_required = root["command"].IsDefined() || root["jobs"].IsDefined();
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const auto& val = kv.second;
    const auto& keys = known_top_level_keys();
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      // experi ignores keys it does not know (its test files carry `result:`): a warning. A
      // near-miss of the required key when it is missing is a typo, and stays an error.
      std::string required = util::suggest(key, {"command", "jobs"});
      if (!has_required && !required.empty())
        return error_at(path, kv.first.Mark(), fmt::format("unknown key '{}' and no '{}'", key, required),
                        fmt::format("did you mean '{}'?", required));
      std::string s = util::suggest(key, keys);
      spec.warnings.push_back({loc_of(kv.first), fmt::format("unknown key '{}' is ignored{}", key,
                                                             s.empty() ? "" : fmt::format(" (did you mean '{}'?)", s))});
      continue;
    }
    if (key == "name") {
      if (!val.IsScalar() || util::trim(val.Scalar()).empty())
        return error_at(path, val.Mark(), "'name' must be a non-empty string", "e.g. `name: lr-sweep`");
      spec.name = val.Scalar();
    } else if (key == "command") {
      command = val;
      has_command = true;
    } else if (key == "jobs") {
      jobs = val;
      has_jobs = true;
    } else if (key == "variables") {
      spec.variables = val;
      spec.variables_loc = loc_of(val);
    } else if (key == "shell" && val.IsScalar() && scalar_value(val).kind() == Value::Kind::Bool) {
      // experi: `shell: True` chooses its shell scheduler, which is xrun's local backend.
      spec.shell_scheduler = scalar_value(val).as_bool();
    } else if (key == "max_tasks") {
      auto cap = parse_cap(path, val);
      if (!cap) return cap.error();
      spec.cap = cap.value();
    } else if (key == "early_stopping") {
      auto es = parse_early_stopping(path, val);
      if (!es) return es.error();
      spec.early_stopping = es.value();
    } else if (key == "tags") {
      auto tags = parse_tags(path, val, spec.warnings);
      if (!tags) return tags.error();
      spec.tags = std::move(tags.value());
    } else if (key == "reuse") {
      auto r = parse_reuse(path, val);
      if (!r) return r.error();
      spec.reuse = r.value();
    } else if (key == "workdir" || key == "shell") {
      if (!val.IsScalar() || val.Scalar().empty())
        return error_at(path, val.Mark(), fmt::format("'{}' must be a non-empty string", key),
                        key == "shell" ? "e.g. `shell: bash` or `shell: /bin/zsh`" : "e.g. `workdir: /scratch/me/run1`");
      (key == "workdir" ? spec.workdir : spec.shell) = val.Scalar();
      // With placeholders (or braces), a template rendered per task (plan::Expander).
      if (key == "workdir" && val.Scalar().find_first_of("{}") != std::string::npos)
        spec.workdir_template = CommandText{val.Scalar(), loc_of(val)};
    } else {  // backend sections
      spec.option_locs[key] = loc_of(kv.first);
      XRUN_TRY(parse_section(path, key, val, spec.sections, spec.option_locs, ""));
    }
  }

  if (has_command && has_jobs)
    return error_at(path, jobs.Mark(), "'command' and 'jobs' cannot both be given",
                    "use `command:` for one stage, or `jobs:` with one `command:` per stage");
  if (!has_command && !has_jobs)
    return error_at(path, Loc{1, 1}, "no 'command' or 'jobs' in the experiment file",
                    "add `command: <shell command with {variables}>`");

  if (has_command) {
    StageSpec st;
    st.name = "main";
    st.loc = loc_of(command);
    XRUN_TRY(parse_command(path, command, st));
    spec.stages.push_back(std::move(st));
  } else {
    if (!jobs.IsSequence() || jobs.size() == 0)
      return error_at(path, jobs.Mark(), fmt::format("'jobs' must be a non-empty list, got {}", type_word(jobs)),
                      "write `jobs:` then `- command: ...` entries, one per stage");
    std::set<std::string> names;
    size_t k = 0;
    for (const auto& job : jobs) {
      ++k;
      if (!job.IsMap())
        return error_at(path, job.Mark(), fmt::format("each job must be a mapping with 'command', got {}", type_word(job)),
                        "write `- command: echo {x}`");
      StageSpec st;
      st.name = fmt::format("job{}", k);
      st.loc = loc_of(job);
      static const std::vector<std::string> jkeys = {"command",   "name",       "on_failure", "max_tasks", "early_stopping",
                                                     "depends_on", "resources", "scheduler",  "local",     "slurm",
                                                     "pbs",        "docker",    "tags",      "reuse"};
      const std::string prefix = fmt::format("jobs.{}.", k);
      bool has_cmd = false;
      for (const auto& kv : job) {
        const std::string key = kv.first.Scalar();
        if (std::find(jkeys.begin(), jkeys.end(), key) == jkeys.end()) {
          std::string s = util::suggest(key, jkeys);
          return error_at(path, kv.first.Mark(), fmt::format("unknown key '{}' in job {}", key, k),
                          s.empty() ? "a job takes command, name, on_failure, depends_on, resources, max_tasks, "
                                      "early_stopping, tags, reuse and backend sections (scheduler, local, slurm, pbs, docker)"
                                    : fmt::format("did you mean '{}'?", s));
        }
        if (std::find(kBackends.begin(), kBackends.end(), key) != kBackends.end()) {
          spec.option_locs[prefix + key] = loc_of(kv.first);
          XRUN_TRY(parse_section(path, key, kv.second, st.sections, spec.option_locs, prefix));
        } else if (key == "depends_on") {
          auto d = parse_depends_on(path, kv.second);
          if (!d) return d.error();
          st.depends_on = std::move(d.value());
          st.has_depends_on = true;
        } else if (key == "resources") {
          auto r = parse_resources(path, kv.second, spec.option_locs, prefix);
          if (!r) return r.error();
          st.resources = std::move(r.value());
        } else if (key == "max_tasks") {
          auto cap = parse_cap(path, kv.second);
          if (!cap) return cap.error();
          st.cap = cap.value();
        } else if (key == "early_stopping") {
          auto es = parse_early_stopping(path, kv.second);
          if (!es) return es.error();
          st.early_stopping = es.value();
        } else if (key == "tags") {
          auto tags = parse_tags(path, kv.second, spec.warnings);
          if (!tags) return tags.error();
          st.tags = std::move(tags.value());
        } else if (key == "reuse") {
          auto r = parse_reuse(path, kv.second);
          if (!r) return r.error();
          st.reuse = r.value();
        } else if (key == "command") {
          has_cmd = true;
          XRUN_TRY(parse_command(path, kv.second, st));
        } else if (key == "name") {
          if (!kv.second.IsScalar() || kv.second.Scalar().empty())
            return error_at(path, kv.second.Mark(), "a job's 'name' must be a non-empty string");
          st.name = kv.second.Scalar();
          if (st.name.find('/') != std::string::npos || st.name == "." || st.name == ".." ||
              std::all_of(st.name.begin(), st.name.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return error_at(path, kv.second.Mark(), fmt::format("job name '{}' is not usable as a stage name", st.name),
                            "use letters, digits, '-', '_' or '.', not only digits and no '/'");
        } else {
          std::string v = kv.second.IsScalar() ? kv.second.Scalar() : "";
          if (v == "stop") st.on_failure = OnFailure::Stop;
          else if (v == "continue") st.on_failure = OnFailure::Continue;
          else
            return error_at(path, kv.second.Mark(), fmt::format("on_failure must be 'stop' or 'continue', got '{}'", v),
                            "stop: later stages wait for every task to succeed; continue: they run anyway");
        }
      }
      if (!has_cmd)
        return error_at(path, job.Mark(), fmt::format("job {} has no 'command'", k), "add `command: ...` to it");
      if (!names.insert(st.name).second)
        return error_at(path, job.Mark(), fmt::format("two jobs are named '{}'", st.name), "give each job its own name");
      spec.stages.push_back(std::move(st));
    }
    // Without depends_on, a job waits for the one before it (today's chain).
    for (size_t s = 1; s < spec.stages.size(); ++s)
      if (!spec.stages[s].has_depends_on)
        spec.stages[s].depends_on.push_back(DependSpec{spec.stages[s - 1].name, s - 1, false, spec.stages[s].loc});
    XRUN_TRY(resolve_stage_graph(path, spec.stages));
  }

  const std::string raw = spec.workdir;
  spec.workdir = raw.empty() ? spec.dir : (raw[0] == '/' ? raw : util::absolute(util::join(spec.dir, raw)));
  spec.workdir_base = spec.workdir;
  if (spec.workdir_template) {
    // The folder every task's workdir lies under: the literal text before the first placeholder,
    // up to its last '/' ("runs/{lr}" -> runs, "out-{lr}" -> the file's folder).
    std::string prefix;
    for (size_t i = 0; i < raw.size(); ++i) {
      if ((raw[i] == '{' || raw[i] == '}') && i + 1 < raw.size() && raw[i + 1] == raw[i]) {
        prefix += raw[i++];
        continue;
      }
      if (raw[i] == '{') break;
      prefix += raw[i];
    }
    prefix = prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
    spec.workdir_base = prefix.empty() ? spec.dir
                        : prefix[0] == '/' ? util::absolute(prefix)
                                           : util::absolute(util::join(spec.dir, prefix));
    while (spec.workdir_base.size() > 1 && spec.workdir_base.back() == '/') spec.workdir_base.pop_back();
  }
  return spec;
}

}  // namespace xrun::spec
