#include "xrun/store/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>

#include <fmt/format.h>

#include "xrun/store/plan_cache.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/random.hpp"
#include "xrun/util/text.hpp"

namespace xrun::store {

namespace {

using util::parse_long;

std::string random_tag() { return util::random_token(4); }

bool valid_id(const std::string& id) {
  if (id.empty() || id[0] == '.' || id.size() > 200) return false;
  return id.find('/') == std::string::npos && id.find('\0') == std::string::npos;
}

// A task with nothing of its own (no record, decision or index entry) that the bulk record
// names: CANCELLED with its reason, as a control record would say.
void apply_unstarted(TaskFacts& f, const Unstarted& u) {
  if (f.folded || f.record || f.control || u.empty()) return;
  if (const std::string* why = u.reason_of(f.id)) f.control = ControlRecord{"CANCELLED", *why};
}

// "'/x/meta.json' is a folder" -> "is a folder": the experiment names the file.
std::string without_path(const std::string& what) {
  auto at = what.find("' ");
  return what.size() > 1 && what[0] == '\'' && at != std::string::npos ? what.substr(at + 2) : what;
}

// A store file that cannot be read as written: the experiment is damaged (exit 1, a runtime
// failure, not bad input).
Error damaged(Error e) {
  e.exit_code = 1;
  if (e.hint.empty()) e.hint = "the experiment's folder in the run store is damaged; `xrun rm` removes it";
  return e;
}

}  // namespace

std::string Experiment::task_dir(size_t task) const { return fmt::format("{}/tasks/{}", dir_, task); }

namespace {
constexpr const char* kJournal = ".replacing";
bool digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }
// The whole files a journal may name; the name of each one's new copy aside (.plan.json.<ms>.next)
// and of its copy kept as history (plan.<ms>.json).
bool replaceable(const std::string& name) {
  return name == "experiment.yml" || name == "plan.json" || name == "meta.json";
}
bool aside_of(const std::string& name, const std::string& aside) {
  const std::string head = "." + name + ".", tail = ".next";
  return aside.size() > head.size() + tail.size() && aside.compare(0, head.size(), head) == 0 &&
         aside.compare(aside.size() - tail.size(), tail.size(), tail) == 0 &&
         digits(aside.substr(head.size(), aside.size() - head.size() - tail.size()));
}
bool kept_of(const std::string& name, const std::string& kept) {
  const auto dot = name.rfind('.');
  const std::string head = name.substr(0, dot + 1), tail = name.substr(dot);
  return kept.size() > head.size() + tail.size() && kept.compare(0, head.size(), head) == 0 &&
         kept.compare(kept.size() - tail.size(), tail.size(), tail) == 0 &&
         digits(kept.substr(head.size(), kept.size() - head.size() - tail.size()));
}
}  // namespace

Result<void> Experiment::replace_files(const std::vector<std::pair<std::string, std::string>>& files,
                                       const std::vector<std::pair<std::string, std::string>>& keep) const {
  XRUN_TRY(settle());
  // Files aside that an earlier replacement left before its commit point: never used.
  for (const auto& f : util::list_dir(dir_))
    for (const char* name : {"experiment.yml", "plan.json", "meta.json"})
      if (aside_of(name, f)) ::unlink(path(f).c_str());
  const std::string stamp = fmt::format("{:.0f}", util::now_seconds() * 1000);
  json journal = json::array();
  std::vector<std::string> written;
  auto forget = [&] {
    for (const auto& f : written) ::unlink(path(f).c_str());
  };
  for (const auto& [name, content] : files) {
    std::string kept;
    for (const auto& [n, k] : keep)
      if (n == name) kept = k;
    if (!replaceable(name) || (!kept.empty() && !kept_of(name, kept)))
      return make_error(fmt::format("internal: '{}' is not replaced through a journal (as '{}')", name, kept));
    const std::string aside = "." + name + "." + stamp + ".next";
    if (auto w = util::atomic_write(path(aside), content, true); !w) {
      forget();
      return w;
    }
    written.push_back(aside);
    journal.push_back(json::array({name, aside, kept}));
  }
  util::crash_point("replace:aside");
  if (auto w = util::atomic_write(path(kJournal), journal.dump() + "\n", true); !w) {
    forget();
    return w;
  }
  util::crash_point("replace:journal");
  return settle();
}

Result<void> Experiment::settle() const {
  auto text = util::try_read_file(path(kJournal));
  if (!text) return {};
  json journal;
  try {
    journal = json::parse(*text);
  } catch (const std::exception&) {
  }
  struct Move {
    std::string name, aside, kept;
  };
  std::vector<Move> moves;
  if (journal.is_array())
    for (const auto& m : journal) {
      if (!m.is_array() || m.size() != 3 || !m[0].is_string() || !m[1].is_string() || !m[2].is_string()) break;
      Move mv{m[0].get<std::string>(), m[1].get<std::string>(), m[2].get<std::string>()};
      if (!replaceable(mv.name) || !aside_of(mv.name, mv.aside) || (!mv.kept.empty() && !kept_of(mv.name, mv.kept)))
        break;
      moves.push_back(std::move(mv));
    }
  if (moves.empty() || moves.size() != journal.size())
    return damaged(make_error(fmt::format("experiment '{}': its journal of replaced files (.replacing) is damaged", id_)));
  auto cannot = [&](const std::string& what) {
    return damaged(runtime_error(
        fmt::format("experiment '{}': a replacement of its files was cut short and cannot be finished: {}: {}", id_,
                    what, std::strerror(errno)),
        "run the command as a user who can write the run store: it finishes the replacement"));
  };
  bool first = true;
  for (const auto& m : moves) {
    if (!util::exists(path(m.aside))) continue;  // renamed already
    // History first: cut short after it, this is done again and finds it made (the old file's).
    if (!m.kept.empty() && !util::exists(path(m.kept)) && util::exists(path(m.name)))
      if (auto k = util::keep_copy(path(m.name), path(m.kept)); !k && !util::exists(path(m.kept))) return k;
    if (::rename(path(m.aside).c_str(), path(m.name).c_str()) != 0 && errno != ENOENT)  // ENOENT: another did it
      return cannot(fmt::format("cannot rename '{}' over '{}'", m.aside, m.name));
    if (first) util::crash_point("replace:renamed");
    first = false;
  }
  XRUN_TRY(util::sync_dir(dir_));
  if (::unlink(path(kJournal).c_str()) != 0 && errno != ENOENT) return cannot("cannot remove .replacing");
  return {};
}

Result<json> Experiment::meta() const {
  XRUN_TRY(settle());
  auto text = util::read_regular_file(path("meta.json"));
  if (!text && text.error().os_errno == ENOENT)
    return damaged(make_error(fmt::format("experiment '{}' has no meta.json", id_), "the store folder is damaged"));
  if (!text) return damaged(make_error(fmt::format("experiment '{}': its meta.json {}", id_, without_path(text.error().what))));
  json j;
  try {
    j = json::parse(*text);
  } catch (const std::exception& e) {
    return damaged(make_error(fmt::format("experiment '{}': meta.json is not valid JSON: {}", id_, e.what())));
  }
  // Every reader takes these fields for granted: check their types once, here.
  static const std::vector<std::pair<const char*, json::value_t>> fields = {
      {"id", json::value_t::string},      {"name", json::value_t::string},   {"file", json::value_t::string},
      {"workdir", json::value_t::string}, {"shell", json::value_t::string},  {"backend", json::value_t::string},
      {"host", json::value_t::string},    {"user", json::value_t::string},   {"options", json::value_t::object},
      {"set", json::value_t::array},      {"stages", json::value_t::array}};
  if (!j.is_object()) return damaged(make_error(fmt::format("experiment '{}': meta.json is not a JSON object", id_)));
  for (const auto& [key, type] : fields)
    if (j.contains(key) && j[key].type() != type)
      return damaged(make_error(fmt::format("experiment '{}': meta.json's '{}' has the wrong type", id_, key)));
  for (const char* key : {"created", "tasks"})
    if (j.contains(key) && !j[key].is_number())
      return damaged(make_error(fmt::format("experiment '{}': meta.json's '{}' is not a number", id_, key)));
  if (j.contains("set"))
    for (const auto& s : j["set"])
      if (!s.is_string()) return damaged(make_error(fmt::format("experiment '{}': meta.json's 'set' is damaged", id_)));
  return j;
}

Result<plan::Plan> Experiment::load_plan() const {
  XRUN_TRY(settle());
  auto read = read_plan(dir_);  // through its cache, plan.bin, when that is valid
  if (!read) return damaged(make_error(fmt::format("experiment '{}' has no plan.json", id_), "the store folder is damaged"));
  auto& p = *read;
  if (!p) return damaged(make_error(fmt::format("experiment '{}' is damaged: {}", id_, p.error().what), p.error().hint));
  return std::move(p);
}

std::string Experiment::plan_stamp() const {
  struct stat st {};
  if (::stat(path("plan.json").c_str(), &st) != 0) return "";
  return fmt::format("{}:{}.{:09}", st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

std::optional<json> Experiment::runner() const {
  auto text = util::try_read_file(path("runner.json"));
  if (!text) return std::nullopt;
  json j;
  try {
    j = json::parse(*text);
  } catch (...) {
    return std::nullopt;
  }
  if (!j.is_object()) return std::nullopt;
  // A field of the wrong type is dropped: readers use value() with typed defaults.
  for (const char* key : {"state", "host", "backend"})
    if (j.contains(key) && !j[key].is_string()) j.erase(key);
  for (const char* key : {"pid", "started", "ended", "exit_code", "jobs"})
    if (j.contains(key) && !j[key].is_number() && !(std::string(key) == "jobs" && j[key].is_array())) j.erase(key);
  return j;
}

namespace {
constexpr size_t kRunnerRoom = 4096;
// JSON allows trailing blanks: the padding is part of a valid document.
std::string padded(std::string text, size_t room) {
  if (text.size() < room) text.append(room - text.size() - 1, ' ').push_back('\n');
  return text;
}
}  // namespace

Result<void> Experiment::write_runner(const json& j, bool reserve) const {
  std::string text = j.dump(2) + "\n";
  auto r = util::atomic_write(path("runner.json"), reserve ? padded(text, kRunnerRoom) : text);
  if (r || reserve) return r;
  // No room for a new file: over the room reserved when the runner started.
  if (util::overwrite_in_place(path("runner.json"), padded(text, kRunnerRoom))) return {};
  return r;
}

Result<void> Experiment::write_final_record(size_t task, const WrapperRecord& w) const {
  XRUN_TRY(check_task_dir(task));
  std::string text = format_wrapper_record(w);
  const std::string p = task_dir(task) + "/status";
  auto r = util::atomic_write(p, text);
  if (r) return r;
  if (util::overwrite_in_place(p, text)) return {};
  return r;
}

std::set<size_t> Experiment::cancelled() const {
  std::set<size_t> ids;
  for (const auto& f : util::list_dir(path("cancel"))) {
    if (f.empty() || f[0] == '.') continue;
    auto text = util::try_read_file(path("cancel/" + f));
    if (!text) continue;
    for (const auto& line : util::split(*text, '\n'))
      if (auto v = parse_long(line); v && *v >= 0) ids.insert(static_cast<size_t>(*v));
  }
  return ids;
}

Result<void> Experiment::add_cancel_request(const std::vector<size_t>& ids) const {
  XRUN_TRY(util::make_dirs_under(dir_, "cancel"));
  std::string body;
  for (size_t id : ids) body += fmt::format("{}\n", id);
  auto name = fmt::format("cancel/{:.6f}-{}-{}", util::now_seconds(), ::getpid(), random_tag());
  return util::atomic_write(path(name), body);
}

Result<void> Experiment::write_control(size_t task, const ControlRecord& c) const {
  XRUN_TRY(check_task_dir(task));
  XRUN_TRY(util::make_dirs_under(dir_, fmt::format("tasks/{}", task)));
  return util::atomic_write(task_dir(task) + "/control", format_control_record(c));
}

TaskFacts Experiment::facts_of(size_t task, bool cancelled) const {
  // The index first (a folded task's facts are there, whatever files a crash left); then the
  // records, then the index again: a folder removes records only once the index that holds them
  // is in place, so a task folded meanwhile is found there.
  auto from_index = [&]() -> std::optional<TaskFacts> {
    auto e = index()->find(task);
    if (!e) return std::nullopt;
    TaskFacts f = facts_of_entry(*e);
    f.cancel_requested = cancelled;
    return f;
  };
  if (auto f = from_index()) return *f;
  util::Fd dir = util::open_under(dir_, dir_ + "/tasks", O_RDONLY | O_DIRECTORY);
  TaskFacts f = facts_at(dir.valid() ? dir.get() : -1, task, cancelled);
  if (!f.record || !f.record->final())
    if (auto g = from_index()) return *g;
  apply_unstarted(f, *unstarted());
  return f;
}

TaskFacts Experiment::facts_at(int tasks_fd, size_t task, bool cancelled) const {
  TaskFacts f;
  f.id = task;
  f.cancel_requested = cancelled;
  if (tasks_fd < 0) return f;
  const std::string d = std::to_string(task) + "/";
  // No link planted in the store is followed.
  auto read = [&](const char* name) { return util::try_read_record_beneath(tasks_fd, d + name); };
  // `started` first: the wrapper reserves `status` before `started` and writes its final record
  // after both, so without `started` there is no final record either (and a task queued at a
  // scheduler costs one lookup less).
  auto start = read("started");
  // A blank `started` (room reserved, or a reused folder's) means not started: whatever `status`
  // holds then is no record of this task (the wrappers blank `status` before they write `started`).
  const bool begun = start && start->find_first_not_of(" \n") != std::string::npos;
  if (begun)
    if (auto t = read("status")) f.record = parse_wrapper_record(*t);
  if (!f.record && begun) f.record = parse_wrapper_record(*start);
  // A decision matters for a task that succeeded too: a TIMEOUT made before it was stopped at its
  // time limit (it trapped the signal and exited 0). (Any other is void for a success.)
  if (auto t = read("control")) {
    f.control = parse_control_record(*t);
    if (f.control && f.record && f.record->state == "SUCCEEDED" && f.control->state != "TIMEOUT") f.control.reset();
  }
  return f;
}

std::optional<std::vector<bool>> task_entries(int tasks_fd, size_t count) {
  std::vector<bool> seen(count, false);
  bool ok = util::for_each_name(tasks_fd, [&](std::string_view n) {
    if (n.empty() || n.size() > 19 || (n[0] == '0' && n.size() > 1)) return;
    size_t id = 0;
    for (char c : n) {
      if (c < '0' || c > '9') return;
      id = id * 10 + static_cast<size_t>(c - '0');
    }
    if (id < count) seen[id] = true;
  });
  if (!ok) return std::nullopt;
  return seen;
}

std::vector<TaskFacts> Experiment::facts(const plan::Plan& p) const {
  std::set<size_t> cancelled_ids = cancelled();
  const auto never_started = unstarted();
  std::vector<TaskFacts> out;
  out.reserve(p.task_count());
  auto idx = index();
  util::Fd tasks_dir = util::open_under(dir_, dir_ + "/tasks", O_RDONLY | O_DIRECTORY);
  // Listed after the index was read: a task folded since is found in the index read again
  // below; one reopened since was in the index read here; a folder made after the listing is
  // that of a task that starts now (read as it was a moment before). When the folder cannot be
  // listed, every task's records are looked up.
  std::optional<std::vector<bool>> entries;
  if (tasks_dir.valid()) entries = task_entries(tasks_dir.get(), p.id_end());
  for (size_t s = 0; s < p.stages.size(); ++s) {
    for (size_t i = 0; i < p.stages[s].tasks.size(); ++i) {
      const size_t id = p.stages[s].tasks[i].id;
      const bool cancelled = cancelled_ids.count(id) > 0;
      TaskFacts f;
      if (auto e = idx->find(id)) f = facts_of_entry(*e);
      else if (entries && !(*entries)[id]) f.id = id;  // no folder: no record
      else f = facts_at(tasks_dir.valid() ? tasks_dir.get() : -1, id, cancelled);
      f.cancel_requested = cancelled;
      f.stage = s;
      f.index = i;
      apply_unstarted(f, *never_started);
      out.push_back(std::move(f));
    }
  }
  // A folder that replaced the index while the records were read may have removed some of
  // them since: the tasks it folded are read from the new index.
  if (auto now = index(); now != idx)
    for (auto& f : out)
      if (auto e = f.folded ? std::nullopt : now->find(f.id)) {
        TaskFacts g = facts_of_entry(*e);
        g.cancel_requested = f.cancel_requested;
        g.stage = f.stage;
        g.index = f.index;
        f = std::move(g);
      }
  return out;
}

namespace {

struct FileId {
  ino_t ino = 0;
  off_t size = -1;
  long long mtime = 0;
  bool operator==(const FileId& o) const { return ino == o.ino && size == o.size && mtime == o.mtime; }
};

FileId file_id(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  return {st.st_ino, st.st_size, static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

// index.lock, held (flock) by whoever rewrites the index; released when the fd closes.
Result<util::Fd> lock_index(const std::string& path, bool wait) {
  util::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd.valid())
    return runtime_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)),
                         "check that the run store is writable");
  while (::flock(fd.get(), LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK && !wait) return util::Fd();
    return runtime_error(fmt::format("cannot lock '{}': {}", path, std::strerror(errno)));
  }
  return fd;
}

// A task's files once its facts are in the index: the records and the script go, and so do
// empty output files; the folder goes when nothing is left (metrics, earlier attempts, output
// stay). Nothing is followed through a link.
void tidy_folded(int tasks_fd, size_t task) {
  const std::string name = std::to_string(task);
  util::Fd d(::openat(tasks_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d.valid()) return;
  for (const char* f : {"status", "started", "control", "attempt", "cmd.sh"}) ::unlinkat(d.get(), f, 0);
  for (const char* f : {"stdout", "stderr", "wrapper.log"}) {
    struct stat st {};
    if (::fstatat(d.get(), f, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
      ::unlinkat(d.get(), f, 0);
  }
  d.reset();
  ::unlinkat(tasks_fd, name.c_str(), AT_REMOVEDIR);  // only when empty
}

// Keep a folded task's folder whole, where it is, as a spare one for a new task, when it holds
// nothing but its records, its script and empty output files (`e`: what the fold found kept).
// Its `started` is blanked (the index holds its facts already, and readers look there first; a
// record's first line, its state, is in its first 512 bytes), so that the folder, renamed to a
// new task's id, holds no record; its script, control and attempt go. Returns false otherwise.
bool spare_folded(int tasks_fd, const IndexEntry& e) {
  if (e.has_stdout || e.has_stderr || e.has_metrics) return false;
  const std::string name = std::to_string(e.id);
  util::Fd dir(::openat(tasks_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return false;
  static const std::set<std::string_view> kFiles = {"started", "status", "cmd.sh", "stdout", "stderr", "control", "attempt"};
  bool plain = true;
  std::vector<const char*> drop;
  bool listed = util::for_each_entry(dir.get(), [&](std::string_view n, unsigned char type) {
    auto it = kFiles.find(n);
    struct stat st {};
    bool regular = type == DT_REG || (type == DT_UNKNOWN &&
                                      ::fstatat(dir.get(), std::string(n).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                      S_ISREG(st.st_mode));
    if (it == kFiles.end() || !regular) return plain = false;
    if (n == "control" || n == "attempt" || n == "cmd.sh") drop.push_back(it->data());
    return true;
  });
  const int d = dir.get();
  bool ok = listed && plain;
  // Nobody may still have its output open: a process that left the task's process group
  // (setsid) holding the task's stdout would write into the next task's log. A write lease is
  // granted only when no one else has the file open (where leases are not supported, the folder
  // is not reused).
  // `op` on each of these files that exists (opened with `flags`), while all goes well.
  auto each = [&](std::initializer_list<const char*> files, int flags, auto op) {
    for (const char* f : files) {
      if (!ok) return;
      util::Fd file(::openat(d, f, flags | O_NOFOLLOW | O_CLOEXEC));
      ok = file.valid() ? op(file.get()) : errno == ENOENT;
    }
  };
  // (The lease goes with the descriptor.)
  each({"stdout", "stderr"}, O_RDONLY, [](int out) { return ::fcntl(out, F_SETLEASE, F_WRLCK) == 0; });
  for (const char* f : drop) ok = ok && ::unlinkat(d, f, 0) == 0;
  // `started` only: a final record counts only next to a `started` that is not blank (the
  // wrappers reserve `status` before `started` and write `started` first), so the old `status`
  // is nothing until the new task's worker has blanked it, which it does before its `started`.
  static const std::string kBlank = std::string(511, ' ') + '\n';
  if (ok) {
    util::Fd started(::openat(d, "started", O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    ok = started.valid() &&
         ::pwrite(started.get(), kBlank.data(), kBlank.size(), 0) == static_cast<ssize_t>(kBlank.size());
  }
  return ok;
}

// Whether some process of the task's group still runs here (a background job that outlived the
// task's shell): it may still write the task's output, so the task is not folded yet (its empty
// output files would go, and what it writes later with them). A group on another host, or
// none recorded (the wrapper's own: a task that never started, or one run by the sh wrapper),
// does not hold a fold back.
bool group_lives(const WrapperRecord& w) {
  static const std::string here = util::hostname();
  if (w.pid <= 0 || w.pid == w.wrapper || w.host != here) return false;
  return ::kill(static_cast<pid_t>(-w.pid), 0) == 0 || errno == EPERM;
}

// Whether a task's file is kept (anything but a missing or empty regular file).
bool kept(int tasks_fd, size_t task, const char* file) {
  struct stat st {};
  if (::fstatat(tasks_fd, fmt::format("{}/{}", task, file).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  return !S_ISREG(st.st_mode) || st.st_size > 0;
}

}  // namespace

struct Experiment::UnstartedCache {
  FileId id;
  std::shared_ptr<const Unstarted> record = std::make_shared<Unstarted>();
};

std::shared_ptr<const Unstarted> Experiment::unstarted() const {
  if (!unstarted_cache_) unstarted_cache_ = std::make_shared<UnstartedCache>();
  auto& c = *unstarted_cache_;
  FileId id = file_id(path("unstarted"));
  if (id == c.id) return c.record;
  c.id = id;
  auto text = id.size >= 0 ? util::read_regular_file(path("unstarted")) : Result<std::string>(std::string());
  c.record = std::make_shared<Unstarted>(Unstarted::parse(text ? *text : std::string()));
  return c.record;
}

Result<void> Experiment::record_unstarted(const std::vector<size_t>& ids, const std::string& reason) const {
  if (ids.empty()) return {};
  Unstarted u = *unstarted();
  u.add(ids, reason);
  return util::atomic_write(path("unstarted"), u.format(), true);
}

Result<void> Experiment::release_unstarted(const std::set<size_t>& ids) const {
  Unstarted u = *unstarted();
  if (!u.remove(ids)) return {};
  if (u.empty()) {
    if (::unlink(path("unstarted").c_str()) != 0 && errno != ENOENT)
      return runtime_error(fmt::format("cannot remove '{}': {}", path("unstarted"), std::strerror(errno)));
    return {};
  }
  return util::atomic_write(path("unstarted"), u.format(), true);
}

struct Experiment::IndexCache {
  FileId id;              // the file as last looked at
  off_t consumed = 0;     // bytes parsed: whole lines
  std::string last;       // the last bytes parsed: still there when the file only grew since
  bool cut = false;       // the text after `consumed` (no newline yet) was counted as damaged
  std::shared_ptr<TaskIndex> index;
};

namespace {
constexpr size_t kLastBytes = 64;
}

std::shared_ptr<const TaskIndex> Experiment::index() const {
  if (!index_cache_) index_cache_ = std::make_shared<IndexCache>();
  auto& c = *index_cache_;
  FileId id = file_id(path("index"));
  if (c.index && id == c.id) return c.index;
  util::Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  util::Fd file = id.size >= 0 && dir.valid() ? util::open_file_beneath(dir.get(), "index") : util::Fd();
  struct stat st {};
  if (!file.valid() || ::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    c = IndexCache{};
    c.id = id;
    c.index = std::make_shared<TaskIndex>();
    return c.index;
  }
  auto read_from = [&](off_t from) {
    std::string text(static_cast<size_t>(std::max<off_t>(0, st.st_size - from)), '\0');
    size_t got = 0;
    while (got < text.size()) {
      ssize_t n = ::pread(file.get(), text.data() + got, text.size() - got, from + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    text.resize(got);
    return text;
  };
  // Appended to since (the same file, its parsed part unchanged): only the new lines are read.
  off_t from = 0;
  std::string text;
  if (c.index && st.st_ino == c.id.ino && st.st_size >= c.consumed && c.consumed > 0 &&
      c.consumed >= static_cast<off_t>(c.last.size())) {
    from = c.consumed - static_cast<off_t>(c.last.size());
    text = read_from(from);
    if (std::string_view(text).substr(0, c.last.size()) != c.last) from = 0;  // another file
  }
  std::string_view fresh;
  if (from > 0) {
    fresh = std::string_view(text).substr(c.last.size());
    if (c.index.use_count() > 1) c.index = std::make_shared<TaskIndex>(*c.index);  // readers keep theirs
  } else {
    text = read_from(0);
    fresh = text;
    c.index = std::make_shared<TaskIndex>();
    c.consumed = 0;
  }
  // A last line without its newline (cut short by a crash, or being appended right now) counts
  // as damaged, and is read again next time.
  if (from > 0 && c.cut) c.index->forget_damaged(1);
  size_t whole = fresh.rfind('\n');
  whole = whole == std::string_view::npos ? 0 : whole + 1;
  c.index->add_text(fresh);
  c.cut = whole < fresh.size();
  c.consumed += static_cast<off_t>(whole);
  std::string_view parsed(text.data(), static_cast<size_t>(c.consumed - from));
  c.last = std::string(parsed.substr(parsed.size() - std::min(parsed.size(), kLastBytes)));
  c.id = {st.st_ino, st.st_size, static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
  if (static_cast<off_t>(c.consumed) != st.st_size) c.id.size = -2;  // a part not parsed yet: look again next time
  return c.index;
}

namespace {

// Append index lines to the file the cache has parsed in full (one write, then fdatasync);
// false when it cannot be (missing, replaced meanwhile, a last line cut short): the caller
// writes the index whole.
constexpr const char* kIndexed = "indexed";  // made (durably) before the first index is written

Result<bool> append_index(const std::string& dir, ino_t ino, off_t parsed, const std::string& lines) {
  util::Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.valid() || parsed <= 0) return false;
  util::Fd fd(::openat(d.get(), "index", O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != ino || st.st_size != parsed)
    return false;
  if (int err = util::write_fully(fd.get(), lines)) {
    // Nothing half-written stays: the lines go again with the next fold.
    if (::ftruncate(fd.get(), parsed) != 0) {}
    return runtime_error(fmt::format("cannot append to '{}/index': {}", dir, std::strerror(err)),
                         "check that the run store is writable and the disk is not full");
  }
  if (::fdatasync(fd.get()) != 0)
    return runtime_error(fmt::format("cannot sync '{}/index': {}", dir, std::strerror(errno)),
                         "check that the run store is writable");
  return true;
}

}  // namespace

Result<void> Experiment::add_to_index(const TaskIndex& idx, const std::vector<IndexEntry>& entries) const {
  std::string lines;
  for (const auto& e : entries) lines += TaskIndex::format_entry(e);
  const auto& c = *index_cache_;
  // (Written whole, too, when some of its lines are damaged: they go.)
  auto appended = c.id.size >= 0 && idx.damaged() == 0 ? append_index(dir_, c.id.ino, c.consumed, lines)
                                                        : Result<bool>(false);
  if (!appended) return appended.error();
  if (!appended.value()) {
    TaskIndex whole = idx;
    for (const auto& e : entries) whole.put(e);
    XRUN_TRY(util::atomic_write(path("index"), whole.format(), true));
  }
  // Once an index holds them, and before any task's records go: the mark that tasks were folded,
  // so that a missing index is damage, not "never folded" (a crash before it leaves every record).
  struct stat marked {};
  if (::lstat(path(kIndexed).c_str(), &marked) != 0) XRUN_TRY(util::atomic_write(path(kIndexed), "", true));
  return {};
}

Result<size_t> Experiment::record_finished(const std::vector<IndexEntry>& entries) const {
  if (entries.empty()) return size_t{0};
  auto lock = lock_index(path("index.lock"), true);
  if (!lock) return lock.error();
  if (auto d = index_damage()) return damaged(make_error(fmt::format("experiment '{}': {}", id_, *d)));
  auto idx = index();
  std::vector<IndexEntry> fresh;
  for (const auto& e : entries)
    if (!idx->contains(e.id)) fresh.push_back(e);
  if (fresh.empty()) return size_t{0};
  XRUN_TRY(add_to_index(*idx, fresh));
  return fresh.size();
}

Result<size_t> Experiment::fold(const std::vector<size_t>& tasks, bool requeues, const std::set<size_t>* recycle,
                                std::vector<std::string>* spared) const {
  if (tasks.empty() || util::is_symlink(path("tasks"))) return size_t{0};
  auto lock = lock_index(path("index.lock"), false);
  if (!lock) return lock.error();
  if (!lock->valid()) return size_t{0};  // another process folds right now
  // Under the lock: the index as it is now, and each task's records read again.
  if (index_damage()) return size_t{0};  // never over a damaged index: the tasks stay in their files
  auto idx = index();
  util::Fd tasks_fd(::open(path("tasks").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!tasks_fd.valid()) return size_t{0};
  std::vector<size_t> added;
  std::vector<IndexEntry> entries;
  for (size_t id : tasks) {
    if (idx->contains(id)) continue;
    // A task the runner saw end with its whole group gone (`recycle`) needs no second look at its
    // group, nor at its `started`: its worker said it ended after writing its `status` over the
    // room it had blanked before the start, so `status` is this attempt's (when it reads as a
    // success; anything else is read as any task is).
    const bool seen_end = recycle && recycle->count(id);
    TaskFacts f;
    if (seen_end) {
      f.id = id;
      if (auto t = util::try_read_record_beneath(tasks_fd.get(), fmt::format("{}/status", id))) {
        f.record = parse_wrapper_record(*t);
        if (f.record && f.record->state != "SUCCEEDED") f.record.reset();
      }
    }
    if (!f.record) f = facts_at(tasks_fd.get(), id);
    if (!foldable(f, requeues) || (!seen_end && group_lives(*f.record))) continue;
    IndexEntry e;
    e.id = id;
    e.record = *f.record;
    e.control = f.control;
    e.has_stdout = kept(tasks_fd.get(), id, "stdout");
    e.has_stderr = kept(tasks_fd.get(), id, "stderr");
    e.has_metrics = kept(tasks_fd.get(), id, "metrics.jsonl");
    entries.push_back(std::move(e));
    added.push_back(id);
  }
  if (added.empty()) return size_t{0};
  // Durable before any record goes: a crash leaves either the records or the index holding them.
  XRUN_TRY(add_to_index(*idx, entries));
  // The spare candidates are listed (in `spares`, for the next runner to tidy, should this one be
  // killed while it holds them) before any is kept: a folder listed and tidied anyway costs nothing.
  bool may_spare = false;
  if (recycle && spared && !recycle->empty()) {
    std::string names;
    for (const auto& e : entries)
      if (recycle->count(e.id)) names += fmt::format("{}\n", e.id);
    util::Fd list(::open(path("spares").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644));
    may_spare = !names.empty() && list.valid() &&
                ::write(list.get(), names.data(), names.size()) == static_cast<ssize_t>(names.size());
  }
  for (const auto& e : entries) {
    if (may_spare && recycle->count(e.id) && spare_folded(tasks_fd.get(), e))
      spared->push_back(std::to_string(e.id));
    else
      tidy_folded(tasks_fd.get(), e.id);
  }
  return added.size();
}

Result<void> Experiment::reopen(const std::vector<size_t>& tasks) const {
  auto lock = lock_index(path("index.lock"), true);
  if (!lock) return lock.error();
  if (auto d = index_damage()) return damaged(make_error(fmt::format("experiment '{}': {}", id_, *d)));
  TaskIndex idx = *index();
  std::vector<size_t> reopened;
  for (size_t id : tasks) {
    auto e = idx.find(id);
    if (!e) continue;
    // The facts go back to the task's own files, as the wrapper and the runner wrote them: the
    // attempt is then archived like any other (archive_attempt).
    XRUN_TRY(check_task_dir(id));
    const std::string d = task_dir(id);
    XRUN_TRY(util::make_dirs_under(dir_, fmt::format("tasks/{}", id)));
    XRUN_TRY(util::atomic_write(d + "/attempt", fmt::format("{}\n", std::max(1, e->record.attempt))));
    if (e->control) XRUN_TRY(util::atomic_write(d + "/control", format_control_record(*e->control)));
    // `started` too: readers look for `status` only where `started` exists.
    XRUN_TRY(util::atomic_write(d + "/started", format_wrapper_record(e->record)));
    XRUN_TRY(util::atomic_write(d + "/status", format_wrapper_record(e->record)));
    reopened.push_back(id);
  }
  if (reopened.empty()) return {};
  for (size_t id : reopened) idx.erase(id);
  return util::atomic_write(path("index"), idx.format(), true);
}

std::optional<std::string> Experiment::index_damage() const {
  struct stat st {};
  if (::lstat(path("index").c_str(), &st) != 0) {
    if (errno != ENOENT) return fmt::format("its index of finished tasks cannot be read: {}", std::strerror(errno));
    if (::lstat(path(kIndexed).c_str(), &st) == 0)
      return std::string("its index of finished tasks is missing, although tasks were folded into it");
    return std::nullopt;  // never folded
  }
  if (S_ISLNK(st.st_mode)) return std::string("its index of finished tasks is a symbolic link, which is not followed");
  if (S_ISDIR(st.st_mode)) return std::string("its index of finished tasks is a folder, not a file");
  if (!S_ISREG(st.st_mode)) return std::string("its index of finished tasks is not a regular file");
  if (st.st_size == 0) return std::string("its index of finished tasks is empty (cut short: not even its header)");
  const auto header = TaskIndex::header();
  std::string head(header.size(), '\0');
  util::Fd fd(::open(path("index").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  ssize_t n = fd.valid() ? ::pread(fd.get(), head.data(), head.size(), 0) : -1;
  if (n < 0) return fmt::format("its index of finished tasks cannot be read: {}", std::strerror(errno));
  head.resize(static_cast<size_t>(n));
  if (head != header) return std::string("its index of finished tasks does not start with its header (overwritten)");
  return std::nullopt;
}

Result<void> Experiment::check_task_dir(size_t task) const {
  if (util::is_symlink(path("tasks")) || util::is_symlink(task_dir(task)))
    return damaged(make_error(fmt::format("experiment '{}': {} is a symbolic link; xrun writes nothing through it",
                                          id_, task_dir(task)),
                              "a task's folder must be a plain folder inside the run store; remove the link"));
  return {};
}

Result<bool> Experiment::record_verdict(size_t task, const ControlRecord& c) const {
  XRUN_TRY(check_task_dir(task));
  const std::string d = task_dir(task);
  // A task that never started may have no folder yet (batch tasks get theirs when they start):
  // it is made here, one level only (never the experiment's own folders).
  if (!util::is_dir(d) && ::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) return false;
  if (util::exists(d + "/control")) return false;
  const std::string tmp = fmt::format("{}/.verdict.{}.{}", d, ::getpid(), random_tag());
  XRUN_TRY(util::atomic_write(tmp, format_control_record(c)));
  bool made = ::link(tmp.c_str(), (d + "/control").c_str()) == 0;
  int err = errno;
  ::unlink(tmp.c_str());
  if (!made && err != EEXIST)
    return runtime_error(fmt::format("cannot record task {}'s final state: {}", task, std::strerror(err)),
                      "check that the run store is writable");
  return made;
}

Result<int> Experiment::archive_attempt(size_t task) const {
  XRUN_TRY(check_task_dir(task));
  // A folded task leaves the index first (`xrun resume` does this for all its tasks at once).
  if (index()->contains(task)) XRUN_TRY(reopen({task}));
  std::string d = task_dir(task);
  XRUN_TRY(util::make_dirs_under(dir_, fmt::format("tasks/{}", task)));
  int prev = 0;
  if (auto t = util::try_read_file(d + "/attempt")) prev = static_cast<int>(parse_long(util::trim(*t)).value_or(0));
  // (Empty files are no attempt's, nor are records of blanks: a reused folder holds them before
  // its task starts, and so does a folder whose worker reserved the records' room and died.)
  auto has = [&](const char* f) {
    struct stat st {};
    return ::lstat((d + "/" + f).c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > 0);
  };
  auto has_record = [&](const char* f) {
    if (!has(f)) return false;
    auto text = util::try_read_file(d + "/" + f);
    return !text || text->find_first_not_of(" \n") != std::string::npos;
  };
  // (`status` is no record next to a blank `started`: see facts_at.)
  const bool blank_start = has("started") && !has_record("started");
  bool has_files = has_record("started") || (!blank_start && has_record("status")) || has("control") || has("stdout");
  // A batch task's first attempt leaves no `attempt` file (its number is in its records).
  if (prev == 0 && has_files) prev = 1;
  if (prev > 0 && has_files) {
    std::string a = fmt::format("{}/attempts/{}", d, prev);
    XRUN_TRY(util::make_dirs_under(d, fmt::format("attempts/{}", prev)));
    for (const char* f : {"started", "status", "control", "stdout", "stderr", "cmd.sh", "metrics.jsonl"})
      if (util::exists(d + "/" + f)) XRUN_TRY(util::rename_path(d + "/" + f, a + "/" + f));
    // A `status` next to a blank `started` is an earlier task's (a reused folder's): archived,
    // it would read as this attempt's end (this attempt never started). It goes (`started` is
    // looked at again where it now is: a worker still starting the task writes through it).
    auto started = blank_start ? util::try_read_file(a + "/started") : std::nullopt;
    if (started && started->find_first_not_of(" \n") == std::string::npos &&
        ::unlink((a + "/status").c_str()) != 0 && errno != ENOENT)
      return runtime_error(fmt::format("cannot remove {}/status: {}", a, std::strerror(errno)),
                           "check that the run store is writable");
  }
  // An attempt that never started (no files) keeps its number.
  int next = (prev > 0 && !has_files) ? prev : prev + 1;
  XRUN_TRY(util::atomic_write(d + "/attempt", fmt::format("{}\n", next)));
  return next;
}

Result<void> Experiment::restore_attempt(size_t task, int attempt) const {
  XRUN_TRY(check_task_dir(task));
  const int prev = attempt - 1;
  const std::string d = task_dir(task);
  const std::string a = fmt::format("{}/attempts/{}", d, prev);
  if (prev < 1 || !util::is_dir(a)) return {};
  for (const char* f : {"started", "status", "control", "stdout", "stderr"})
    if (util::exists(d + "/" + f)) return {};  // the new attempt began to be recorded: it stays
  for (const char* f : {"started", "status", "control", "stdout", "stderr", "cmd.sh", "metrics.jsonl"})
    if (util::exists(a + "/" + f)) XRUN_TRY(util::rename_path(a + "/" + f, d + "/" + f));
  ::rmdir(a.c_str());
  return util::atomic_write(d + "/attempt", fmt::format("{}\n", prev));
}

Result<int> Experiment::tasks_fd() const {
  if (!tasks_fd_) {
    util::Fd fd(::open(path("tasks").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid() && (errno == ELOOP || errno == ENOTDIR))
      return damaged(make_error(fmt::format("experiment '{}': {} is not a folder (a symbolic link?); xrun writes nothing "
                                            "through it", id_, path("tasks")),
                                "the tasks folder must be a plain folder inside the run store; remove what is there"));
    if (!fd.valid())
      return runtime_error(fmt::format("cannot open {}: {}", path("tasks"), std::strerror(errno)),
                           "check that the run store is writable and was not removed meanwhile");
    tasks_fd_ = std::make_shared<util::Fd>(std::move(fd));
  }
  return tasks_fd_->get();
}

Result<int> Experiment::begin_attempt(size_t task, bool* fresh, std::vector<std::string>* spares) const {
  if (fresh) *fresh = false;
  // A task folded into the index (its folder may be gone) is reopened and archived first.
  if (index()->contains(task)) return archive_attempt(task);
  // A new folder is made (or a spare one renamed) inside tasks/ as opened once, never through a
  // link; one that exists already (whatever it is) is left to archive_attempt, which checks it.
  auto tasks = tasks_fd();
  if (!tasks) return tasks.error();
  const std::string name = std::to_string(task);
  while (spares && !spares->empty()) {
    // (One rename inside tasks/: a spare folder is a folded task's, kept where it was.)
    if (::renameat2(tasks.value(), spares->back().c_str(), tasks.value(), name.c_str(), RENAME_NOREPLACE) == 0) {
      spares->pop_back();
      if (fresh) *fresh = true;
      return 1;
    }
    if (errno == EEXIST) break;  // the task has a folder: archived below
    spares->pop_back();          // (gone: tidied at the runner's end)
  }
  if (::mkdirat(tasks.value(), name.c_str(), 0755) == 0) {
    if (fresh) *fresh = true;
    return 1;
  }
  if (errno != EEXIST)
    return runtime_error(fmt::format("cannot make task {}'s folder {}: {}", task, task_dir(task), std::strerror(errno)),
                         "check that the run store is writable and the disk is not full");
  return archive_attempt(task);
}

void Experiment::remove_spares(const std::vector<std::string>& spares) const {
  util::Fd tasks(::open(path("tasks").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  // Only folded tasks' folders are tidied (never one a task runs in now).
  auto idx = index();
  auto tidy = [&](std::string_view name) {
    auto id = parse_long(std::string(name));
    if (tasks.valid() && id && *id >= 0 && std::to_string(*id) == name && idx->contains(static_cast<size_t>(*id)))
      tidy_folded(tasks.get(), static_cast<size_t>(*id));
  };
  for (const auto& n : spares) tidy(n);
  // Those an earlier runner listed (it was killed while it held them), then the list.
  if (auto listed = util::try_read_file(path("spares")))
    for (const auto& n : util::split(*listed, '\n'))
      if (!n.empty()) tidy(n);
  ::unlink(path("spares").c_str());
  util::remove_all(path("spare"));  // (where earlier versions kept them)
}

std::optional<Experiment> Experiment::sibling(const std::string& id) const {
  if (!valid_id(id) || id == id_) return std::nullopt;
  const size_t slash = dir_.rfind('/');
  if (slash == std::string::npos) return std::nullopt;
  const std::string dir = dir_.substr(0, slash) + "/" + id;
  struct stat st {};
  if (::lstat((dir + "/meta.json").c_str(), &st) != 0) return std::nullopt;
  return Experiment(id, dir);
}

bool Experiment::runner_alive() const {
  util::Fd fd = util::open_under(dir_, path("lock"), O_RDONLY | O_NONBLOCK);
  if (!fd.valid()) return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_pid = 0;  // (F_OFD_GETLK requires it)
  if (::fcntl(fd.get(), F_OFD_GETLK, &fl) != 0) return false;
  return fl.l_type != F_UNLCK;
}

Result<RunnerLock> RunnerLock::acquire(const Experiment& exp) {
  RunnerLock l;
  l.fd_ = util::open_under(exp.dir(), exp.path("lock"), O_RDWR | O_CREAT | O_NONBLOCK).release();
  if (l.fd_ < 0)
    return runtime_error(fmt::format("cannot create the lock of experiment '{}': {}", exp.id(), std::strerror(errno)),
                      "check that the run store is writable");
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_pid = 0;  // (F_OFD_SETLK requires it)
  if (::fcntl(l.fd_, F_OFD_SETLK, &fl) != 0) {
    Error e = make_error(fmt::format("experiment '{}' is being run by another xrun process", exp.id()),
                         "wait for it to finish, or cancel it with `xrun cancel " + exp.id() + "`");
    return e;
  }
  return l;
}

Result<RunnerLock> RunnerLock::acquire_waiting(const Experiment& exp, double seconds,
                                               const std::function<void()>& waiting) {
  const double start = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  bool said = false;
  for (;;) {
    auto l = acquire(exp);
    if (l || !exp.runner_alive()) return l;  // (an error other than another holder: at once)
    const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    if (now - start >= seconds) {
      Error e = runtime_error(fmt::format("experiment '{}' is still being run or submitted by another xrun process "
                                          "(waited {:.0f} s for it)",
                                          exp.id(), now - start),
                              "try again once it is done (xrun status " + exp.id() + ")");
      return e;
    }
    if (!said && waiting) waiting();
    said = true;
    ::usleep(100000);
  }
}
RunnerLock::RunnerLock(RunnerLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
RunnerLock& RunnerLock::operator=(RunnerLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}
RunnerLock::~RunnerLock() {
  if (fd_ >= 0) ::close(fd_);
}

Store Store::open(const std::string& override_root) {
  Store s;
  if (!override_root.empty()) {
    s.root_ = util::absolute(override_root);
  } else if (const char* h = std::getenv("XRUN_HOME"); h && *h) {
    s.root_ = util::absolute(h);
  } else {
    const char* home = std::getenv("HOME");
    s.root_ = util::absolute(std::string(home && *home ? home : "/tmp") + "/.xrun");
  }
  // One spelling of the root: no trailing '/', symbolic links of its existing part resolved.
  s.root_ = util::canonical(s.root_);
  return s;
}

Result<Experiment> Store::create(const std::string& name) const {
  XRUN_TRY(util::make_dirs(experiments_dir()));
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  std::string base = util::slug(name);
  for (int tries = 0; tries < 50; ++tries) {
    std::string id = fmt::format("{}-{}-{}", base, stamp, random_tag());
    std::string dir = experiments_dir() + "/" + id;
    if (::mkdir(dir.c_str(), 0755) == 0) return Experiment(id, dir);  // mkdir is the atomic claim
    if (errno != EEXIST)
      return runtime_error(fmt::format("cannot create experiment folder '{}': {}", dir, std::strerror(errno)),
                        "check that the run store is writable (--store DIR or XRUN_HOME)");
  }
  return runtime_error("cannot find a free experiment id", "the run store is unusually crowded; try again");
}

std::vector<std::string> Store::list() const {
  // Newest first by the real creation time (meta.json's `created`, seconds with microseconds),
  // not by the id's text: names and time zones differ, and ids of one second tie.
  std::vector<std::pair<double, std::string>> found;
  for (const auto& name : util::list_dir(experiments_dir())) {
    if (!valid_id(name)) continue;
    (void)Experiment(name, experiments_dir() + "/" + name).settle();  // (damage shows when it is read)
    const std::string meta = experiments_dir() + "/" + name + "/meta.json";
    struct stat st {};
    if (::lstat(meta.c_str(), &st) != 0 && errno == ENOENT) continue;  // half-made: meta.json is written last
    // Anything else at meta.json (a folder, a link, unreadable, damaged) is listed: as damaged.
    auto text = util::read_regular_file(meta);
    double created = 0;
    try {
      auto j = json::parse(*text);
      if (j.is_object() && j.contains("created") && j["created"].is_number()) created = j["created"].get<double>();
    } catch (...) {
      // a damaged meta.json sorts last; `xrun list` shows it as damaged
    }
    found.emplace_back(created, name);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  std::vector<std::string> ids;
  for (auto& f : found) ids.push_back(std::move(f.second));
  return ids;
}

std::string name_of_id(const std::string& id) {
  // <name>-YYYYMMDD-HHMMSS-<4 characters>: 21 characters after the name.
  constexpr size_t kSuffix = 21;
  if (id.size() <= kSuffix) return "";
  const std::string tail = id.substr(id.size() - kSuffix);
  auto digits = [&](size_t from, size_t n) {
    return std::all_of(tail.begin() + static_cast<long>(from), tail.begin() + static_cast<long>(from + n),
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  if (tail[0] != '-' || !digits(1, 8) || tail[9] != '-' || !digits(10, 6) || tail[16] != '-') return "";
  return id.substr(0, id.size() - kSuffix);
}

Result<Experiment> Store::find(const std::string& ref, bool by_name, std::string* note) const {
  auto ids = list();
  if (ref.empty())
    return make_error("an empty experiment reference", "give an experiment id, a unique prefix of one, or 'latest'");
  if (ids.empty() && !half_made(ref))
    return make_error(fmt::format("no experiments in the store {}", root_),
                      "run one with `xrun run FILE`, or point --store / XRUN_HOME at the right store");
  if (ref == "latest" && !ids.empty()) return Experiment(ids.front(), experiments_dir() + "/" + ids.front());
  if (!valid_id(ref))
    return make_error(fmt::format("'{}' is not an experiment id", ref), "ids look like name-20261122-153012-k3f9");
  if (std::find(ids.begin(), ids.end(), ref) != ids.end()) return Experiment(ref, experiments_dir() + "/" + ref);
  if (auto h = half_made(ref))
    return h->creator_gone
               ? runtime_error(fmt::format("experiment '{}' is half-made: its creation was cut short (it has no "
                                           "meta.json)", ref),
                               fmt::format("`xrun rm {}` or `xrun gc` removes it", ref))
               : runtime_error(fmt::format("experiment '{}' is being created by an xrun process that is still "
                                           "running", ref),
                               "try again in a moment");
  if (by_name) {  // the latest run of that name (ids are newest first)
    std::vector<std::string> named;
    for (const auto& id : ids)
      if (name_of_id(id) == ref) named.push_back(id);
    if (!named.empty()) {
      if (named.size() > 1 && note)
        *note = fmt::format("'{}' names {} experiments; the latest, {}, is used (give an id for another: xrun list)",
                            ref, named.size(), named.front());
      return Experiment(named.front(), experiments_dir() + "/" + named.front());
    }
  }
  std::vector<std::string> matches;
  for (const auto& id : ids)
    if (util::starts_with(id, ref)) matches.push_back(id);
  if (matches.size() == 1) return Experiment(matches[0], experiments_dir() + "/" + matches[0]);
  if (matches.empty())
    return make_error(fmt::format("no experiment matches '{}'", ref), "list them with `xrun list`");
  return make_error(fmt::format("'{}' matches {} experiments: {}{}", ref, matches.size(),
                                fmt::join(matches.begin(), matches.begin() + std::min<size_t>(5, matches.size()), ", "),
                                matches.size() > 5 ? ", ..." : ""),
                    "give more of the id");
}

Result<void> Store::remove(const Experiment& exp) const {
  std::string hidden = fmt::format("{}/.removing-{}-{}", experiments_dir(), exp.id(), random_tag());
  if (::rename(exp.dir().c_str(), hidden.c_str()) != 0)
    return runtime_error(fmt::format("cannot remove experiment '{}': {}", exp.id(), std::strerror(errno)),
                      "check that the run store is writable");
  util::remove_all(hidden);
  // Its succeeded keys go with it (ops/reuse.hpp): it is no source any more.
  ::unlink((keys_dir() + "/" + exp.id()).c_str());
  return {};
}

size_t Store::remove_leftovers() const {
  size_t n = 0;
  for (const auto& name : util::list_dir(experiments_dir()))
    if (util::starts_with(name, ".removing-")) {
      util::remove_all(experiments_dir() + "/" + name);
      ++n;
    }
  for (const auto& h : half_made())
    if (h.creator_gone && remove(Experiment(h.id, experiments_dir() + "/" + h.id))) ++n;
  return n;
}

namespace {
constexpr const char* kCreating = ".creating";
constexpr double kCreatorGrace = 3600;  // a half-made folder without `.creating`: its creator died before making it
}  // namespace

Result<Creation> Creation::begin(const Experiment& exp) {
  Creation c;
  c.path_ = exp.path(kCreating);
  c.fd_ = ::open(c.path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (c.fd_ < 0 || ::flock(c.fd_, LOCK_EX | LOCK_NB) != 0)
    return runtime_error(fmt::format("cannot claim the new experiment '{}': {}", exp.id(), std::strerror(errno)),
                         "check that the run store is writable");
  return c;
}
void Creation::done() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}
Creation::Creation(Creation&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
Creation::~Creation() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<HalfMade> Store::half_made(const std::string& id) const {
  if (!valid_id(id)) return std::nullopt;
  const std::string dir = experiments_dir() + "/" + id;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  if (::lstat((dir + "/meta.json").c_str(), &st) == 0 || errno != ENOENT) return std::nullopt;
  HalfMade h{id, false};
  util::Fd fd(::open((dir + "/" + kCreating).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.valid()) {
    h.creator_gone = ::flock(fd.get(), LOCK_SH | LOCK_NB) == 0;  // nobody holds it
  } else if (::stat(dir.c_str(), &st) == 0) {
    h.creator_gone = util::now_seconds() - static_cast<double>(st.st_mtim.tv_sec) > kCreatorGrace;
  }
  return h;
}

std::vector<HalfMade> Store::half_made() const {
  std::vector<HalfMade> out;
  for (const auto& name : util::list_dir(experiments_dir()))
    if (auto h = half_made(name)) out.push_back(std::move(*h));
  return out;
}

std::pair<size_t, size_t> locate(const plan::Plan& p, size_t task) {
  if (auto w = p.find(task)) return {w->stage, w->index};
  return {p.stages.size(), 0};
}

Result<size_t> resolve_task_ref(const plan::Plan& p, const std::string& ref) {
  size_t total = p.task_count();
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (digits(ref)) {
    size_t id = std::stoull(ref);
    if (!p.find(id)) {
      const size_t end = p.id_end();
      return make_error(end == total ? fmt::format("task {} does not exist: the experiment has tasks 0 to {}", id,
                                                   total ? total - 1 : 0)
                                     : fmt::format("task {} does not exist in this experiment", id),
                        "task numbers are the ones `xrun status` prints");
    }
    return id;
  }
  auto slash = ref.find('/');
  if (slash != std::string::npos && ref.find('/', slash + 1) == std::string::npos) {
    std::string stage = ref.substr(0, slash), idx = ref.substr(slash + 1);
    for (size_t s = 0; s < p.stages.size(); ++s) {
      if (p.stages[s].name != stage) continue;
      if (!digits(idx) || std::stoull(idx) >= p.stages[s].tasks.size())
        return make_error(fmt::format("stage '{}' has no task '{}' (it has {} tasks)", stage, idx, p.stages[s].tasks.size()),
                          "write STAGE/INDEX with INDEX from 0");
      return p.stages[s].tasks[std::stoull(idx)].id;
    }
  }
  std::vector<std::string> names;
  for (const auto& s : p.stages) names.push_back(s.name);
  return make_error(fmt::format("'{}' is not a task of this experiment", ref),
                    fmt::format("give a task number as `xrun status` prints it, or STAGE/INDEX with a stage among: {}",
                                fmt::join(names, ", ")));
}

}  // namespace xrun::store
