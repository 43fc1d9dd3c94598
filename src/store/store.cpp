#include "xrun/store/store.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <random>

#include <fmt/format.h>

#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::store {

namespace {

const std::vector<std::pair<State, const char*>> kStateNames = {
    {State::Pending, "PENDING"},   {State::Running, "RUNNING"},     {State::Succeeded, "SUCCEEDED"},
    {State::Failed, "FAILED"},     {State::Timeout, "TIMEOUT"},     {State::Cancelled, "CANCELLED"},
    {State::Skipped, "SKIPPED"},   {State::Lost, "LOST"}};

// key=value lines -> map (tolerant: unknown keys and junk lines are ignored)
std::map<std::string, std::string> parse_kv(const std::string& text) {
  std::map<std::string, std::string> kv;
  for (const auto& line : util::split(text, '\n')) {
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

std::optional<long> to_long(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return v;
}

double to_double(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  return end == s.c_str() ? 0 : v;
}

std::string random_tag() {
  static const char* alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(::getpid()));
  std::string s;
  for (int i = 0; i < 4; ++i) s += alphabet[rng() % 32];
  return s;
}

bool valid_id(const std::string& id) {
  if (id.empty() || id[0] == '.' || id.size() > 200) return false;
  return id.find('/') == std::string::npos && id.find('\0') == std::string::npos;
}

// A store file that cannot be read as written: the experiment is damaged (exit 1, a runtime
// failure, not bad input).
Error damaged(Error e) {
  e.exit_code = 1;
  if (e.hint.empty()) e.hint = "the experiment's folder in the run store is damaged; `xrun rm` removes it";
  return e;
}

}  // namespace

const char* to_string(State s) {
  for (const auto& [st, name] : kStateNames)
    if (st == s) return name;
  return "?";
}

std::optional<State> parse_state(const std::string& s) {
  for (const auto& [st, name] : kStateNames)
    if (s == name) return st;
  return std::nullopt;
}

const std::vector<State>& all_states() {
  static const std::vector<State> v = {State::Pending,   State::Running,   State::Succeeded, State::Failed,
                                       State::Timeout,   State::Cancelled, State::Skipped,   State::Lost};
  return v;
}

bool is_final(State s) { return s != State::Pending && s != State::Running; }

std::optional<WrapperRecord> parse_wrapper_record(const std::string& text) {
  auto kv = parse_kv(text);
  // A record counts only once complete: the wrapper ends each with `written=1`.
  if (!kv.count("state") || kv["written"] != "1") return std::nullopt;
  WrapperRecord w;
  w.state = kv["state"];
  if (auto v = to_long(kv["exit"])) w.exit_code = static_cast<int>(*v);
  if (auto v = to_long(kv["signal"]); v && *v > 0) w.signal = static_cast<int>(*v);
  w.start = to_double(kv["start"]);
  w.end = to_double(kv["end"]);
  w.host = kv["host"];
  w.pid = to_long(kv["pid"]).value_or(0);
  w.wrapper = to_long(kv["wrapper"]).value_or(w.pid);
  w.attempt = static_cast<int>(to_long(kv["attempt"]).value_or(1));
  return w;
}

std::optional<ControlRecord> parse_control_record(const std::string& text) {
  auto kv = parse_kv(text);
  if (!kv.count("state")) return std::nullopt;
  return ControlRecord{kv["state"], kv["reason"]};
}

std::string format_control_record(const ControlRecord& c) {
  std::string reason = c.reason;
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  return fmt::format("state={}\nreason={}\n", c.state, reason);
}

TaskStatus resolve(const std::optional<WrapperRecord>& w, const std::optional<ControlRecord>& c, bool cancelled,
                   std::optional<bool> alive) {
  TaskStatus t;
  const std::string cstate = c ? c->state : "";
  if (w) {
    t.exit_code = w->exit_code;
    t.signal = w->signal;
    t.start = w->start;
    t.end = w->end;
    t.host = w->host;
    t.pid = w->pid;
    t.attempt = w->attempt;
  }
  auto killed_as = [&](State fallback, const std::string& fallback_reason) {
    if (cstate == "TIMEOUT") {
      t.state = State::Timeout;
      t.reason = c->reason.empty() ? "walltime exceeded" : c->reason;
    } else if (cancelled || cstate == "CANCELLED") {
      t.state = State::Cancelled;
      t.reason = cstate == "CANCELLED" && !c->reason.empty() ? c->reason : "cancelled";
    } else {
      t.state = fallback;
      t.reason = fallback_reason;
    }
  };
  if (w && (w->state == "SUCCEEDED" || w->state == "FAILED")) {
    if (w->state == "SUCCEEDED") {
      t.state = State::Succeeded;
    } else {
      std::string why = w->signal ? fmt::format("killed by signal {}", *w->signal)
                                  : fmt::format("exit code {}", w->exit_code.value_or(-1));
      killed_as(State::Failed, why);
    }
    return t;
  }
  if (w && w->state == "RUNNING") {
    if (!alive.has_value() || *alive) {
      t.state = State::Running;
      t.wrapper_alive = alive.value_or(false);
      return t;
    }
    killed_as(State::Lost, "the task's process is gone without a final status");
    return t;
  }
  // Never started (or its status is unreadable).
  if (cstate == "SKIPPED") {
    t.state = State::Skipped;
    t.reason = c->reason;
  } else if (cstate == "LOST") {
    t.state = State::Lost;
    t.reason = c->reason;
  } else if (cstate == "TIMEOUT") {
    t.state = State::Timeout;
    t.reason = c->reason.empty() ? "walltime exceeded" : c->reason;
  } else if (cancelled || cstate == "CANCELLED") {
    t.state = State::Cancelled;
    t.reason = cstate == "CANCELLED" && !c->reason.empty() ? c->reason : "cancelled before it started";
  } else {
    t.state = State::Pending;
  }
  return t;
}

bool process_alive(long pid, const std::string& needle) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  auto cmdline = util::try_read_file(fmt::format("/proc/{}/cmdline", pid));
  if (!cmdline) return util::exists(fmt::format("/proc/{}", pid));
  std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
  // A zombie has an empty cmdline: it is not running any more.
  if (cmdline->empty()) return false;
  return needle.empty() || cmdline->find(needle) != std::string::npos;
}

std::string Experiment::task_dir(size_t task) const { return fmt::format("{}/tasks/{}", dir_, task); }

Result<json> Experiment::meta() const {
  auto text = util::try_read_file(path("meta.json"));
  if (!text) return damaged(make_error(fmt::format("experiment '{}' has no meta.json", id_), "the store folder is damaged"));
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
  auto text = util::try_read_file(path("plan.json"));
  if (!text) return damaged(make_error(fmt::format("experiment '{}' has no plan.json", id_), "the store folder is damaged"));
  try {
    auto p = plan::Plan::from_json(json::parse(*text));
    if (!p) return damaged(make_error(fmt::format("experiment '{}' is damaged: {}", id_, p.error().what), p.error().hint));
    return p;
  } catch (const std::exception& e) {
    return damaged(make_error(fmt::format("experiment '{}': plan.json is not valid JSON: {}", id_, e.what())));
  }
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

Result<void> Experiment::write_runner(const json& j) const { return util::atomic_write(path("runner.json"), j.dump(2) + "\n"); }

std::set<size_t> Experiment::cancelled() const {
  std::set<size_t> ids;
  for (const auto& f : util::list_dir(path("cancel"))) {
    if (f.empty() || f[0] == '.') continue;
    auto text = util::try_read_file(path("cancel/" + f));
    if (!text) continue;
    for (const auto& line : util::split(*text, '\n'))
      if (auto v = to_long(line); v && *v >= 0) ids.insert(static_cast<size_t>(*v));
  }
  return ids;
}

Result<void> Experiment::add_cancel_request(const std::vector<size_t>& ids) const {
  XRUN_TRY(util::make_dirs(path("cancel")));
  std::string body;
  for (size_t id : ids) body += fmt::format("{}\n", id);
  auto name = fmt::format("cancel/{:.6f}-{}-{}", util::now_seconds(), ::getpid(), random_tag());
  return util::atomic_write(path(name), body);
}

Result<void> Experiment::write_control(size_t task, const ControlRecord& c) const {
  XRUN_TRY(check_task_dir(task));
  XRUN_TRY(util::make_dirs(task_dir(task)));
  return util::atomic_write(task_dir(task) + "/control", format_control_record(c));
}

TaskStatus Experiment::status_of(size_t task, bool cancelled) const {
  util::Fd dir(::open((dir_ + "/tasks").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return status_at(dir.valid() ? dir.get() : -1, task, cancelled);
}

TaskStatus Experiment::status_at(int tasks_fd, size_t task, bool cancelled) const {
  const std::string d = std::to_string(task);
  auto read = [&](const char* name) -> std::optional<std::string> {
    if (tasks_fd < 0) return std::nullopt;
    return util::try_read_file_beneath(tasks_fd, d + "/" + name);  // no link planted in the store is followed
  };
  std::optional<WrapperRecord> w;
  std::optional<ControlRecord> c;
  if (auto t = read("status")) w = parse_wrapper_record(*t);
  if (!w)
    if (auto t = read("started")) w = parse_wrapper_record(*t);
  // The runner's decisions matter only for tasks that did not succeed.
  if (!w || w->state != "SUCCEEDED")
    if (auto t = read("control")) c = parse_control_record(*t);
  std::optional<bool> alive;
  static const std::string here = util::hostname();
  if (w && w->state == "RUNNING") {
    // Alive while the wrapper that will record the end lives (its command line names the experiment).
    if (w->host == here) alive = process_alive(w->wrapper, dir_);
  }
  TaskStatus s = resolve(w, c, cancelled, alive);
  s.id = task;
  return s;
}

std::vector<TaskStatus> Experiment::statuses(const plan::Plan& p) const {
  std::set<size_t> cancelled_ids = cancelled();
  std::vector<TaskStatus> out;
  out.reserve(p.task_count());
  util::Fd tasks_dir(::open((dir_ + "/tasks").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  size_t id = 0;
  for (size_t s = 0; s < p.stages.size(); ++s) {
    for (size_t i = 0; i < p.stages[s].tasks.size(); ++i, ++id) {
      TaskStatus t = status_at(tasks_dir.valid() ? tasks_dir.get() : -1, id, cancelled_ids.count(id) > 0);
      t.id = id;
      t.stage = s;
      t.index = i;
      out.push_back(std::move(t));
    }
  }
  return out;
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
  if (!util::is_dir(d) || util::exists(d + "/control")) return false;
  const std::string tmp = fmt::format("{}/.verdict.{}.{}", d, ::getpid(), random_tag());
  XRUN_TRY(util::atomic_write(tmp, format_control_record(c)));
  bool made = ::link(tmp.c_str(), (d + "/control").c_str()) == 0;
  int err = errno;
  ::unlink(tmp.c_str());
  if (!made && err != EEXIST)
    return make_error(fmt::format("cannot record task {}'s final state: {}", task, std::strerror(err)),
                      "check that the run store is writable");
  return made;
}

Result<int> Experiment::archive_attempt(size_t task) const {
  XRUN_TRY(check_task_dir(task));
  std::string d = task_dir(task);
  XRUN_TRY(util::make_dirs(d));
  int prev = 0;
  if (auto t = util::try_read_file(d + "/attempt")) prev = static_cast<int>(to_long(util::trim(*t)).value_or(0));
  bool has_files = util::exists(d + "/started") || util::exists(d + "/status") || util::exists(d + "/control") ||
                   util::exists(d + "/stdout");
  if (prev > 0 && has_files) {
    std::string a = fmt::format("{}/attempts/{}", d, prev);
    XRUN_TRY(util::make_dirs(a));
    for (const char* f : {"started", "status", "control", "stdout", "stderr", "cmd.sh"})
      if (util::exists(d + "/" + f)) XRUN_TRY(util::rename_path(d + "/" + f, a + "/" + f));
  }
  // An attempt that never started (no files) keeps its number.
  int next = (prev > 0 && !has_files) ? prev : prev + 1;
  XRUN_TRY(util::atomic_write(d + "/attempt", fmt::format("{}\n", next)));
  return next;
}

bool Experiment::runner_alive() const {
  util::Fd fd(::open(path("lock").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_GETLK, &fl) != 0) return false;
  return fl.l_type != F_UNLCK;
}

Result<RunnerLock> RunnerLock::acquire(const Experiment& exp) {
  RunnerLock l;
  l.fd_ = ::open(exp.path("lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (l.fd_ < 0)
    return make_error(fmt::format("cannot create the lock of experiment '{}': {}", exp.id(), std::strerror(errno)),
                      "check that the run store is writable");
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(l.fd_, F_SETLK, &fl) != 0) {
    Error e = make_error(fmt::format("experiment '{}' is being run by another xrun process", exp.id()),
                         "wait for it to finish, or cancel it with `xrun cancel " + exp.id() + "`");
    return e;
  }
  return l;
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
    s.root_ = std::string(home && *home ? home : "/tmp") + "/.xrun";
  }
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
      return make_error(fmt::format("cannot create experiment folder '{}': {}", dir, std::strerror(errno)),
                        "check that the run store is writable (--store DIR or XRUN_HOME)");
  }
  return make_error("cannot find a free experiment id", "the run store is unusually crowded; try again");
}

std::vector<std::string> Store::list() const {
  // Newest first by the real creation time (meta.json's `created`, seconds with microseconds),
  // not by the id's text: names and time zones differ, and ids of one second tie.
  std::vector<std::pair<double, std::string>> found;
  for (const auto& name : util::list_dir(experiments_dir())) {
    if (!valid_id(name)) continue;
    auto text = util::try_read_file(experiments_dir() + "/" + name + "/meta.json");
    if (!text) continue;  // half-made: meta.json is written last
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

Result<Experiment> Store::find(const std::string& ref) const {
  auto ids = list();
  if (ids.empty())
    return make_error(fmt::format("no experiments in the store {}", root_),
                      "run one with `xrun run FILE`, or point --store / XRUN_HOME at the right store");
  if (ref.empty())
    return make_error("an empty experiment reference", "give an experiment id, a unique prefix of one, or 'latest'");
  if (ref == "latest") return Experiment(ids.front(), experiments_dir() + "/" + ids.front());
  if (!valid_id(ref))
    return make_error(fmt::format("'{}' is not an experiment id", ref), "ids look like name-20261122-153012-k3f9");
  std::vector<std::string> matches;
  for (const auto& id : ids) {
    if (id == ref) return Experiment(id, experiments_dir() + "/" + id);
    if (util::starts_with(id, ref)) matches.push_back(id);
  }
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
    return make_error(fmt::format("cannot remove experiment '{}': {}", exp.id(), std::strerror(errno)),
                      "check that the run store is writable");
  util::remove_all(hidden);
  return {};
}

size_t Store::remove_leftovers() const {
  size_t n = 0;
  for (const auto& name : util::list_dir(experiments_dir()))
    if (util::starts_with(name, ".removing-")) {
      util::remove_all(experiments_dir() + "/" + name);
      ++n;
    }
  return n;
}

std::vector<size_t> stage_offsets(const plan::Plan& p) {
  std::vector<size_t> off;
  size_t n = 0;
  for (const auto& s : p.stages) {
    off.push_back(n);
    n += s.tasks.size();
  }
  return off;
}

std::pair<size_t, size_t> locate(const plan::Plan& p, size_t task) {
  size_t n = 0;
  for (size_t s = 0; s < p.stages.size(); ++s) {
    if (task < n + p.stages[s].tasks.size()) return {s, task - n};
    n += p.stages[s].tasks.size();
  }
  return {p.stages.size(), 0};
}

Result<size_t> resolve_task_ref(const plan::Plan& p, const std::string& ref) {
  size_t total = p.task_count();
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (digits(ref)) {
    size_t id = std::stoull(ref);
    if (id >= total)
      return make_error(fmt::format("task {} does not exist: the experiment has tasks 0 to {}", id, total ? total - 1 : 0),
                        "task numbers are the ones `xrun status` prints");
    return id;
  }
  auto slash = ref.find('/');
  if (slash != std::string::npos && ref.find('/', slash + 1) == std::string::npos) {
    std::string stage = ref.substr(0, slash), idx = ref.substr(slash + 1);
    auto off = stage_offsets(p);
    for (size_t s = 0; s < p.stages.size(); ++s) {
      if (p.stages[s].name != stage) continue;
      if (!digits(idx) || std::stoull(idx) >= p.stages[s].tasks.size())
        return make_error(fmt::format("stage '{}' has no task '{}' (it has {} tasks)", stage, idx, p.stages[s].tasks.size()),
                          "write STAGE/INDEX with INDEX from 0");
      return off[s] + std::stoull(idx);
    }
  }
  std::vector<std::string> names;
  for (const auto& s : p.stages) names.push_back(s.name);
  return make_error(fmt::format("'{}' is not a task of this experiment", ref),
                    fmt::format("give a task number as `xrun status` prints it, or STAGE/INDEX with a stage among: {}",
                                fmt::join(names, ", ")));
}

}  // namespace xrun::store
