// The local pool's worker: a long-lived process per pool slot (`xrun _worker TASKS_DIR SHELL`,
// started by the runner with its own process group) that runs the tasks whose ids arrive on
// stdin, one at a time.
//
// Protocol (the runner writes stdin, reads stdout):
//   in:  "ID ATTEMPT LENGTH ENVLENGTH" or "ID ATTEMPT LENGTH ENVLENGTH<TAB>NAME=value ..."
//        (variables for that task only: resource ids, recorded in its `started`), then LENGTH
//        bytes: the task's script (0: the script is TASK_DIR/cmd.sh), then ENVLENGTH bytes: the
//        variables the script does not export itself (run::task_script's `env`), each
//        NAME=value ending in a NUL byte, put in the shell's environment
//   out: "S <pgid> <ID>" once the task runs (its start recorded), "E <exit> <ID>" once it ended
//        (its end recorded); "E 2 <ID>" for an id that is not a number naming a folder of
//        TASKS_DIR, "E 75 <ID>" when its
//        records' room could not be reserved (the task did not run).
// Each task runs `SHELL -c SCRIPT TASK_DIR/cmd.sh` (`SHELL TASK_DIR/cmd.sh` when the script is in
// that file: too long for an argument; when the arguments and environment together are too long
// (E2BIG), the worker writes that file itself, exporting the variables in it), started
// (run::Child::spawn) in its own process group, with default signal dispositions, an empty
// signal mask, stdin /dev/null, stdout and stderr in TASK_DIR/stdout and TASK_DIR/stderr and no
// other descriptor: a freshly started shell, one spawn, no intermediate process. Its two records are written exactly as the sh wrapper writes
// them (room reserved before the task starts, each record written once over its room, ending with
// `written=1`), so readers, the index and crash handling do not know which one ran a task.
//
// The worker outlives its runner: after a `kill -9` of the runner it still waits for its task
// and records its end, then reads EOF and exits. TERM, INT and HUP sent to the worker are passed
// on to the running task's process group (one that comes while the task is being started, once it
// has its group); one that comes while no task runs is dropped.
#pragma once

#include <string>

namespace xrun::run {

// Runs until stdin ends; returns the process's exit code (0; 2 for bad arguments).
// `shell`: the task shell (the file's `shell:`); empty = bash, else sh when bash is missing.
int run_worker(const std::string& tasks_dir, const std::string& shell);

}  // namespace xrun::run
