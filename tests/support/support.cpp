#include "support/support.hpp"

#include <catch2/catch.hpp>

#include "xrun/util/text.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace xrun::test {

namespace {

std::vector<std::string> make_env(const RunOpts& o) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : o.env) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

pid_t spawn(const std::vector<std::string>& argv, const RunOpts& o, const std::string& out, const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  auto env = make_env(o);
  std::vector<char*> a, e;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
  e.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, a[0], &fa, &attr, a.data(), e.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
}

int wait_for(pid_t pid, double timeout, bool& timed_out) {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0) return -1;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      timed_out = true;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

std::string read(const std::string& path) { return util::try_read_file(path).value_or(""); }

RunResult run_program(const std::vector<std::string>& argv, const RunOpts& o) {
  util::TempDir tmp("xrun-test-out-");
  std::string out = tmp.path() + "/out", err = tmp.path() + "/err";
  RunResult r;
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = spawn(argv, o, out, err);
  if (pid < 0) {
    r.err = "spawn failed: " + argv[0];
    return r;
  }
  r.code = wait_for(pid, o.timeout, r.timed_out);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.out = read(out);
  r.err = read(err);
  return r;
}

RunResult xrun(const std::vector<std::string>& args, const RunOpts& o) {
  std::vector<std::string> argv{XRUN_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, o);
}

Background xrun_background(const std::vector<std::string>& args, const RunOpts& o, const std::string& dir) {
  Background b;
  static int n = 0;
  ++n;
  b.out_path = dir + "/bg" + std::to_string(n) + ".out";
  b.err_path = dir + "/bg" + std::to_string(n) + ".err";
  std::vector<std::string> argv{XRUN_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  b.pid = spawn(argv, o, b.out_path, b.err_path);
  return b;
}

int Background::wait(double timeout) {
  bool to = false;
  return wait_for(pid, timeout, to);
}
std::string Background::out() const { return read(out_path); }
std::string Background::err() const { return read(err_path); }

std::string write_file(const std::string& dir, const std::string& name, const std::string& content) {
  std::string p = dir + "/" + name;
  (void)util::make_dirs(util::dirname(p));
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string source_dir() { return XRUN_SOURCE_DIR; }

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string wait_for_id(const Background& b) {
  REQUIRE(eventually([&] { return !b.out().empty(); }));
  return first_line(b.out());
}

int peak_concurrency(const std::string& trace) {
  int cur = 0, peak = 0;
  for (char c : trace) {
    if (c == '+') peak = std::max(peak, ++cur);
    if (c == '-') --cur;
  }
  return peak;
}

std::vector<std::string> yaml_blocks(const std::string& markdown) {
  std::vector<std::string> out;
  std::string block;
  bool in = false;
  for (const auto& line : util::split(markdown, '\n')) {
    if (!in && line == "```yaml") {
      in = true;
      block.clear();
    } else if (in && line == "```") {
      in = false;
      out.push_back(block);
    } else if (in) {
      block += line + "\n";
    }
  }
  return out;
}

bool eventually(const std::function<bool()>& pred, double timeout) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < timeout) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

void kill_processes_in(const std::string& dir) noexcept {
  if (dir.empty()) return;
  auto inside = [&](const std::string& p) { return p == dir || p.compare(0, dir.size() + 1, dir + "/") == 0; };
  for (const auto& name : util::list_dir("/proc")) {
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    char cwd[4096];
    ssize_t n = ::readlink(("/proc/" + name + "/cwd").c_str(), cwd, sizeof cwd - 1);
    bool ours = n > 0 && inside(std::string(cwd, static_cast<size_t>(n)));
    if (!ours) {
      // (Read with read(2): a process that ends meanwhile is an error code, not an exception.)
      auto cmd = util::try_read_file("/proc/" + name + "/cmdline");
      ours = cmd && cmd->find(dir + "/") != std::string::npos;
    }
    if (ours) ::kill(pid, SIGKILL);
  }
}

}  // namespace xrun::test
