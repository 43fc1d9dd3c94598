#include "xrun/cli/app.hpp"
namespace xrun::cli {
void set_run_command(CLI::App& app, Context& ctx) { (void)app; (void)ctx; }
}  // namespace xrun::cli
