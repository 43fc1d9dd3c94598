// `xrun logs EXP TASK`: a task's stdout (or stderr), whole, its tail, or followed.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "xrun/cli/common.hpp"
#include "xrun/ops/reuse.hpp"
#include "xrun/ops/select.hpp"
#include "xrun/run/process.hpp"
#include "xrun/run/report.hpp"
#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::cli {

namespace {

struct LogsArgs {
  std::vector<std::string> refs;  // [EXP] [TASK]
  std::string ref = "latest";
  std::string task;
  bool failed = false;
  std::vector<std::string> where;  // --where
  bool stderr_ = false;
  bool follow = false;
  long tail = -1;
  int attempt = 0;
};

// Copy the file from `offset` to stdout; returns the new offset.
off_t copy_from(const std::string& base, const std::string& path, off_t offset) {
  util::Fd fd = util::open_under(base, path, O_RDONLY | O_NONBLOCK);
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

// --failed: the stderr tail of every task that failed, timed out, was lost or ran out of memory;
// --where: of every task that matches (and failed, with --failed too).
int print_failed(const Opened& o, long tail, bool failed, const run::TaskFilter& keep) {
  auto st = o.statuses();
  size_t n = 0;
  for (const auto& t : st) {
    if (failed && !store::is_failure(t.state)) continue;
    if (keep && !keep(t)) continue;
    ++n;
    // A task reused from another experiment: that task's stderr.
    const auto place = ops::output_place(o.exp, t.id, t.state == store::State::Succeeded ? t.reason : "");
    std::cout << fmt::format("== task {} ({}/{}) {}{}{}\n", t.id, o.plan.stages[t.stage].name, t.index,
                             store::to_string(t.state), t.reason.empty() ? "" : ": " + t.reason,
                             place.removed ? std::string(" ") + store::kSourceRemoved : "");
    std::string text = place.removed ? std::string()
                                     : run::tail_lines(place.exp.dir(), place.dir() + "/stderr",
                                                       static_cast<size_t>(tail < 0 ? 20 : tail));
    if (!text.empty()) std::cout << text << "\n";
  }
  std::cout.flush();
  std::cerr << fmt::format("xrun: {} {}task{} in {}{}", n, failed ? "failed " : "", n == 1 ? "" : "s", o.exp.id(),
                           keep ? " matching --where" : "")
            << std::endl;
  return kSuccess;
}

int do_logs(const Context& ctx, LogsArgs a) {
  // `xrun logs TASK` reads the latest experiment, as `status` does; `xrun logs EXP TASK` names it;
  // with --failed the one argument is the experiment.
  if (a.refs.size() == 2) {
    a.ref = a.refs[0];
    a.task = a.refs[1];
  } else if (a.refs.size() == 1) {
    (a.failed || !a.where.empty() ? a.ref : a.task) = a.refs[0];
  }
  auto selection = ops::parse_selection(a.where, {});
  if (!selection) return report(selection.error());
  if (a.ref.empty())
    return report(make_error("an empty experiment reference", "give an experiment id, a unique prefix of one, or 'latest'"));
  auto o = open_experiment_by_name(ctx, a.ref);
  if (!o) return report(o.error());
  if (a.failed || !a.where.empty()) {
    if (!a.task.empty()) return report(make_error("give a task, or --failed / --where, not both", "e.g. xrun logs EXP --where 'seed=1'"));
    auto keep = ops::selector(o->plan, selection.value());
    if (!keep) return report(keep.error());
    return print_failed(o.value(), a.tail, a.failed, keep.value());
  }
  if (a.task.empty())
    return report(make_error("which task? give its number as `xrun status` prints it",
                             "e.g. `xrun logs 3`, `xrun logs EXP 3 --stderr`, or `xrun logs EXP --failed`"));
  auto id = store::resolve_task_ref(o->plan, a.task);
  if (!id) return report(id.error());
  std::string dir = o->exp.task_dir(id.value());
  // What the store knows (no scheduler asked): whether this attempt ran, and its number.
  const store::TaskFacts facts = o->exp.facts_of(id.value());
  bool ran = facts.record.has_value();
  std::string base = o->exp.dir();  // what the output is read beneath
  // A task reused from another experiment: that task's output, while that experiment exists.
  if (facts.control && facts.control->state == store::kReusedState && a.attempt == 0) {
    const auto place = ops::output_place(o->exp, id.value(), facts.control->reason);
    if (place.removed) {
      std::cerr << fmt::format("xrun: task {} was {} {}: its output went with it", id.value(), facts.control->reason,
                               store::kSourceRemoved)
                << std::endl;
      return kFailure;
    }
    std::cerr << fmt::format("xrun: task {} was {}: that task's output", id.value(), facts.control->reason)
              << std::endl;
    base = place.exp.dir();
    dir = place.dir();
  }
  if (a.attempt > 0) {
    std::string adir = fmt::format("{}/attempts/{}", dir, a.attempt);
    long current = facts.record ? facts.record->attempt
                                : util::parse_long(util::trim(util::try_read_file(dir + "/attempt").value_or(""))).value_or(0);
    if (util::is_dir(adir)) {
      dir = adir;
      ran = true;  // an earlier attempt is over
    } else if (current != a.attempt) {
      return report(make_error(fmt::format("task {} has no attempt {}", id.value(), a.attempt),
                               "`xrun status --json` shows each task's attempt number"));
    }
  }
  std::string path = dir + (a.stderr_ ? "/stderr" : "/stdout");
  if (!util::exists(path) && a.attempt == 0 && !ran) {
    // A task that left no output (killed for memory, failed to launch): the scheduler's log.
    std::string sched = o->backend->scheduler_log(o->exp, id.value());
    if (!sched.empty() && util::exists(sched)) {
      std::cerr << fmt::format("xrun: task {} has no {}; its scheduler log {}:", id.value(),
                               a.stderr_ ? "stderr" : "stdout", sched)
                << std::endl;
      copy_from(o->exp.dir(), sched, 0);
      return kSuccess;
    }
  }
  // An output file that stayed empty is not kept once the task is folded into the index: the
  // task ran, and its output is empty.
  if (!util::exists(path) && ran && !a.follow) return kSuccess;
  if (!util::exists(path) && !ran) {
    auto t = o->status_of(id.value());
    if (!a.follow) {
      std::cerr << fmt::format("xrun: task {} has no {} yet ({})", id.value(), a.stderr_ ? "stderr" : "stdout",
                               store::to_string(t.state))
                << std::endl;
      return kSuccess;
    }
  }
  off_t offset = 0;
  if (a.tail >= 0) {
    std::string t = run::tail_lines(base, path, static_cast<size_t>(a.tail));
    if (a.tail > 0 && !t.empty()) std::cout << t << "\n" << std::flush;
    util::Fd fd = util::open_under(base, path, O_RDONLY | O_NONBLOCK);
    offset = fd.valid() ? ::lseek(fd.get(), 0, SEEK_END) : 0;
  } else {
    offset = copy_from(base, path, 0);
  }
  if (!a.follow) return kSuccess;
  run::SignalBlocker sigs({SIGINT, SIGTERM, SIGHUP});
  const bool local = o->meta.value("backend", std::string("local")) == "local";
  for (;;) {
    offset = copy_from(base, path, offset);
    auto st = o->status_of(id.value());
    if (store::is_final(st.state)) {
      copy_from(base, path, offset);
      return kSuccess;
    }
    // A local task that has not started and has no live runner will not start by itself.
    if (local && st.state == store::State::Pending && !o->exp.runner_alive()) {
      std::cerr << fmt::format("xrun: task {} is PENDING and no runner is alive to start it (xrun resume {})",
                               id.value(), o->exp.id())
                << std::endl;
      return kSuccess;
    }
    if (sigs.wait(0.25) != 0) return kSuccess;
  }
}

}  // namespace

void set_logs_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("logs", "Print a task's output (stdout, or stderr with --stderr)");
  auto a = std::make_shared<LogsArgs>();
  sub->add_option("refs", a->refs,
                  "[EXPERIMENT] TASK: the task number as `xrun status` prints it (or STAGE/INDEX), of the latest "
                  "experiment unless an id, unique prefix, name (its latest run) or 'latest' comes first")
      ->expected(0, 2);
  sub->add_flag("--failed", a->failed, "The stderr tail (-n lines, default 20) of every failed task");
  sub->add_option("--where", a->where,
                  "As --failed, for every task whose variables and state match, e.g. --where 'seed=1' (with --failed: "
                  "those that failed)");
  sub->add_flag("-e,--stderr", a->stderr_, "The task's stderr instead of its stdout");
  sub->add_flag("-f,--follow", a->follow, "Keep printing new output until the task ends");
  sub->add_option("-n,--tail", a->tail, "Only the last N lines")->check(CLI::Range(0L, 100000000L));
  sub->add_option("--attempt", a->attempt, "An earlier attempt's log (1 = the first)")->check(CLI::Range(1, 1000000));
  sub->callback([&ctx, a] { ctx.action = [&ctx, a] { return do_logs(ctx, *a); }; });
}

}  // namespace xrun::cli
