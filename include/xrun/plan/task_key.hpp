// A task's content key: what it does, hashed (XXH3, 128 bits), never where it sits in the plan.
// Two tasks with the same key do the same work; a finished task is known by its key across
// edits of the file (reordered values, added ones). The key is a pure function of what
// plan.json and meta.json hold (run::task_key gathers it from them); it never depends on the
// task's position, the store's paths, its parents, or resources (walltime, cpus, memory: more
// time must not make a new task).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace xrun::plan {

struct KeyInputs {
  std::string stage;                  // the stage's name
  std::vector<std::string> commands;  // as rendered
  // (name, value as plan.json stores it: its JSON text); the order does not matter.
  std::vector<std::pair<std::string, std::string>> variables;
  std::string workdir;             // where the commands run
  std::vector<std::string> setup;  // the stage's setup lines, in order
  std::string image;               // the container image ("" when none)
};

// 32 lowercase hexadecimal digits: XXH3-128 of an unambiguous encoding of the inputs (each field
// tagged and length-prefixed, variables sorted by name). Frozen by a golden test: changing the
// encoding changes every stored task's identity.
std::string task_key(const KeyInputs& in);

}  // namespace xrun::plan
