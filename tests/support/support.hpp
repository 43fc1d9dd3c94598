// Helpers for tests: run the built xrun binary with a timeout, temp dirs, files.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "xrun/util/fs.hpp"

namespace xrun::test {

// Ends a test case that cannot run here (no cluster, no terminal, ...): ctest reports it
// SKIPPED by this marker (SKIP_REGULAR_EXPRESSION), never by the exit code, which Catch also
// uses for the number of failed assertions.
[[noreturn]] inline void skip_exit() {
  std::fprintf(stdout, "\nXRUN_TEST_SKIPPED\n");
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(4);
}


struct RunResult {
  int code = -1;        // exit code; 128+N when killed by signal N
  std::string out, err;
  bool timed_out = false;
  double seconds = 0;
};

struct RunOpts {
  std::string cwd;
  std::map<std::string, std::string> env;  // added to / overriding the environment
  double timeout = 60;
};

// Run `xrun args...` (the built binary) and wait for it.
RunResult xrun(const std::vector<std::string>& args, const RunOpts& o = {});
// Run any program.
RunResult run_program(const std::vector<std::string>& argv, const RunOpts& o = {});

// Start `xrun args...` in the background (own process group); output to files in `dir`.
struct Background {
  pid_t pid = -1;
  std::string out_path, err_path;
  int wait(double timeout = 60);  // exit code (128+N for a signal), -1 on timeout (then killed)
  std::string out() const;
  std::string err() const;
};
Background xrun_background(const std::vector<std::string>& args, const RunOpts& o, const std::string& dir);
// The experiment id a background `xrun run` prints first (the test fails when none comes).
std::string wait_for_id(const Background& b);

std::string write_file(const std::string& dir, const std::string& name, const std::string& content);
std::string read(const std::string& path);
std::string source_dir();
std::string first_line(const std::string& s);
// The most '+' lines open at once in a trace of '+' (start) and '-' (end) lines.
int peak_concurrency(const std::string& trace);
// The ```yaml blocks of a Markdown page, in order.
std::vector<std::string> yaml_blocks(const std::string& markdown);
// SIGKILL every process of ours whose working directory or command line is inside `dir`.
void kill_processes_in(const std::string& dir) noexcept;
// Poll `pred` every 50 ms up to `timeout` seconds.
bool eventually(const std::function<bool()>& pred, double timeout = 20);

}  // namespace xrun::test
