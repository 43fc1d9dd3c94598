#include "xrun/run/task_files.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/plan/task_key.hpp"
#include "xrun/run/process.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/random.hpp"
#include "xrun/util/text.hpp"

namespace xrun::run {

namespace {

// Environment names a sweep variable is not exported as: the shell depends on them, or bash
// forbids or reserves them (readonly, or special: assigning them changes the shell). They stay
// usable as {placeholders}.
const std::set<std::string> kReservedEnv = {
    "PATH",     "HOME",      "SHELL",       "USER",     "LOGNAME",        "IFS",          "PWD",
    "OLDPWD",   "ENV",       "CDPATH",      "LD_PRELOAD", "LD_LIBRARY_PATH", "TMPDIR",     "TERM",
    "LANG",     "LC_ALL",    "PS1",         "PS2",      "PS3",            "PS4",          "SHELLOPTS",
    "BASHOPTS", "UID",       "EUID",        "PPID",     "GROUPS",         "SECONDS",      "RANDOM",
    "SRANDOM",  "LINENO",    "HOSTNAME",    "HOSTTYPE", "MACHTYPE",       "OSTYPE",       "POSIXLY_CORRECT",
    "FUNCNAME", "EPOCHSECONDS", "EPOCHREALTIME", "OPTIND", "OPTARG",     "OPTERR",       "HISTFILE",
    "HISTCMD",  "DIRSTACK",  "PIPESTATUS",  "COMP_WORDS", "MAIL",         "MAILPATH",     "TIMEFORMAT"};
// A value larger than this is not exported (the kernel limits one environment string to
// 128 KiB, and every command the task runs would fail with E2BIG).
constexpr size_t kMaxExportedValue = 64 * 1024;

constexpr const char* kWrapper = R"SH(#!/bin/sh
# xrun task wrapper (generated). The same for every backend; needs only a POSIX sh.
#   sh wrapper.sh TASK_DIR      run one task (Slurm, PBS, Docker)
#   sh wrapper.sh TASK_DIR FILE the same, its folder made and its script cut out of FILE (a batch
#                               array's scripts, see write_task_scripts)
# (The local pool runs its tasks through `xrun _worker`, which writes the same records.)
# Each task runs TASK_DIR/cmd.sh with the task shell (bash unless the file says `shell:`), its
# output in TASK_DIR/stdout and TASK_DIR/stderr. Two records are written, each once, into its own
# room reserved before the task starts, with a single printf ending in `written=1` (readers
# ignore a record without it; sh cannot rename without running mv):
#   TASK_DIR/started  state=RUNNING, host, pid (the task's process group), pid_start (when that
#                     process started, ticks since boot: with boot, the boot id, the pid names it
#                     for good), wrapper pid, start, attempt, resources
#   TASK_DIR/status   SUCCEEDED or FAILED, exit code (and signal, for codes above 128), the
#                     stopping signal the wrapper got from outside (got=TERM, when one came), times
task_shell=@SHELL@
_now() {
  if [ -n "${EPOCHREALTIME:-}" ]; then eval '_t=${EPOCHREALTIME/,/.}'; return; fi
  _t=$(date +%s.%N 2>/dev/null)
  case $_t in ''|*[!0-9.]*) _t=$(date +%s) ;; esac
}
_host=${XRUN_HOST:-$(uname -n 2>/dev/null || hostname 2>/dev/null || echo unknown)}
# A record is written over the room reserved for it (no truncation, no new room needed).
_put() {
  _f=$1
  shift
  printf '%s\n' "$@" written=1 1<>"$_d/$_f"
}
# Reserve a record's room: a line of blanks, which readers ignore.
_reserve() { printf '%511s\n' '' >"$1"; }
# Start the task of directory $1 in the background: sets _child (empty if it could not start).
_start() {
  _d=$1
  _rc=
  _child=
  # Both records' room is reserved before the task starts (this also clears an earlier final
  # record): a store that fills up while the task runs cannot lose its end. Its output files
  # are made too. Without room (space or inodes) the task is not started (exit 75) and stays
  # PENDING.
  if ! { _reserve "$_d/status" && _reserve "$_d/started" && : >"$_d/stdout" && : >"$_d/stderr"; } 2>/dev/null; then
    _rc=75
    _norun=1
    return
  fi
  _norun=
  _attempt=${_given_attempt:-1}
  [ -z "$_given_attempt" ] && [ -r "$_d/attempt" ] && read -r _attempt < "$_d/attempt"
  _now
  _begin=$_t
  # Each task runs in a freshly started shell (its own $$, no job control, none of the
  # wrapper's variables or functions), with nothing open but its stdin, stdout and stderr.
  if [ -n "$_sh_path" ]; then
    ( trap - @SIGNALS@ PIPE
      for _fd in /proc/self/fd/*; do
        _fd=${_fd##*/}
        case $_fd in
          0|1|2|*[!0-9]*) ;;
          [3-9]) eval "exec $_fd>&-" 2>/dev/null ;;
          # POSIX sh redirects only fds 0-9 (dash keeps its own higher fds close-on-exec);
          # bash, whose saved fds are not, closes them all.
          *) [ -n "${BASH_VERSION:-}" ] && eval "exec $_fd>&-" 2>/dev/null ;;
        esac
      done
      # Without job control, dash and busybox start background jobs with INT
      # and QUIT ignored, for good: coreutils' env gives them back their default.
      [ -n "$_envdef" ] && exec env --default-signal=INT,QUIT "$_sh_path" "$_d/cmd.sh"
      exec "$_sh_path" "$_d/cmd.sh" ) </dev/null >"$_d/stdout" 2>"$_d/stderr" &
    _child=$!
  else
    echo "xrun: task shell '$_sh' not found on $_host" >"$_d/stderr"
    : >"$_d/stdout"
    _rc=127
  fi
  # The task runs in the wrapper's own process group (no job control).
  _pg=$$
  _put started state=RUNNING "host=$_host" "pid=$_pg" "pid_start=$_pst" "wrapper=$$" "wrapper_start=$_pst" \
    "boot=$_boot" "start=$_begin" "attempt=$_attempt" "resources="
}
# Wait for the task and write its final record: sets _rc.
_finish() {
  if [ -n "$_child" ]; then
    while :; do
      wait "$_child"
      _rc=$?
      if [ "$_rc" -gt 128 ]; then
        if kill -0 "$_child" 2>/dev/null; then
          # A trapped signal interrupted wait while the task still runs: wait again (without
          # spinning while the task is stopped, e.g. by SIGTTIN).
          case $(cat "/proc/$_child/stat" 2>/dev/null) in *") T "*|*") t "*) sleep 1 ;; esac
          continue
        fi
        # It ended while a trap interrupted wait: its own status, where the shell kept it.
        wait "$_child" 2>/dev/null
        _r2=$?
        [ "$_r2" -ne 127 ] && _rc=$_r2
      fi
      break
    done
  fi
  _now
  _sig=0
  if [ "$_rc" -gt 128 ] && [ "$_rc" -lt 193 ]; then _sig=$((_rc - 128)); fi
  if [ "$_rc" -eq 0 ]; then _state=SUCCEEDED; else _state=FAILED; fi
  _put status "state=$_state" "exit=$_rc" "signal=$_sig" "got=$_got" "host=$_host" "pid=$_pg" "wrapper=$$" \
    "start=$_begin" "end=$_t" "attempt=$_attempt"
  _child=
}
_child=
_envdef=
_given_attempt=
_got=
# The task shell, found once (bash unless the file says `shell:`; sh where bash is missing).
_sh=$task_shell
if [ -z "$_sh" ]; then
  if command -v bash >/dev/null 2>&1; then _sh=bash; else _sh=sh; fi
fi
_sh_path=$(command -v "$_sh" 2>/dev/null) || _sh_path=  # a path, or a name (busybox applets)
# This process's start (field 22 of /proc/$$/stat, counted after the command's ')') and the boot
# id: a reader tells this wrapper from a later process given the same pid.
# (A function: its `set --` leaves the script's arguments alone.)
_proc_start() {
  _pst=0
  [ -r /proc/$$/stat ] || return 0
  read -r _st < /proc/$$/stat || return 0
  _st=${_st##*) }
  set -- $_st
  [ $# -ge 20 ] && eval "_pst=\${20}"
  case $_pst in ''|*[!0-9]*) _pst=0 ;; esac
}
_proc_start
_boot=
[ -r /proc/sys/kernel/random/boot_id ] && read -r _boot < /proc/sys/kernel/random/boot_id
_dir=${1:?usage: sh wrapper.sh TASK_DIR [SCRIPTS]}
_given_attempt=
if [ -n "${2:-}" ]; then
  # The task's script is a block of SCRIPTS (a batch array's file of scripts): its folder is made
  # now, and its script and attempt cut out of the file.
  [ -d "$_dir" ] || mkdir "$_dir" 2>/dev/null || [ -d "$_dir" ] || { echo "xrun wrapper: cannot make $_dir" >&2; exit 75; }
  read -r _x _tok < "$2" || { echo "xrun wrapper: cannot read $2" >&2; exit 2; }
  _id=${_dir##*/}
  sed -n "/^#xrun-$_tok task $_id /,/^#xrun-$_tok end $_id\$/p" "$2" > "$_dir/cmd.sh" 2>/dev/null || exit 75
  read -r _x _x _x _given_attempt < "$_dir/cmd.sh" 2>/dev/null
  case $_given_attempt in ''|*[!0-9]*) echo "xrun wrapper: no script for task $_id in $2" >&2; exit 2 ;; esac
fi
[ -d "$_dir" ] || { echo "xrun wrapper: no task directory $_dir" >&2; exit 2; }
env --default-signal=INT true 2>/dev/null && _envdef=1
# A signal the wrapper gets is passed on to the whole process group (the task and its
# children): in a container the wrapper is the first process, the only one `docker kill`
# reaches, and Slurm's `--signal=B:SIG` reaches the batch shell (the wrapper) only. The copy the
# wrapper sends itself with the group's is let through once (_s_SIG), so a signal sent again
# later (USR1 to checkpoint twice) is passed on again. The list is
# run::forwarded_signals().
_fwd() {
  [ -n "$_child" ] || return 0
  eval "_skip=\${_s_$1:-}"
  if [ -n "$_skip" ]; then eval "_s_$1="; return 0; fi
  eval "_s_$1=1"
  # The first stopping signal from outside is recorded with the task's end (got=TERM): a task
  # that traps it and exits with its own code was still stopped (a time limit, a cancel).
  case $1 in TERM|INT|HUP) [ -z "$_got" ] && _got=$1 ;; esac
  kill -"$1" 0 2>/dev/null
}
for _sig in @SIGNALS@; do trap "_fwd $_sig" "$_sig"; done
_start "$_dir"
[ -n "$_norun" ] && exit "$_rc"
_finish
exit "$_rc"
)SH";

}  // namespace

const std::vector<std::string>& forwarded_signals() {
  static const std::vector<std::string> names = {"HUP", "INT", "QUIT", "USR1", "USR2", "ALRM", "TERM"};
  return names;
}

std::string wrapper_script(const std::string& shell) {
  std::string s = kWrapper;
  auto pos = s.find("@SHELL@");
  s.replace(pos, 7, shell.empty() ? std::string("''") : util::shell_quote(shell));
  const std::string names = fmt::format("{}", fmt::join(forwarded_signals(), " "));
  for (pos = s.find("@SIGNALS@"); pos != std::string::npos; pos = s.find("@SIGNALS@", pos)) s.replace(pos, 9, names);
  return s;
}

bool env_shell(const std::string& shell) {
  const std::string base = shell.substr(shell.rfind('/') + 1);
  return shell.empty() || base == "bash" || base == "sh" || base == "dash";
}

bool env_passable(const std::string& name, const std::string& value) {
  if (value.find('\0') != std::string::npos || !util::is_identifier(name)) return false;
  if (util::starts_with(name, "XRUN_")) return true;
  return name != "auto_resume" && name != "histchars" &&
         std::any_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

std::string export_line(const std::string& name, const std::string& value) {
  return fmt::format("export {}={}\n", name, util::shell_quote(value));
}

std::string with_exports(const std::string& script, const std::vector<std::string>& env) {
  std::string exports;
  for (const auto& e : env)
    if (auto eq = e.find('='); eq != std::string::npos) exports += export_line(e.substr(0, eq), e.substr(eq + 1));
  const size_t nl = script.find('\n');
  const size_t at = util::starts_with(script, "# xrun task ") && nl != std::string::npos ? nl + 1 : 0;
  return script.substr(0, at) + exports + script.substr(at);
}

std::string task_script(const store::Experiment& exp, const plan::Plan& p, size_t task, const std::string& workdir,
                        int attempt, const std::vector<std::string>& setup, std::vector<std::string>* env) {
  auto [s, i] = store::locate(p, task);
  const auto& st = p.stages.at(s);
  const auto& t = st.tasks.at(i);
  std::string out = fmt::format("# xrun task {}: stage '{}', index {}, attempt {}\n", task, st.name, i, attempt);
  auto exp_line = [&](const std::string& k, const std::string& v) {
    if (env && env_passable(k, v)) env->push_back(k + "=" + v);
    else out += export_line(k, v);
  };
  exp_line("XRUN_EXPERIMENT_ID", exp.id());
  exp_line("XRUN_TASK_ID", std::to_string(task));
  exp_line("XRUN_STAGE", st.name);
  exp_line("XRUN_TASK_INDEX", std::to_string(i));
  exp_line("XRUN_TASK_DIR", exp.task_dir(task));
  exp_line("XRUN_ATTEMPT", std::to_string(attempt));
  exp_line("XRUN_METRICS", exp.task_dir(task) + "/metrics.jsonl");  // JSON lines the task may append
  for (const auto& [k, v] : t.variables) {
    if (!util::is_identifier(k) || kReservedEnv.count(k) || util::starts_with(k, "XRUN_") ||
        util::starts_with(k, "BASH"))
      continue;
    std::string value = v.str();
    if (value.size() > kMaxExportedValue) {
      out += fmt::format("echo 'xrun: warning: variable {} ({} bytes) is not exported: over {} KiB, it would break every "
                         "command; use {{{}}} in the command instead' >&2\n",
                         k, value.size(), kMaxExportedValue / 1024, k);
      continue;
    }
    exp_line(k, value);
  }
  // The working directory (the task's own when `workdir:` is a template) is created when missing,
  // on whichever node the task runs.
  out += fmt::format("[ -d {0} ] || mkdir -p {0}\ncd {0} || exit 1\n", util::shell_quote(t.workdir.empty() ? workdir : t.workdir));
  for (const auto& line : setup) out += "{\n" + line + "\n} || { echo 'xrun: a setup line failed' >&2; exit 1; }\n";
  for (const auto& c : t.commands) out += "{\n" + c + "\n} || exit $?\n";
  return out;
}

// The stage's `setup:` lines (the file's, then the stage's own).
std::vector<std::string> setup_lines(const json& meta, const plan::Plan& p, size_t stage) {
  return plan::setup_from_options(stage_options(meta, p, stage, meta.value("backend", std::string("local"))));
}

Result<PreparedTask> prepare_task(const store::Experiment& exp, const plan::Plan& p, const json& meta, size_t task,
                                  std::vector<std::string>* spares, const std::vector<std::string>* setup,
                                  bool inline_script) {
  bool fresh = false;
  auto attempt = exp.begin_attempt(task, &fresh, spares);
  if (!attempt) return attempt.error();
  PreparedTask out;
  out.attempt = attempt.value();
  std::string workdir = meta.value("workdir", std::string("."));
  std::vector<std::string> own_setup;
  if (!setup) own_setup = setup_lines(meta, p, store::locate(p, task).first);
  const auto& lines = setup ? *setup : own_setup;
  if (inline_script) {
    std::vector<std::string> env;
    // (bash sources $BASH_ENV before the script: what it sets would win over the environment but
    // lose to the script's exports, so with one set the script exports them all, as elsewhere.)
    const char* bash_env = std::getenv("BASH_ENV");
    const bool plain = env_shell(meta.value("shell", std::string())) && !(bash_env && *bash_env);
    std::string script = task_script(exp, p, task, workdir, out.attempt, lines, plain ? &env : nullptr);
    size_t size = script.size();
    for (const auto& e : env) size += e.size() + 1;
    if (size <= kMaxInlineScript && script.find('\0') == std::string::npos) {
      // (A reused folder may hold an earlier task's script: it goes, so that no stale one is seen.)
      if (!fresh) ::unlink((exp.task_dir(task) + "/cmd.sh").c_str());
      out.script = std::move(script);
      out.env = std::move(env);
      return out;
    }
  }
  std::string script = task_script(exp, p, task, workdir, out.attempt, lines);
  // In a folder just made (or reused), nobody reads cmd.sh before the worker is handed the task.
  if (fresh) XRUN_TRY(util::write_new_file(exp.task_dir(task) + "/cmd.sh", script));
  else XRUN_TRY(util::atomic_write(exp.task_dir(task) + "/cmd.sh", script));
  return out;
}

Result<void> write_task_scripts(const store::Experiment& exp, const plan::Plan& p, const json& meta,
                                const std::vector<size_t>& tasks, const std::string& path,
                                std::vector<std::pair<size_t, int>>* begun) {
  const std::string workdir = meta.value("workdir", std::string("."));
  const std::string token = util::random_token(16);
  std::string out = fmt::format("#xrun-task-scripts {}\n", token);
  std::map<size_t, std::vector<std::string>> setups;
  const auto index = exp.index();
  for (size_t id : tasks) {
    int attempt = 1;
    // Run before: its files (or its entry in the index of finished tasks, whose folder may be
    // gone) become an earlier attempt.
    if (index->contains(id) || util::is_dir(exp.task_dir(id))) {
      auto a = exp.archive_attempt(id);
      if (!a) return a.error();
      attempt = a.value();
      if (begun) begun->emplace_back(id, attempt);
    }
    size_t stage = store::locate(p, id).first;
    if (!setups.count(stage)) setups[stage] = setup_lines(meta, p, stage);
    out += fmt::format("#xrun-{} task {} {}\n", token, id, attempt);
    out += task_script(exp, p, id, workdir, attempt, setups[stage]);
    out += fmt::format("#xrun-{} end {}\n", token, id);
  }
  return util::atomic_write(path, out);
}

std::vector<std::string> wrapper_argv(const store::Experiment& exp, size_t task) {
  static const std::string sh = run::find_on_path("sh");
  return {sh.empty() ? "sh" : sh, exp.path("wrapper.sh"), exp.task_dir(task)};
}

std::vector<std::string> worker_argv(const store::Experiment& exp, const std::string& shell) {
  // The binary's own path (so that `ps` names it); /proc/self/exe, this very binary, when the
  // file was removed or replaced since it started.
  std::string self = "/proc/self/exe";
  char buf[4096];
  ssize_t n = ::readlink(self.c_str(), buf, sizeof buf - 1);
  const std::string_view deleted = " (deleted)";
  if (n > 0) {
    std::string path(buf, static_cast<size_t>(n));
    if (path.size() <= deleted.size() || path.compare(path.size() - deleted.size(), deleted.size(), deleted) != 0) {
      struct stat mine {}, there {};
      if (::stat(self.c_str(), &mine) == 0 && ::stat(path.c_str(), &there) == 0 && mine.st_ino == there.st_ino &&
          mine.st_dev == there.st_dev)
        self = path;
    }
  }
  return {self, "_worker", exp.dir() + "/tasks", shell};
}

}  // namespace xrun::run
