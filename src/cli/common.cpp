#include "xrun/cli/common.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cstdio>
#include <iostream>

#include "xrun/backend/observe.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::cli {

void add_spec_options(CLI::App* sub, SpecInputs& in, bool with_set) {
  sub->add_option("file", in.file, "The experiment file (default: ./experiment.yml)");
  sub->add_option("-f,--input-file", in.file_flag, "The experiment file (experi's spelling of FILE)");
  if (with_set)
    sub->add_option("--set", in.sets, "Override a variable's values: NAME=VALUE or NAME=[v1,v2]")
        ->type_name("NAME=VALUE");
  sub->add_option("--max-combinations", in.max_combinations,
                  fmt::format("Refuse sweeps with more combinations than this (0 = no limit; default {})",
                              plan::kDefaultMaxCombinations));
}

void add_run_options(CLI::App* sub, backend::RunOptions& opts) {
  sub->add_option("-j,--jobs", opts.jobs, "Parallel tasks on the local pool (default: `local: {jobs}` or CPU count)")
      ->check(CLI::Range(1, 100000));
  sub->add_flag("--detach", opts.detach, "Return at once; the runner goes on in the background (own session)");
  sub->add_flag("-k,--keep-going", opts.keep_going, "Run later stages even when a stage failed");
  sub->add_flag("--skip-existing,--use-dependencies", opts.skip_existing, "Skip tasks whose `creates` file exists");
  sub->add_flag("-q,--quiet", opts.quiet, "No progress line and no summary");
  sub->add_flag("--wait", opts.wait, "Schedulers: follow the experiment to its end (exit codes as for local runs)");
}

Result<plan::Expander> load_expander(SpecInputs& in) {
  if (!in.file.empty() && !in.file_flag.empty() && in.file != in.file_flag)
    return make_error(fmt::format("two experiment files given: '{}' and -f '{}'", in.file, in.file_flag),
                      "give the file once");
  if (in.file.empty()) in.file = in.file_flag;
  if (in.file.empty()) {
    in.file = "experiment.yml";
    if (!util::exists(in.file))
      return make_error("no experiment file given, and there is no experiment.yml in this directory",
                        "give the file (`xrun run FILE` or `-f FILE`), or run from the folder holding experiment.yml");
  }
  vars::Overrides ov;
  for (const auto& s : in.sets) {
    auto r = vars::parse_override(s);
    if (!r) return r.error();
    ov.push_back(std::move(r.value()));
  }
  auto sp = spec::load_spec(in.file);
  if (!sp) return sp.error();
  return plan::Expander::create(std::move(sp.value()), ov, in.max_combinations);
}

void print_warnings(const std::string& file, const std::vector<vars::Warning>& warnings) {
  std::fflush(stdout);
  for (const auto& w : warnings) {
    if (w.loc.line <= 0)  // not from the file (a --set)
      std::cerr << "xrun: warning: " << w.what << std::endl;
    else
      std::cerr << fmt::format("{}:{}:{}: warning: {}", file, w.loc.line, w.loc.col > 0 ? w.loc.col : 1, w.what)
                << std::endl;
  }
}

std::vector<store::TaskStatus> Opened::statuses() const {
  auto seen = backend::observe_tasks(*backend, exp, plan, meta);
  if (seen.warning)
    std::cerr << "xrun: warning: " << seen.warning->what
              << (seen.warning->hint.empty() ? "" : " (" + seen.warning->hint + ")") << std::endl;
  return std::move(seen.tasks);
}

store::TaskStatus Opened::status_of(size_t task) const {
  return backend::observe_task(*backend, exp, plan, meta, task, exp.cancelled().count(task) > 0);
}

Result<Opened> open_experiment(const Context& ctx, const std::string& ref) {
  Opened o;
  o.store = store::Store::open(ctx.store);
  auto e = o.store.find(ref);
  if (!e) return e.error();
  o.exp = e.value();
  auto m = o.exp.meta();
  if (!m) return m.error();
  o.meta = m.value();
  auto p = o.exp.load_plan();
  if (!p) return p.error();
  o.plan = std::move(p.value());
  auto b = backend::make(o.meta.value("backend", std::string("local")));
  if (!b) return b.error();
  o.backend = std::move(b.value());
  return o;
}

Result<void> cancel_tasks(const Opened& o, const std::vector<store::TaskStatus>& targets) {
  if (targets.empty()) return {};
  std::vector<size_t> ids;
  for (const auto& t : targets) ids.push_back(t.id);
  XRUN_TRY(o.exp.add_cancel_request(ids));
  return o.backend->cancel(o.exp, o.plan, o.meta, targets);
}

Result<void> print_plan_text(plan::Expander& ex, std::ostream& os,
                             const std::function<bool(size_t stage, const plan::TaskRef&)>& keep) {
  const auto& sp = ex.spec();
  fmt::print(os, "experiment {} ({} stage{})\n", sp.name, ex.stage_count(), ex.stage_count() == 1 ? "" : "s");
  for (size_t s = 0; s < ex.stage_count(); ++s) {
    std::string body;
    size_t count = 0;
    XRUN_TRY(ex.for_each_task(s, [&](const plan::TaskRef& t) {
      if (keep && !keep(s, t)) return;
      ++count;
      body += fmt::format("  [{}]", t.index);
      if (t.commands.size() == 1) {
        body += " " + t.commands[0] + "\n";
      } else {
        body += "\n";
        for (const auto& c : t.commands) body += "      " + c + "\n";
      }
      if (t.creates) body += fmt::format("      creates: {}\n", *t.creates);
      if (t.requires_) body += fmt::format("      requires: {}\n", *t.requires_);
    }));
    fmt::print(os, "\nstage {}/{} '{}' (on_failure: {}): {} task{}\n", s + 1, ex.stage_count(), sp.stages[s].name,
               spec::to_string(sp.stages[s].on_failure), count, count == 1 ? "" : "s");
    os << body;
  }
  return {};
}

}  // namespace xrun::cli
