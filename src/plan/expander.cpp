#include "xrun/plan/expander.hpp"

#include "xrun/util/random.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "xrun/plan/task_writer.hpp"
#include "xrun/spec/options.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/string_set.hpp"
#include "xrun/util/text.hpp"

namespace xrun::plan {

namespace {

json opt_json(const std::string* s) { return s ? json(*s) : json(nullptr); }

// Where byte `offset` of a command's text stands in the file, for every scalar style (plain,
// quoted with escapes, literal `|` and folded `>` blocks, over several lines): the character at
// `offset` is the k-th of its kind in the text, so it is the k-th of its kind in the scalar's
// source (placeholders' braces and names are never produced by escapes or folding). Falls back
// to the scalar's start.
spec::Loc locate_in(const spec::Spec& sp, const spec::CommandText& ct, size_t offset) {
  if (ct.loc.line <= 0 || ct.text.empty()) return ct.loc;
  size_t pos = 0;
  for (int l = 1; l < ct.loc.line && pos != std::string::npos; ++l) {
    pos = sp.source.find('\n', pos);
    if (pos != std::string::npos) ++pos;
  }
  if (pos == std::string::npos) return ct.loc;
  pos += static_cast<size_t>(ct.loc.col - 1);
  if (pos >= sp.source.size()) return ct.loc;
  char first = sp.source[pos];
  if (first == '|' || first == '>') {  // block scalar: the content starts on the next line
    pos = sp.source.find('\n', pos);
    if (pos == std::string::npos) return ct.loc;
    ++pos;
  } else if (first == '\'' || first == '"') {
    ++pos;
  }
  if (offset >= ct.text.size()) offset = ct.text.size() - 1;
  const char c = ct.text[offset];
  if (c == ' ' || c == '\n' || c == '\t') return ct.loc;
  size_t k = static_cast<size_t>(std::count(ct.text.begin(), ct.text.begin() + static_cast<long>(offset), c));
  for (size_t i = pos; i < sp.source.size(); ++i) {
    if (sp.source[i] != c) continue;
    if (k-- == 0) {
      auto [line, col] = util::line_col(sp.source, i);
      return {line, col};
    }
  }
  return ct.loc;
}

// `${...}` at `offset` (the brace) is the shell's parameter expansion written with single
// braces: the hint to double them, or "" when the field is not preceded by '$'.
std::string shell_brace_hint(const std::string& text, size_t offset) {
  if (offset == 0 || offset >= text.size() || text[offset - 1] != '$') return "";
  size_t close = text.find('}', offset);
  std::string body = text.substr(offset + 1, close == std::string::npos ? std::string::npos : close - offset - 1);
  return fmt::format("`${{{0}}}` is shell syntax; xrun reads {{...}} as a placeholder: write `${{{{{0}}}}}` so that "
                     "the shell gets `${{{0}}}`",
                     body);
}

}  // namespace

json TaskRef::to_json(KeyContext* keys) const {
  json vars = json::object();
  for (const auto& [k, v] : variables) vars[*k] = v->to_json();
  json out{{"index", index},
           {"commands", commands},
           {"variables", vars},
           {"creates", opt_json(creates)},
           {"requires", opt_json(requires_)}};
  if (workdir) out["workdir"] = *workdir;
  if (keys) {
    std::vector<std::string> texts;
    for (const auto& kv : variables) texts.push_back(kv.second->to_json().dump());
    std::vector<std::pair<std::string_view, std::string_view>> kvs;
    for (size_t i = 0; i < variables.size(); ++i) kvs.emplace_back(*variables[i].first, texts[i]);
    out["key"] = keys->key(commands, kvs);
  }
  return out;
}

json CheckReport::to_json(const std::string& file) const {
  json st = json::array();
  for (const auto& s : stages)
    st.push_back(json{{"name", s.name},
                      {"on_failure", spec::to_string(s.on_failure)},
                      {"combinations", s.combinations},
                      {"tasks", s.tasks},
                      {"duplicates", s.duplicates},
                      {"max_tasks", s.cap ? json{{"n", s.cap->n}, {"seed", s.cap->seed ? json(*s.cap->seed) : json()}}
                                          : json()}});
  json vs = json::array();
  for (const auto& v : variables) {
    json one{{"name", v.name}, {"values", v.distinct}};
    if (!v.source.empty()) one["generator"] = v.source;
    vs.push_back(std::move(one));
  }
  json ws = json::array();
  for (const auto& w : warnings)
    ws.push_back(json{{"line", w.loc.line}, {"column", w.loc.col}, {"message", w.what}});
  return json{{"file", file}, {"valid", true},  {"name", name},        {"stages", st},
              {"tasks", total_tasks}, {"variables", vs}, {"warnings", ws}, {"options", options}};
}

Result<Expander> Expander::create(spec::Spec spec, const vars::Overrides& overrides, uint64_t max_combinations) {
  Expander ex;
  auto sw = vars::Sweep::compile(spec.variables, spec.path, overrides);
  if (!sw) return sw.error();
  ex.sweep_ = std::move(sw.value());
  ex.warnings_ = spec.warnings;  // from loading the file, then from the variables
  for (const auto& w : ex.sweep_.warnings()) ex.warnings_.push_back(w);
  const int nslots = static_cast<int>(ex.sweep_.slot_count());
  const int creates_slot = nslots, requires_slot = nslots + 1, tags_slot = nslots + 2, tagspath_slot = nslots + 3;
  std::vector<bool> used_anywhere(static_cast<size_t>(nslots), false);
  std::vector<std::string> names;
  for (const auto& v : ex.sweep_.variables())
    if (!v.hidden) names.push_back(v.name);

  // Every tag names a variable; a variable named tags or tagspath is its own placeholder.
  bool any_tags = !spec.tags.empty();
  auto check_tags = [&](const std::vector<spec::TagSpec>& tags) -> Result<void> {
    for (const auto& t : tags) {
      int slot = ex.sweep_.slot_of(t.name);
      if (slot >= 0 && !ex.sweep_.variables()[static_cast<size_t>(slot)].hidden) continue;
      std::string sg = util::suggest(t.name, names);
      return spec::error_at(spec.path, t.loc, fmt::format("tag '{}' names no variable", t.name),
                            !sg.empty()     ? fmt::format("did you mean '{}'?", sg)
                            : names.empty() ? std::string("define it under `variables:`")
                                            : fmt::format("a tag is a variable's name; defined variables: {}",
                                                          fmt::join(names, ", ")));
    }
    return {};
  };
  XRUN_TRY(check_tags(spec.tags));
  for (const auto& st : spec.stages)
    if (st.tags) {
      any_tags = true;
      XRUN_TRY(check_tags(*st.tags));
    }
  if (any_tags)
    for (const char* name : {"tags", "tagspath"})
      if (int slot = ex.sweep_.slot_of(name); slot >= 0)
        ex.warnings_.push_back({ex.sweep_.variables()[static_cast<size_t>(slot)].loc,
                                fmt::format("variable '{0}' is what {{{0}}} renders, not the tags of `tags:`; "
                                            "rename the variable to use them",
                                            name)});

  for (const auto& st : spec.stages) {
    CompiledStage cs;
    std::set<int> used;
    const std::vector<spec::TagSpec>& stage_tags = st.tags ? *st.tags : spec.tags;
    for (const auto& t : stage_tags) cs.tags.emplace_back(t.name, ex.sweep_.slot_of(t.name));
    std::sort(cs.tags.begin(), cs.tags.end());
    // Parse a template and bind its names; `special` allows {creates}/{requires}.
    auto compile = [&](const spec::CommandText& ct, bool special, const char* what) -> Result<spec::Template> {
      auto t = spec::Template::parse(ct.text);
      if (!t) {
        Error e = t.error();
        size_t at = static_cast<size_t>(std::max(0, e.col));
        std::string shell = shell_brace_hint(ct.text, at);
        return spec::error_at(spec.path, locate_in(spec, ct, at), fmt::format("{} in {} '{}'", e.what, what, ct.text),
                              shell.empty() ? e.hint : shell);
      }
      spec::Template tpl = std::move(t.value());
      Result<void> bound;
      tpl.for_each_field([&](spec::Field& f) {
        if (!bound.ok()) return;
        if (special && f.name == "creates" && st.creates) f.slot = creates_slot;
        else if (special && f.name == "requires" && st.requires_) f.slot = requires_slot;
        else f.slot = ex.sweep_.slot_of(f.name);
        if (f.slot < 0 && (f.name == "tags" || f.name == "tagspath")) {
          if (stage_tags.empty()) {
            bound = spec::error_at(spec.path, locate_in(spec, ct, f.offset),
                                   fmt::format("placeholder {{{}}} has no tags, in {} '{}'", f.name, what, ct.text),
                                   "name the variables it renders with `tags: [variable, ...]` (top level or in the job)");
            return;
          }
          f.slot = f.name == "tags" ? tags_slot : tagspath_slot;
          cs.uses_tags = true;
          if (!f.simple() && !f.spec_nested) {
            cs.formats_special = true;
            auto r = spec::format_field(f, Value::string("x"));
            if (!r) bound = spec::error_at(spec.path, ct.loc, fmt::format("cannot format {{{}}}: {}", f.name, r.error().what));
          }
          return;
        }
        if (f.slot < 0 && special && (f.name == "creates" || f.name == "requires")) {
          // experi formats commands with creates="" and requires="" when the keys are absent.
          f.slot = f.name == "creates" ? creates_slot : requires_slot;
          ex.warnings_.push_back({locate_in(spec, ct, f.offset),
                                  fmt::format("{{{0}}} renders empty: the command has no `{0}:` key (as in experi)", f.name)});
        }
        if (f.slot < 0) {
          std::vector<std::string> cands = names;
          std::string sg = util::suggest(f.name, cands);
          std::string hint = sg.empty() ? (names.empty() ? fmt::format("add `variables:` with `{}: [values]`", f.name)
                                                         : fmt::format("defined variables: {}; or write '{{{{{}}}}}' for literal braces",
                                                                       fmt::join(names, ", "), f.name))
                                        : fmt::format("did you mean '{{{}}}'?", sg);
          if ((f.name == "creates" || f.name == "requires") && special)
            hint = fmt::format("add `{}:` to the command mapping (`command: {{cmd: ..., {}: FILE}}`)", f.name, f.name);
          if (std::string shell = shell_brace_hint(ct.text, f.offset); !shell.empty()) hint = shell;
          bound = spec::error_at(spec.path, locate_in(spec, ct, f.offset),
                                 fmt::format("placeholder {{{}}} has no variable, in {} '{}'", f.name, what, ct.text), hint);
          return;
        }
        if (std::string shell = shell_brace_hint(ct.text, f.offset); !shell.empty() && !f.simple())
          ex.warnings_.push_back({locate_in(spec, ct, f.offset),
                                  fmt::format("'${{{}}}' is formatted by xrun as a placeholder with a format spec; {}",
                                              ct.text.substr(f.offset + 1, ct.text.find('}', f.offset) - f.offset - 1),
                                              shell)});
        if (f.slot < nslots) {
          used.insert(f.slot);
          used_anywhere[static_cast<size_t>(f.slot)] = true;
          if (!ex.sweep_.always_set(f.slot)) {
            bound = spec::error_at(spec.path, locate_in(spec, ct, f.offset),
                                   fmt::format("variable '{}' is not set in every combination, but {} '{}' uses it",
                                               f.name, what, ct.text),
                                   "it is defined only in some branches of a chain; define it in every branch");
            return;
          }
          // Static type check of the format against every value the variable can take.
          if (!f.simple() && !f.spec_nested) {
            for (const auto& v : ex.sweep_.variables()[static_cast<size_t>(f.slot)].samples) {
              auto r = spec::format_field(f, v);
              if (!r) {
                bound = spec::error_at(spec.path, locate_in(spec, ct, f.offset),
                                       fmt::format("cannot format {} = {} with '{{{}{}{}}}': {}", f.name, v.repr(), f.name,
                                                   f.conversion ? std::string("!") + f.conversion : "",
                                                   f.spec_text.empty() ? "" : ":" + f.spec_text, r.error().what),
                                       r.error().hint.empty() ? "change the format spec or the variable's values" : r.error().hint);
                return;
              }
            }
          }
        } else if (!f.simple() && !f.spec_nested) {
          if (special) cs.formats_special = true;
          auto r = spec::format_field(f, Value::string("x"));
          if (!r) bound = spec::error_at(spec.path, ct.loc, fmt::format("cannot format {{{}}}: {}", f.name, r.error().what));
        }
      });
      if (!bound.ok()) return bound.error();
      return tpl;
    };
    for (const auto& c : st.commands) {
      auto t = compile(c, true, "command");
      if (!t) return t.error();
      cs.commands.push_back(std::move(t.value()));
    }
    if (st.creates) {
      auto t = compile(*st.creates, false, "creates");
      if (!t) return t.error();
      cs.creates = std::move(t.value());
    }
    if (st.requires_) {
      auto t = compile(*st.requires_, false, "requires");
      if (!t) return t.error();
      cs.requires_ = std::move(t.value());
    }
    if (spec.workdir_template) {
      auto t = compile(*spec.workdir_template, false, "workdir");
      if (!t) return t.error();
      cs.workdir = std::move(t.value());
    }
    if (cs.uses_tags)  // the commands depend on the tagged variables through {tags}
      for (const auto& [name, slot] : cs.tags) {
        used.insert(slot);
        used_anywhere[static_cast<size_t>(slot)] = true;
      }
    cs.used_slots.assign(used.begin(), used.end());
    ex.stages_.push_back(std::move(cs));
  }

  uint64_t combos = ex.sweep_.combinations();
  if (max_combinations > 0 && combos > max_combinations)
    return spec::error_at(spec.path, spec.variables_loc,
                          combos == UINT64_MAX
                              ? std::string("the variables give more than 18446744073709551615 combinations")
                              : fmt::format("the variables give {} combinations, over the limit of {}", combos, max_combinations),
                          "reduce the sweep, or raise the limit with --max-combinations N (0 = no limit)");
  for (size_t k = 0; k < used_anywhere.size(); ++k)
    if (!used_anywhere[k] && !ex.sweep_.variables()[k].hidden)
      ex.warnings_.push_back({ex.sweep_.variables()[k].loc,
                              fmt::format("variable '{}' is not used by any command", ex.sweep_.variables()[k].name)});
  ex.spec_ = std::move(spec);
  return ex;
}

std::optional<spec::TaskCap> Expander::cap_of(size_t stage) const {
  if (limit_ > 0) return spec::TaskCap{limit_, std::nullopt, {}};
  if (spec_.stages.at(stage).cap) return spec_.stages[stage].cap;
  return spec_.cap;
}


Result<void> Expander::for_each_task(size_t stage, const std::function<void(const TaskRef&)>& fn) {
  auto cap = cap_of(stage);
  if (!cap) return walk(stage, fn);
  if (!cap->seed) {  // the first n
    return walk(stage, [&](const TaskRef& r) {
      if (r.index < cap->n) fn(r);
    });
  }
  // n of the m tasks at random, in their order: Knuth's selection sampling (Algorithm S).
  uint64_t m = 0;
  XRUN_TRY(walk(stage, [&](const TaskRef&) { ++m; }));
  util::SplitMix64 rng{*cap->seed};
  uint64_t seen = 0, chosen = 0;
  return walk(stage, [&](const TaskRef& r) {
    uint64_t left = m - seen++;
    if (chosen < cap->n && static_cast<double>(left) * rng.uniform() < static_cast<double>(cap->n - chosen)) {
      TaskRef kept{static_cast<size_t>(chosen++), r.commands, r.creates, r.requires_, r.variables, r.workdir};
      fn(kept);
    }
  });
}

namespace {

// One combination rendered: its commands, creates/requires, its workdir, the values it was
// rendered from and the key it is de-duplicated by (its commands joined by a separator when
// there are several, then its workdir when that is a template: the same commands in two folders
// are two tasks).
struct Rendered {
  std::vector<const Value*> values;  // by slot; the last four are {creates}, {requires}, {tags}, {tagspath}
  std::vector<std::string> cmds;
  std::string creates, requires_, workdir, joined;
  Value creates_v = Value::string(""), requires_v = Value::string("");
  Value tags_v = Value::string(""), tagspath_v = Value::string("");
  uint64_t hash = 0;
  bool use_joined;
  Rendered(size_t nslots, size_t ncommands, bool with_workdir)
      : values(nslots + 4, nullptr), cmds(ncommands), use_joined(ncommands != 1 || with_workdir) {}
  std::string_view key() const { return use_joined ? std::string_view(joined) : std::string_view(cmds[0]); }
};

// How many rendered tasks wait for their de-duplication while the set's slots for their keys are
// fetched from memory (a lookup in a table of millions otherwise waits on a cache miss per task).
constexpr size_t kLookahead = 8;

}  // namespace

Result<void> Expander::walk(size_t stage, const std::function<void(const TaskRef&)>& fn) {
  const CompiledStage& cs = stages_.at(stage);
  const size_t nslots = sweep_.slot_count();
  util::StringSet seen(static_cast<size_t>(std::min<uint64_t>(sweep_.combinations(), 1u << 24)));
  // When values keep their addresses, fields with a format spec are formatted once per distinct
  // value, and tasks may wait in the look-ahead ring (their values outlive the next combination).
  const bool stable = sweep_.stable_values();
  util::PointerMemo memo;
  util::PointerMemo* var_memo = stable ? &memo : nullptr;
  util::PointerMemo* cmd_memo = cs.formats_special ? nullptr : var_memo;
  const size_t depth = stable ? kLookahead : 1;
  std::vector<Rendered> ring(depth, Rendered(nslots, cs.commands.size(), cs.workdir.has_value()));
  size_t head = 0, pending = 0, index = 0;
  std::vector<std::pair<const std::string*, const Value*>> vars;

  auto render = [&](Rendered& r) -> Result<void> {
    const auto& cur = sweep_.current();
    std::copy(cur.begin(), cur.end(), r.values.begin());
    r.values[nslots] = &r.creates_v;  // {creates}/{requires} render empty without their keys
    r.values[nslots + 1] = &r.requires_v;
    r.values[nslots + 2] = &r.tags_v;
    r.values[nslots + 3] = &r.tagspath_v;
    if (cs.uses_tags) {  // `key=value` of each tag the task has, keys sorted
      std::string tags, path;
      for (const auto& [name, slot] : cs.tags) {
        const Value* v = r.values[static_cast<size_t>(slot)];
        if (!v) continue;
        if (!tags.empty()) {
          tags += ',';
          path += '/';
        }
        tags += name + '=' + v->str();
        path += name + '=' + v->str();
      }
      r.tags_v = Value::string(std::move(tags));
      r.tagspath_v = Value::string(std::move(path));
    }
    if (cs.creates) {
      r.creates.clear();
      XRUN_TRY(cs.creates->render(r.values, r.creates, cs.formats_special ? nullptr : var_memo));
      r.creates_v = Value::string(r.creates);
    }
    if (cs.requires_) {
      r.requires_.clear();
      XRUN_TRY(cs.requires_->render(r.values, r.requires_, cs.formats_special ? nullptr : var_memo));
      r.requires_v = Value::string(r.requires_);
    }
    for (size_t i = 0; i < r.cmds.size(); ++i) {
      r.cmds[i].clear();
      XRUN_TRY(cs.commands[i].render(r.values, r.cmds[i], cmd_memo));
    }
    if (cs.workdir) {  // relative to the file's folder, as a fixed workdir
      r.workdir.clear();
      XRUN_TRY(cs.workdir->render(r.values, r.workdir, cs.formats_special ? nullptr : var_memo));
      r.workdir = !r.workdir.empty() && r.workdir[0] == '/' ? util::absolute(r.workdir)
                                                            : util::absolute(util::join(spec_.dir, r.workdir));
    }
    if (r.use_joined) {
      r.joined.clear();
      for (size_t i = 0; i < r.cmds.size(); ++i) {
        if (i) r.joined += '\x1f';
        r.joined += r.cmds[i];
      }
      if (cs.workdir) (r.joined += '\x1e') += r.workdir;
    }
    r.hash = util::StringSet::hash(r.key());
    seen.prefetch(r.hash);
    return {};
  };
  // The oldest pending task: kept (handed to fn) unless its key was seen before.
  auto settle = [&] {
    const Rendered& r = ring[head];
    head = (head + 1) % depth;
    --pending;
    if (!seen.insert(r.key(), r.hash)) return;
    vars.clear();
    for (int s : cs.used_slots)  // a tag the task does not have is left out
      if (const Value* v = r.values[static_cast<size_t>(s)])
        vars.emplace_back(&sweep_.variables()[static_cast<size_t>(s)].name, v);
    fn(TaskRef{index++, r.cmds, cs.creates ? &r.creates : nullptr, cs.requires_ ? &r.requires_ : nullptr, vars,
               cs.workdir ? &r.workdir : nullptr});
  };

  sweep_.reset();
  while (sweep_.next()) {
    XRUN_TRY(render(ring[(head + pending) % depth]));
    if (++pending == depth) settle();
  }
  while (pending > 0) settle();
  return {};
}

Result<Plan> Expander::materialize() {
  Plan p;
  p.name = spec_.name;
  for (const auto& [loc, seed] : sweep_.drawn_seeds()) p.sample_seeds.emplace_back(loc.line, seed);
  size_t next_id = 0;
  for (size_t s = 0; s < stages_.size(); ++s) {
    Stage st;
    st.name = spec_.stages[s].name;
    st.on_failure = spec_.stages[s].on_failure;
    for (const auto& e : spec_.stages[s].early_stopping.value_or(spec_.early_stopping))
      st.early_stopping.push_back(EarlyStop{e.metric, e.value, e.maximize});
    for (const auto& d : spec_.stages[s].depends_on) st.after.push_back(After{d.stage, d.per_task});
    st.options = spec_.stages[s].sections;
    st.resources = spec_.stages[s].resources;
    XRUN_TRY(for_each_task(s, [&](const TaskRef& r) {
      Task t;
      t.id = next_id++;
      t.index = r.index;
      t.commands = r.commands;
      if (r.creates) t.creates = *r.creates;
      if (r.requires_) t.requires_ = *r.requires_;
      if (r.workdir) t.workdir = *r.workdir;
      for (const auto& [k, v] : r.variables) t.variables.emplace_back(*k, *v);
      st.tasks.push_back(std::move(t));
    }));
    p.stages.push_back(std::move(st));
  }
  XRUN_TRY(p.index_ids());
  return p;
}

Result<CheckReport> Expander::check() {
  CheckReport rep;
  rep.name = spec_.name;
  for (const auto& v : sweep_.variables())
    if (!v.hidden) rep.variables.push_back(v);
  rep.warnings = warnings_;
  rep.options = spec_.sections;
  for (size_t s = 0; s < stages_.size(); ++s) {
    StageSummary ss{spec_.stages[s].name, spec_.stages[s].on_failure, sweep_.combinations(), 0, 0, cap_of(s)};
    uint64_t unique = 0;
    XRUN_TRY(walk(s, [&](const TaskRef&) { ++unique; }));
    ss.duplicates = ss.combinations - unique;
    ss.tasks = ss.cap ? std::min<uint64_t>(unique, ss.cap->n) : unique;
    rep.total_tasks += ss.tasks;
    rep.stages.push_back(ss);
  }
  if (rep.total_tasks > kLargeSweepWarning)
    rep.warnings.push_back({spec_.variables_loc,
                            fmt::format("the sweep has {} tasks (over {}): check that this is intended",
                                        rep.total_tasks, kLargeSweepWarning)});
  return rep;
}

KeyStage Expander::key_stage(size_t s, const std::string& backend) const {
  return plan::key_stage(spec_.stages[s].name, spec_.workdir,
                         spec::stage_options(spec_.sections, spec_.stages[s].sections, backend), backend);
}

Result<void> Expander::write_json(std::ostream& os, const std::string& backend) {
  os << "{\"name\": " << json(spec_.name).dump() << ", \"stages\": [";
  for (size_t s = 0; s < stages_.size(); ++s) {
    if (s) os << ", ";
    os << "{\"name\": " << json(spec_.stages[s].name).dump() << ", \"on_failure\": \""
       << spec::to_string(spec_.stages[s].on_failure) << "\", \"tasks\": [";
    KeyContext keys(key_stage(s, backend));
    if (sweep_.stable_values()) {  // a task's values outlive the next combination: two threads
      ThreadedTaskWriter writer(os, &keys);
      auto r = for_each_task(s, [&](const TaskRef& t) { writer.add(t); });
      writer.finish();
      if (!r) return r;
    } else {
      TaskWriter writer(os, false, &keys);
      XRUN_TRY(for_each_task(s, [&](const TaskRef& t) { writer.add(t); }));
      writer.flush();
    }
    os << "]}";
  }
  os << "]}\n";
  return {};
}

}  // namespace xrun::plan
