// A task's content key: what it does, hashed (XXH3, 128 bits), never where it sits in the plan.
// Two tasks with the same key do the same work; a finished task is known by its key across
// edits of the file (reordered values, added ones). The key is a pure function of what
// plan.json and meta.json hold (run::task_key gathers it from them); it never depends on the
// task's position, the store's paths, its parents, or resources (walltime, cpus, memory: more
// time must not make a new task).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

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

// What a stage gives each of its tasks' keys.
struct KeyStage {
  std::string stage;
  std::string workdir;
  std::vector<std::string> setup;
  std::string image;
};

// A stage's `setup:` lines from its merged options (a string or a list; empty lines left out).
std::vector<std::string> setup_from_options(const nlohmann::ordered_json& stage_options);
// The stage's part of its tasks' keys, from its options merged for `backend` (spec::stage_options):
// its setup lines, and its container image on the Docker backend only.
KeyStage key_stage(const std::string& stage, const std::string& workdir,
                   const nlohmann::ordered_json& stage_options, const std::string& backend);

// The keys of one stage's tasks, many of them: what the stage adds to the encoding is made once.
// Gives what task_key() gives for the same inputs. Not for two threads at once.
class KeyContext {
 public:
  explicit KeyContext(const KeyStage& stage);
  static constexpr size_t kSize = 32;
  // `variables`: (name, value's JSON text as plan.json stores it), in any order.
  void key(const std::vector<std::string>& commands,
           const std::vector<std::pair<std::string_view, std::string_view>>& variables, char out[kSize]);
  std::string key(const std::vector<std::string>& commands,
                  const std::vector<std::pair<std::string_view, std::string_view>>& variables);
  // The next task of a caller that knows its variables' names are the last call's, in the same
  // order: their values are base[first, second) each.
  void key_same_names(const std::vector<std::string>& commands, const char* base,
                      const std::vector<std::pair<size_t, size_t>>& values, char out[kSize]);

 private:
  template <typename Value>
  void encode(const std::vector<std::string>& commands, size_t n, const Value& value, char out[kSize]);
  std::string head_, tail_, buf_;
  // The variables' names of the last task, in its order; the order that sorts them; their
  // encoding in that order ("V n:COUNT\n", then "n LEN:NAME\nv " each, starting at names_at_).
  std::vector<std::string> last_names_;
  std::vector<size_t> order_;
  std::string names_;
  std::vector<size_t> names_at_;
};

}  // namespace xrun::plan
