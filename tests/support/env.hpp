// A temp working directory with its own run store, for CLI tests.
#pragma once

#include <nlohmann/json.hpp>

#include "support/support.hpp"

namespace xrun::test {

struct Env {
  util::TempDir dir{"xrun-cli-"};
  RunOpts opts;
  Env() {
    opts.cwd = dir.path();
    opts.env["XRUN_HOME"] = dir.path() + "/store";
    opts.timeout = 120;
  }
  // What a test left running in its folder (a check that failed before the task it waits on
  // was released) is killed with it, never left looping.
  ~Env() { kill_processes_in(dir.path()); }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  std::string path(const std::string& rel) const { return dir.path() + "/" + rel; }
  std::string file(const std::string& name, const std::string& text) const { return write_file(dir.path(), name, text); }
  RunResult x(const std::vector<std::string>& args) const { return xrun(args, opts); }
  Background bg(const std::vector<std::string>& args) const { return xrun_background(args, opts, dir.path()); }
  nlohmann::json status(const std::string& id) const {
    auto r = x({"status", id, "--json"});
    REQUIRE(r.code == 0);
    return nlohmann::json::parse(r.out);
  }
  std::string state(const std::string& id, size_t task) const { return status(id)["tasks"][task]["state"]; }
  std::string exp_dir(const std::string& id) const { return dir.path() + "/store/experiments/" + id; }
  // (task process group, wrapper pid) from a task's `started` record.
  std::pair<long, long> started_pids(const std::string& id, size_t task) const {
    auto rec = read(exp_dir(id) + "/tasks/" + std::to_string(task) + "/started");
    REQUIRE(rec.find("written=1") != std::string::npos);
    return {std::stol(rec.substr(rec.find("pid=") + 4)), std::stol(rec.substr(rec.find("wrapper=") + 8))};
  }
};

}  // namespace xrun::test
