#include "xrun/cli/app.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "xrun/util/text.hpp"

namespace xrun::cli {

int report(const Error& e) {
  std::string msg = e.format();
  if (e.file.empty()) msg = "xrun: " + msg;
  std::fflush(stdout);
  std::cerr << msg << std::endl;
  return e.exit_code;
}

namespace {

void setup_logging(const Context& ctx) {
  auto logger = spdlog::stderr_color_mt("xrun");
  logger->set_pattern("xrun: %^%l%$: %v");
  spdlog::set_default_logger(logger);
  if (ctx.quiet_logs) spdlog::set_level(spdlog::level::err);
  else if (ctx.verbosity >= 2) spdlog::set_level(spdlog::level::trace);
  else if (ctx.verbosity == 1) spdlog::set_level(spdlog::level::debug);
  else spdlog::set_level(spdlog::level::warn);
}

}  // namespace

int run_cli(int argc, char** argv) {
  // Freed memory goes back to the system past 128 KiB, as glibc starts out: its dynamic
  // thresholds would otherwise grow after the first large buffer is freed (reading an index or
  // a plan of 100,000 tasks), and keep ~10% more memory in a `status` of such an experiment.
  ::mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  CLI::App app{"xrun: expand an experiment file into tasks and run them on a local pool or a cluster.\n"
               "Docs: docs/cli.md and docs/experiment-file.md in the xrun source tree.",
               "xrun"};
  Context ctx;
  ctx.root = &app;
  app.set_version_flag("--version", std::string("xrun ") + XRUN_VERSION);
  app.add_option("--store", ctx.store, "Run store directory (default: $XRUN_HOME, else ~/.xrun)");
  app.add_flag("-v,--verbose", ctx.verbosity, "More log output on stderr (repeat for more)");
  app.add_flag("-q,--quiet-logs", ctx.quiet_logs, "Only errors in the log output");
  app.require_subcommand(1);
  app.fallthrough();

  set_plan_command(app, ctx);
  set_check_command(app, ctx);
  set_run_command(app, ctx);
  set_status_command(app, ctx);
  set_logs_command(app, ctx);
  set_cancel_command(app, ctx);
  set_list_command(app, ctx);
  set_resume_command(app, ctx);
  set_diff_command(app, ctx);
  set_rm_command(app, ctx);
  set_gc_command(app, ctx);
  set_help_command(app, ctx);
  set_worker_command(app, ctx);

  // An unknown first word gets a suggestion rather than CLI11's generic message.
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (auto* s : app.get_subcommands({})) names.push_back(s->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::string sg = util::suggest(argv[1], names);
      std::cerr << "xrun: error: unknown command '" << argv[1] << "'\n  hint: "
                << (sg.empty() ? "run 'xrun help' for the list of commands" : "did you mean '" + sg + "'?") << std::endl;
      return kBadInput;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::cerr << "xrun: error: " << what << "\n  hint: run 'xrun --help' or 'xrun help <command>'" << std::endl;
    return kBadInput;
  }
  setup_logging(ctx);
  if (!ctx.action) {
    std::cerr << app.help() << std::endl;
    return kBadInput;
  }
  try {
    return ctx.action();
  } catch (const std::exception& e) {
    std::cerr << "xrun: internal error: " << e.what()
              << "\n  hint: this is a bug in xrun; please report it with the command you ran" << std::endl;
    return kFailure;
  }
}

}  // namespace xrun::cli
