// `xrun logs EXP TASK`: a task's stdout (or stderr), whole, its tail, or followed.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "xrun/cli/common.hpp"
#include "xrun/run/process.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::cli {

namespace {

struct LogsArgs {
  std::string ref;
  std::string task;
  bool stderr_ = false;
  bool follow = false;
  long tail = -1;
  int attempt = 0;
};

// Copy the file from `offset` to stdout; returns the new offset.
off_t copy_from(const std::string& path, off_t offset) {
  util::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return offset;
  char buf[65536];
  for (;;) {
    ssize_t n = ::pread(fd.get(), buf, sizeof buf, offset);
    if (n <= 0) break;
    std::cout.write(buf, n);
    offset += n;
  }
  std::cout.flush();
  return offset;
}

int do_logs(const Context& ctx, const LogsArgs& a) {
  auto o = open_experiment(ctx, a.ref);
  if (!o) return report(o.error());
  auto id = store::resolve_task_ref(o->plan, a.task);
  if (!id) return report(id.error());
  std::string dir = o->exp.task_dir(id.value());
  if (a.attempt > 0) {
    std::string adir = fmt::format("{}/attempts/{}", dir, a.attempt);
    if (util::is_dir(adir)) dir = adir;
    else if (util::try_read_file(dir + "/attempt").value_or("") != fmt::format("{}\n", a.attempt))
      return report(make_error(fmt::format("task {} has no attempt {}", id.value(), a.attempt),
                               "`xrun status --json` shows each task's attempt number"));
  }
  std::string path = dir + (a.stderr_ ? "/stderr" : "/stdout");
  if (!util::exists(path)) {
    auto t = o->exp.status_of(id.value());
    if (!a.follow) {
      std::cerr << fmt::format("xrun: task {} has no {} yet ({})", id.value(), a.stderr_ ? "stderr" : "stdout",
                               store::to_string(t.state))
                << std::endl;
      return kSuccess;
    }
  }
  off_t offset = 0;
  if (a.tail >= 0) {
    std::string t = run::tail_lines(path, static_cast<size_t>(a.tail));
    if (a.tail > 0 && !t.empty()) std::cout << t << "\n" << std::flush;
    util::Fd fd(::open(path.c_str(), O_RDONLY));
    offset = fd.valid() ? ::lseek(fd.get(), 0, SEEK_END) : 0;
  } else {
    offset = copy_from(path, 0);
  }
  if (!a.follow) return kSuccess;
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP});
  for (;;) {
    offset = copy_from(path, offset);
    auto st = o->exp.status_of(id.value());
    if (store::is_final(st.state)) {
      copy_from(path, offset);
      return kSuccess;
    }
    if (sigs.wait(0.25) != 0) return kSuccess;
  }
}

}  // namespace

void set_logs_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("logs", "Print a task's output (stdout, or stderr with --stderr)");
  auto a = std::make_shared<LogsArgs>();
  sub->add_option("experiment", a->ref, "Experiment id, unique prefix, or 'latest'")->required();
  sub->add_option("task", a->task, "Task number as `xrun status` prints it, or STAGE/INDEX")->required();
  sub->add_flag("-e,--stderr", a->stderr_, "The task's stderr instead of its stdout");
  sub->add_flag("-f,--follow", a->follow, "Keep printing new output until the task ends");
  sub->add_option("-n,--tail", a->tail, "Only the last N lines")->check(CLI::Range(0L, 100000000L));
  sub->add_option("--attempt", a->attempt, "An earlier attempt's log (1 = the first)")->check(CLI::Range(1, 1000000));
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_logs(ctx, *a); }; });
}

}  // namespace xrun::cli
