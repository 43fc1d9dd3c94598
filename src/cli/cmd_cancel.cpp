#include "xrun/cli/app.hpp"
namespace xrun::cli {
void set_cancel_command(CLI::App& app, Context& ctx) { (void)app; (void)ctx; }
}  // namespace xrun::cli
