// `xrun _worker TASKS_DIR [SHELL]`: a local pool slot's worker, started by the runner (not
// listed in the help; run/worker.hpp says what it does).
#include <memory>

#include "xrun/cli/common.hpp"
#include "xrun/run/worker.hpp"

namespace xrun::cli {

namespace {
struct WorkerArgs {
  std::string tasks, shell;
};
}  // namespace

void set_worker_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("_worker", "A local pool slot's worker (started by the runner)");
  sub->group("");  // internal: not in the help
  auto a = std::make_shared<WorkerArgs>();
  sub->add_option("tasks", a->tasks, "The experiment's tasks folder")->required();
  sub->add_option("shell", a->shell, "The task shell (empty: bash, else sh)");
  sub->callback([&ctx, a] { ctx.action = [a] { return run::run_worker(a->tasks, a->shell); }; });
}

}  // namespace xrun::cli
