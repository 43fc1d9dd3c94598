// `xrun check FILE [--json]`: validate and summarise; exit 0 when valid (warnings allowed), 2 if not.
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "xrun/cli/common.hpp"
#include "xrun/ops/create.hpp"

namespace xrun::cli {

void set_check_command(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("check", "Validate the experiment file and summarise stages, variables and warnings");
  auto in = std::make_shared<SpecInputs>();
  auto as_json = std::make_shared<bool>(false);
  add_spec_options(sub, *in, true);
  sub->add_flag("--json", *as_json, "Print the summary as JSON");
  sub->callback([&ctx, in, as_json] {
    ctx.action = [in, as_json]() -> int {
      auto ex = load_expander(*in);
      if (!ex) {
        if (*as_json) {
          const Error& e = ex.error();
          nlohmann::ordered_json j{{"file", in->file}, {"valid", false},
                                   {"error", {{"line", e.line}, {"column", e.col}, {"message", e.what}, {"hint", e.hint}}}};
          std::cout << j.dump(2) << std::endl;
        }
        return report(ex.error());
      }
      auto rep = ex->check();
      Result<void> valid;
      if (auto b = ops::choose_backend("", ex->spec()); !b) {
        valid = b.error();
      } else if (auto made = backend::make(b.value()); !made) {
        auto at = ex->spec().option_locs.find(b.value());  // the section that asks for it
        valid = spec::error_at(ex->spec().path, at != ex->spec().option_locs.end() ? at->second : spec::Loc{1, 1},
                               made.error().what, made.error().hint);
      } else if (auto v = ops::validate_options(ex->spec(), b.value()); !v) {
        valid = v.error();
      }
      if (rep && !valid) rep = valid.error();
      if (!rep) {
        if (*as_json) {
          const Error& e = rep.error();
          nlohmann::ordered_json j{{"file", in->file}, {"valid", false},
                                   {"error", {{"line", e.line}, {"column", e.col}, {"message", e.what}, {"hint", e.hint}}}};
          std::cout << j.dump(2) << std::endl;
        }
        return report(rep.error());
      }
      auto chosen = ops::choose_backend("", ex->spec());
      const std::string bname = chosen ? chosen.value() : std::string("local");
      // A demand the file's declared resources cannot meet: `run` refuses it unless
      // --resources declares them; said here as a warning.
      if (auto d = ops::validate_demands(ex->spec(), bname, backend::RunOptions{}); !d)
        std::cerr << fmt::format("{}:{}:{}: warning: {} (`run` refuses it unless --resources declares it)\n", in->file,
                                 d.error().line, d.error().col, d.error().what);
      // The scheduler's commands missing here: `run` refuses, `check` stays usable on a laptop.
      if (auto made = backend::make(bname); made)
        if (auto pr = made.value()->check_programs(ex->spec().options_for(bname)); !pr)
          std::cerr << fmt::format("{}: warning: {} (`run` refuses it here; {})\n", in->file, pr.error().what,
                                   pr.error().hint);
      auto outline = ops::outline_stages(ex->spec(), bname);
      if (*as_json) {
        auto j = rep->to_json(in->file);
        nlohmann::ordered_json graph = nlohmann::ordered_json::array();
        for (const auto& o : outline) {
          nlohmann::ordered_json res = nlohmann::ordered_json::object();
          for (const auto& [k, n] : o.resources) res[k] = n;
          nlohmann::ordered_json needs = nlohmann::ordered_json::array();
          for (const auto& n : o.needs)
            needs.push_back({{"stage", n.stage}, {"must", n.success ? "succeed" : "end"}, {"per_task", n.per_task}});
          graph.push_back({{"stage", o.name},
                           {"after", o.after},
                           {"depends_on", needs},
                           {"options", o.options},
                           {"resources", res}});
        }
        j["backend"] = bname;
        j["graph"] = graph;
        std::cout << j.dump(2) << std::endl;
        return kSuccess;
      }
      const auto& r = rep.value();
      fmt::print("{}: valid\n", in->file);
      fmt::print("experiment: {}\n", r.name);
      fmt::print("stages: {}, tasks: {}\n", r.stages.size(), r.total_tasks);
      for (size_t i = 0; i < r.stages.size(); ++i) {
        const auto& s = r.stages[i];
        std::string cap;
        if (s.cap)
          cap = s.cap->seed ? fmt::format("; max_tasks {} drawn with seed {}", s.cap->n, *s.cap->seed)
                            : fmt::format("; max_tasks {}: the first ones", s.cap->n);
        fmt::print("  {}. {:<16} {:>8} task{} ({} combination{}, {} duplicate{} removed; on_failure: {}{})\n", i + 1,
                   s.name, s.tasks, s.tasks == 1 ? " " : "s", s.combinations, s.combinations == 1 ? "" : "s",
                   s.duplicates, s.duplicates == 1 ? "" : "s", spec::to_string(s.on_failure), cap);
      }
      // The graph, in the order stages can run, with each stage's effective options.
      fmt::print("graph (backend {}):\n", bname);
      for (const auto& o : outline) {
        fmt::print("  {}: {}\n", o.name, o.after);
        std::vector<std::string> opts;
        for (auto& [k, v] : o.options.items()) opts.push_back(fmt::format("{}={}", k, v.is_string() ? v.get<std::string>() : v.dump()));
        for (const auto& [k, n] : o.resources) opts.push_back(fmt::format("resources.{}={}", k, n));
        if (!opts.empty()) fmt::print("    options: {}\n", fmt::join(opts, ", "));
      }
      if (r.variables.empty()) {
        fmt::print("variables: none\n");
      } else {
        fmt::print("variables:\n");
        for (const auto& v : r.variables)
          fmt::print("  {:<20} {} value{}{}\n", v.name, v.distinct, v.distinct == 1 ? "" : "s",
                     v.source.empty() ? "" : " (" + v.source + ")");
      }
      if (!r.options.empty()) {
        fmt::print("backend sections:");
        for (auto& [k, v] : r.options.items()) fmt::print(" {}", k);
        fmt::print("\n");
      }
      print_warnings(in->file, r.warnings);
      return kSuccess;
    };
  });
}

}  // namespace xrun::cli
