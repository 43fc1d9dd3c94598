// Helpers for the tests against schedulers (real Slurm, Slurm's qsub wrappers, the PBS fakes).
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "support/env.hpp"
#include "support/support.hpp"
#include "xrun/run/process.hpp"
#include "xrun/util/text.hpp"

namespace xrun::test {

// Skips the test (exit 4, with the reason) unless the real Slurm cluster answers.
inline void require_cluster() {
  static int state = -1;  // -1 unknown, 0 no, 1 yes
  static std::string why;
  if (state < 0) {
    if (const char* u = std::getenv("XRUN_SLURM_UNAVAILABLE"); u && *u) {
      why = u;
      state = 0;
    } else if (run::find_on_path("sbatch").empty()) {
      why = "no sbatch on PATH (start one with scripts/slurm-cluster.sh start, as root)";
      state = 0;
    } else {
      auto r = run::capture({"scontrol", "ping"}, 20);
      state = r && r->out.find("is UP") != std::string::npos ? 1 : 0;
      if (!state) why = "slurmctld does not answer `scontrol ping` (scripts/slurm-cluster.sh start)";
    }
  }
  if (state == 0) {
    std::cout << "SKIPPED: " << why << std::endl;
    xrun::test::skip_exit();
  }
}

// A folder `bin` of wrappers for `cmds` that log each call ("CMD ARGS") to `log`, then exec
// `target(cmd)` (the real command by default). Returns `bin`, to put first on PATH.
inline std::string logging_bin(const std::string& bin, const std::string& log, const std::vector<std::string>& cmds,
                               const std::function<std::string(const std::string&)>& target = {}) {
  for (const auto& cmd : cmds) {
    std::string real = target ? target(cmd) : run::find_on_path(cmd);
    write_file(bin, cmd, "#!/bin/sh\necho \"" + cmd + " $*\" >> " + log + "\nexec " + real + " \"$@\"\n");
    ::chmod((bin + "/" + cmd).c_str(), 0755);
  }
  return bin;
}

// How many calls of `cmd` the log has.
inline size_t count_logged(const std::string& log, const std::string& cmd) {
  size_t n = 0;
  for (const auto& line : util::split(read(log), '\n'))
    if (util::starts_with(line, cmd + " ")) ++n;
  return n;
}

// PATH with logging wrappers of Slurm's commands first; the calls go to the Env's calls.log.
inline std::string slurm_logging_path(const Env& e) {
  return logging_bin(e.path("logbin"), e.path("calls.log"), {"sbatch", "squeue", "scancel", "scontrol"}) + ":" +
         std::getenv("PATH");
}
inline size_t count_calls(const Env& e, const std::string& cmd) { return count_logged(e.path("calls.log"), cmd); }

}  // namespace xrun::test
