// The command-line interface. Each subcommand lives in its own file (src/cli/cmd_*.cpp) and
// registers itself with set_<name>_command; run_cli parses, dispatches and maps errors to exit codes.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "xrun/util/result.hpp"

namespace xrun::cli {

// Exit codes: 0 success, 1 a task did not succeed (or a runtime failure), 2 bad input, 130 interrupted.
enum ExitCode : int { kSuccess = 0, kFailure = 1, kBadInput = 2, kInterrupted = 130 };

struct Context {
  std::string store;          // --store (else $XRUN_HOME, else ~/.xrun)
  int verbosity = 0;          // -v count
  bool quiet_logs = false;    // -q
  std::function<int()> action;  // set by the chosen subcommand's callback
  CLI::App* root = nullptr;
};

// Print an error the user can act on; returns its exit code.
int report(const Error& e);

void set_plan_command(CLI::App& app, Context& ctx);
void set_check_command(CLI::App& app, Context& ctx);
void set_help_command(CLI::App& app, Context& ctx);
void set_run_command(CLI::App& app, Context& ctx);
void set_status_command(CLI::App& app, Context& ctx);
void set_logs_command(CLI::App& app, Context& ctx);
void set_cancel_command(CLI::App& app, Context& ctx);
void set_list_command(CLI::App& app, Context& ctx);
void set_resume_command(CLI::App& app, Context& ctx);
void set_diff_command(CLI::App& app, Context& ctx);
void set_rm_command(CLI::App& app, Context& ctx);
void set_gc_command(CLI::App& app, Context& ctx);
void set_worker_command(CLI::App& app, Context& ctx);

int run_cli(int argc, char** argv);

}  // namespace xrun::cli
