// `xrun plan FILE [--json]`: the stages and tasks the file expands to.
#include <iostream>
#include <memory>

#include "xrun/cli/common.hpp"

namespace xrun::cli {

void set_plan_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("plan", "Expand the experiment file into stages of unique tasks and print them");
  auto in = std::make_shared<SpecInputs>();
  auto as_json = std::make_shared<bool>(false);
  add_spec_options(sub, *in, true);
  sub->add_flag("--json", *as_json, "Print the plan as JSON (a stable contract)");
  sub->callback([&ctx, in, as_json] {
    ctx.action = [in, as_json]() -> int {
      auto ex = load_expander(*in);
      if (!ex) return report(ex.error());
      print_warnings(in->file, ex->warnings());
      static char buf[1 << 16];
      std::cout.rdbuf()->pubsetbuf(buf, sizeof buf);
      auto r = *as_json ? ex->write_json(std::cout) : print_plan_text(ex.value(), std::cout);
      std::cout.flush();
      if (!r) return report(r.error());
      return kSuccess;
    };
  });
}

}  // namespace xrun::cli
