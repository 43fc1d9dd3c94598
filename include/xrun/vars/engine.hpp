// The iterator engine: `variables:` compiled into a tree of streaming iterators.
// product (the default for plain keys), zip, chain/append, cycle/repeat, arange; nestable.
// Each combination is a vector of Value pointers indexed by slot (one slot per variable name);
// nothing is materialised, so memory does not grow with the number of combinations.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "xrun/spec/spec.hpp"
#include "xrun/spec/value.hpp"
#include "xrun/util/result.hpp"

namespace xrun::vars {

using spec::Value;
using Assignment = std::vector<const Value*>;

struct Node;  // iterator node, defined in the .cpp

struct VariableInfo {
  std::string name;
  spec::Loc loc;                // first definition
  std::vector<Value> samples;   // the values it can take (arange: first and last); for checks
  uint64_t distinct = 0;        // number of distinct values it can take (by rendering)
  bool hidden = false;          // the losing definition of a name defined twice: never read
  std::string source;           // where its values come from, when generated: "linspace", "sample n=20 seed=7"
};

using Warning = spec::Warning;

// `--set NAME=VALUE`: replaces every definition of NAME by these values (added when absent).
using Overrides = std::vector<std::pair<std::string, std::vector<Value>>>;

class Sweep {
 public:
  Sweep();
  ~Sweep();
  Sweep(Sweep&&) noexcept;
  Sweep& operator=(Sweep&&) noexcept;

  static Result<Sweep> compile(const YAML::Node& variables, const std::string& file,
                               const Overrides& overrides = {});

  size_t slot_count() const { return vars_.size(); }
  int slot_of(const std::string& name) const;
  const std::vector<VariableInfo>& variables() const { return vars_; }
  // Number of combinations before de-duplication (saturates at UINT64_MAX).
  uint64_t combinations() const;
  // True when the slot has a value in every combination (false inside some chain branches).
  bool always_set(int slot) const;
  const std::vector<Warning>& warnings() const { return warnings_; }
  // The seeds drawn for `sample:` blocks that gave none (where, seed): kept in the plan.
  const std::vector<std::pair<spec::Loc, uint64_t>>& drawn_seeds() const { return drawn_seeds_; }
  // True when the values current() points to keep their addresses for the whole sweep (no
  // huge arange computed on the fly), so combinations can be handed to another thread.
  bool stable_values() const { return stable_; }

  void reset();
  bool next();  // advance to the next combination; false when exhausted
  const Assignment& current() const { return current_; }

 private:
  std::unique_ptr<Node> root_;
  std::vector<VariableInfo> vars_;
  std::vector<bool> always_;
  std::vector<Warning> warnings_;
  std::vector<std::pair<spec::Loc, uint64_t>> drawn_seeds_;
  Assignment current_;
  bool stable_ = true;
};

// Parse `NAME=VALUE` (VALUE read as YAML: `3`, `[1, 2]`, `abc`).
Result<std::pair<std::string, std::vector<Value>>> parse_override(const std::string& text);

}  // namespace xrun::vars
