#include "xrun/cli/common.hpp"

#include "xrun/backend/options.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include <cctype>
#include <cstdio>
#include <limits>
#include <iostream>

#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

namespace xrun::cli {

void add_spec_options(CLI::App* sub, SpecInputs& in, bool with_set) {
  sub->add_option("file", in.file, "The experiment file (default: ./experiment.yml)");
  sub->add_option("-f,--input-file", in.file_flag, "The experiment file (experi's spelling of FILE)");
  if (with_set)
    sub->add_option("--set", in.sets, "Override a variable's values: NAME=VALUE or NAME=[v1,v2]")
        ->type_name("NAME=VALUE");
  sub->add_option("--limit", in.limit, "Keep the first N tasks of every stage (over the file's max_tasks)")
      ->check(CLI::Range(static_cast<uint64_t>(1), std::numeric_limits<uint64_t>::max()));
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
  sub->add_option_function<std::vector<std::string>>(
         "--resources",
         [&opts](const std::vector<std::string>& args) {
           for (const auto& a : args) {
             auto r = backend::options::resource_arg(a);
             if (!r) throw CLI::ValidationError("--resources", r.error().what + "; " + r.error().hint);
             opts.resources[r->first] = r->second;
           }
         },
         "Local pool: what the machine has, NAME=ID,ID,... or NAME=COUNT (e.g. gpu=0,1,2,3); over `local: {resources}`")
      ->type_name("NAME=IDS");
}

Result<store::RunnerLock> wait_for_submission(const Opened& o, double seconds) {
  return store::RunnerLock::acquire_waiting(o.exp, seconds, [&] {
    std::cerr << fmt::format("xrun: another xrun process is submitting or resuming {}; waiting for it (up to {:.0f} s)",
                             o.exp.id(), seconds)
              << std::endl;
  });
}

void add_lock_timeout_option(CLI::App* sub, double& seconds) {
  sub->add_option("--lock-timeout", seconds,
                  "Slurm/PBS: seconds to wait for another xrun process submitting this experiment (default 120)")
      ->check(CLI::Range(0.0, 86400.0));
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
    std::string cap;
    if (auto c = ex.cap_of(s))
      cap = c->seed ? fmt::format(", max_tasks {} drawn with seed {}", c->n, *c->seed) : fmt::format(", max_tasks {}", c->n);
    fmt::print(os, "\nstage {}/{} '{}' (on_failure: {}{}): {} task{}\n", s + 1, ex.stage_count(), sp.stages[s].name,
               spec::to_string(sp.stages[s].on_failure), cap, count, count == 1 ? "" : "s");
    os << body;
  }
  return {};
}

Result<std::set<store::State>> parse_states(const std::vector<std::string>& args) {
  std::set<store::State> out;
  std::vector<std::string> names;
  for (auto s : store::all_states()) names.push_back(store::to_string(s));
  for (const auto& arg : args)
    for (const auto& word : util::split(arg, ',')) {
      std::string w = util::trim(word);
      for (auto& ch : w) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (w.empty()) continue;
      auto st = store::parse_state(w);
      if (!st) {
        std::string sg = util::suggest(w, names);
        return make_error(fmt::format("--state: '{}' is not a task state", word),
                          sg.empty() ? fmt::format("states: {}", fmt::join(names, ", ")) : fmt::format("did you mean {}?", sg));
      }
      out.insert(*st);
    }
  return out;
}

Result<Opened> open_experiment_by_name(const Context& ctx, const std::string& ref) {
  std::string note;
  auto o = ops::open_experiment(ctx.store, ref, true, &note);
  if (o && !note.empty()) std::cerr << "xrun: note: " << note << std::endl;
  return o;
}

}  // namespace xrun::cli
