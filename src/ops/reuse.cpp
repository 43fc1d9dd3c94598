#include "xrun/ops/reuse.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "xrun/run/task_key.hpp"
#include "xrun/store/index.hpp"
#include "xrun/util/clock.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::ops {

namespace {

constexpr const char* kHeader = "xrun succeeded keys 1";

std::string keys_dir(const store::Store& store) { return store.keys_dir(); }

// The stamp of an experiment's index: "INO SIZE MTIME_NS"; "" when it has none (nothing folded).
std::string index_stamp(const store::Experiment& exp) {
  struct stat st {};
  if (::lstat(exp.path("index").c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  return fmt::format("{} {} {}", st.st_ino, st.st_size,
                     static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec);
}

bool is_key(std::string_view k) {
  return k.size() == plan::KeyContext::kSize &&
         k.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// "KEY TASK" lines after the header; nullopt when the file is not one of these (a damaged cache
// is made again).
std::optional<std::vector<std::pair<std::string, size_t>>> parse_keys(std::string_view text, const std::string& stamp) {
  const std::string head = std::string(kHeader) + " " + stamp + "\n";
  if (text.substr(0, head.size()) != head) return std::nullopt;
  text.remove_prefix(head.size());
  std::vector<std::pair<std::string, size_t>> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;  // cut short
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || !is_key(line.substr(0, sp))) return std::nullopt;
    size_t task = 0;
    auto num = line.substr(sp + 1);
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), task);
    if (ec != std::errc() || end != num.data() + num.size()) return std::nullopt;
    out.emplace_back(std::string(line.substr(0, sp)), task);
  }
  return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, size_t>>> succeeded_keys(const store::Store& store,
                                                                   const store::Experiment& exp) {
  const std::string file = keys_dir(store) + "/" + exp.id();
  const std::string stamp = index_stamp(exp);
  if (stamp.empty()) {
    ::unlink(file.c_str());
    return std::vector<std::pair<std::string, size_t>>{};
  }
  if (auto text = util::read_regular_file(file))
    if (auto keys = parse_keys(*text, stamp)) return std::move(*keys);
  // Made (again) from the experiment's own records: the tasks of its index that ran and succeeded.
  if (auto d = exp.index_damage()) return make_error(fmt::format("experiment '{}': {}", exp.id(), *d));
  auto meta = exp.meta();
  if (!meta) return meta.error();
  auto p = exp.load_plan();
  if (!p) return p.error();
  auto idx = exp.index();
  const auto keys = run::plan_keys(*meta, *p);
  std::vector<std::pair<std::string, size_t>> out;
  size_t at = 0;
  for (const auto& st : p->stages)
    for (const auto& t : st.tasks) {
      const std::string& key = keys[at++];
      auto e = idx->find(t.id);
      if (!e || e->record.state != "SUCCEEDED" || (e->control && e->control->state == store::kReusedState)) continue;
      out.emplace_back(key, t.id);
    }
  std::string text = std::string(kHeader) + " " + stamp + "\n";
  for (const auto& [k, id] : out) text += fmt::format("{} {}\n", k, id);
  // A cache: written when it can be (a read-only store still reuses, from the records).
  if (util::make_dirs(keys_dir(store)))
    if (index_stamp(exp) == stamp) (void)util::atomic_write(file, text);
  return out;
}

size_t remove_stale_keys(const store::Store& store) {
  size_t n = 0;
  for (const auto& name : util::list_dir(keys_dir(store))) {
    if (name.empty() || name[0] == '.') continue;
    struct stat st {};
    if (::lstat((store.experiments_dir() + "/" + name).c_str(), &st) == 0) continue;
    if (errno == ENOENT && ::unlink((keys_dir(store) + "/" + name).c_str()) == 0) ++n;
  }
  return n;
}

SucceededKeys SucceededKeys::load(const store::Store& store, const std::string& except) {
  SucceededKeys out;
  (void)remove_stale_keys(store);
  // Newest first: the first experiment to give a key keeps it.
  for (const auto& id : store.list()) {
    if (id == except) continue;
    // (The id is listed: no Store::find, which would list the store again for each.)
    const store::Experiment exp(id, store.experiments_dir() + "/" + id);
    auto keys = succeeded_keys(store, exp);
    if (!keys || keys->empty()) continue;  // a damaged experiment is no source
    const uint32_t k = static_cast<uint32_t>(out.exps_.size());
    out.exps_.push_back(id);
    for (auto& [key, task] : *keys) out.by_key_.emplace(std::move(key), Hit{k, task});
  }
  return out;
}

const ReuseSource* SucceededKeys::find(std::string_view key) const {
  auto it = by_key_.find(std::string(key));
  if (it == by_key_.end()) return nullptr;
  found_.exp = exps_[it->second.exp];
  found_.task = it->second.task;
  return &found_;
}

Result<std::set<size_t>> reuse_finished(const store::Store& store, const store::Experiment& exp, const plan::Plan& p,
                                        const nlohmann::ordered_json& meta, const std::vector<bool>& reuse) {
  std::set<size_t> reused;
  bool any = false;
  for (size_t s = 0; s < p.stages.size(); ++s) any = any || (s < reuse.size() && reuse[s]);
  if (!any) return reused;
  const double t0 = util::steady_clock().now();
  const SucceededKeys known = SucceededKeys::load(store, exp.id());
  const double t1 = util::steady_clock().now();
  spdlog::debug("reuse: the store's succeeded keys ({}) read in {:.3f} s", known.size(), t1 - t0);
  if (known.size() == 0) return reused;
  const auto keys = run::plan_keys(meta, p);
  // The source's final facts, copied: its record (times, host, attempt) and the reason.
  std::map<std::string, std::shared_ptr<const store::TaskIndex>> indexes;
  std::vector<store::IndexEntry> entries;
  size_t at = 0;
  for (size_t s = 0; s < p.stages.size(); ++s)
    for (const auto& t : p.stages[s].tasks) {
      const std::string& key = keys[at++];
      if (s >= reuse.size() || !reuse[s]) continue;
      const ReuseSource* src = known.find(key);
      if (!src) continue;
      auto& idx = indexes[src->exp];
      if (!idx) {
        auto e = exp.sibling(src->exp);
        if (!e) continue;
        idx = e->index();
      }
      auto found = idx->find(src->task);
      if (!found || found->record.state != "SUCCEEDED") continue;  // (changed since the keys were read)
      store::IndexEntry entry;
      entry.id = t.id;
      entry.record = found->record;
      entry.record.pid = entry.record.wrapper = 0;  // no process of this experiment's
      entry.record.pid_start = entry.record.wrapper_start = 0;
      entry.control = store::ControlRecord{store::kReusedState, fmt::format("{}{}/{}", store::kReusedFrom, src->exp, src->task)};
      entries.push_back(std::move(entry));
      reused.insert(t.id);
    }
  const double t2 = util::steady_clock().now();
  auto r = exp.record_finished(entries);
  if (!r) return r.error();
  spdlog::debug("reuse: {} tasks checked in {:.3f} s, {} reused, recorded in {:.3f} s", p.task_count(), t2 - t1,
                reused.size(), util::steady_clock().now() - t2);
  return reused;
}

OutputPlace output_place(const store::Experiment& exp, size_t task, const std::string& reason) {
  OutputPlace out{exp, task, store::parse_reused_reason(reason), false};
  if (!out.reused) return out;
  if (auto from = exp.sibling(out.reused->exp)) {
    out.exp = *from;
    out.task = out.reused->task;
  } else {
    out.removed = true;
  }
  return out;
}

std::set<size_t> would_reuse(const store::Store& store, const plan::Expander& ex, const plan::Plan& p,
                             const std::string& backend, const std::vector<bool>& reuse) {
  std::set<size_t> out;
  if (std::none_of(reuse.begin(), reuse.end(), [](bool b) { return b; })) return out;
  const SucceededKeys known = SucceededKeys::load(store);
  if (known.size() == 0) return out;
  std::vector<std::string> texts;
  std::vector<std::pair<std::string_view, std::string_view>> vars;
  for (size_t s = 0; s < p.stages.size() && s < reuse.size(); ++s) {
    if (!reuse[s]) continue;
    plan::KeyContext ctx(ex.key_stage(s, backend));
    for (const auto& t : p.stages[s].tasks) {
      texts.clear();
      vars.clear();
      for (const auto& kv : t.variables) texts.push_back(kv.second.to_json().dump());
      for (size_t k = 0; k < t.variables.size(); ++k) vars.emplace_back(t.variables[k].first, texts[k]);
      if (known.find(ctx.key(t.commands, vars))) out.insert(t.id);
    }
  }
  return out;
}

}  // namespace xrun::ops
