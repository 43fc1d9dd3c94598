// `xrun help [COMMAND]`
#include <iostream>

#include "xrun/cli/app.hpp"

namespace xrun::cli {

void set_help_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("help", "Show help for xrun or for one command");
  auto name = std::make_shared<std::string>();
  sub->add_option("command", *name, "The command to describe");
  sub->callback([&ctx, name, &app] {
    ctx.action = [name, &app]() -> int {
      if (name->empty()) {
        std::cout << app.help();
        return kSuccess;
      }
      for (auto* s : app.get_subcommands({})) {
        if (s->get_name() == *name) {
          std::cout << s->help();
          return kSuccess;
        }
      }
      std::cerr << "xrun: error: no command named '" << *name << "'\n  hint: run 'xrun help' for the list"
                << std::endl;
      return kBadInput;
    };
  });
}

}  // namespace xrun::cli
