// `xrun plan FILE [--json] [-b BACKEND]`: the stages and tasks the file expands to; with --json,
// each task's content key on the backend `check` chooses (or -b's).
#include <iostream>
#include <memory>

#include "xrun/cli/common.hpp"
#include "xrun/ops/create.hpp"

namespace xrun::cli {

void set_plan_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("plan", "Expand the experiment file into stages of unique tasks and print them");
  auto in = std::make_shared<SpecInputs>();
  auto as_json = std::make_shared<bool>(false);
  auto backend = std::make_shared<std::string>();
  add_spec_options(sub, *in, true);
  sub->add_flag("--json", *as_json, "Print the plan as JSON (a stable contract), each task with its content key");
  sub->add_option("-b,--backend", *backend,
                  "The backend the keys are for (default: the one `check` chooses: the file's backend section, "
                  "else local)");
  sub->callback([&ctx, in, as_json, backend] {
    ctx.action = [in, as_json, backend]() -> int {
      auto ex = load_expander(*in);
      if (!ex) return report(ex.error());
      print_warnings(in->file, ex->warnings());
      // A task's key depends on the backend (a Docker image is part of it): the one `run` would
      // take; with sections of several backends and no -b, local (as `check` says).
      auto chosen = ops::choose_backend(*backend, ex->spec());
      const std::string bname = chosen ? chosen.value() : std::string("local");
      if (!backend->empty())
        if (auto made = backend::make(bname); !made) return report(made.error());
      static char buf[1 << 16];
      std::cout.rdbuf()->pubsetbuf(buf, sizeof buf);
      auto r = *as_json ? ex->write_json(std::cout, bname) : print_plan_text(ex.value(), std::cout);
      std::cout.flush();
      if (!r) return report(r.error());
      return kSuccess;
    };
  });
}

}  // namespace xrun::cli
