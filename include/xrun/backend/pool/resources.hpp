// The pool's declared resources (`local: {resources: {gpu: [0, 1], licence: 2}}`, --resources):
// each resource's ids, which of them running tasks hold, and the variables a task is handed for
// what it holds. Pure bookkeeping: no process, no clock (unit-tested alone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace xrun::backend::pool {

// What a task holds: by resource, the indexes of its ids.
using Held = std::map<std::string, std::vector<size_t>>;
// What each task of a stage takes: (resource, how many).
using Demand = std::vector<std::pair<std::string, int64_t>>;

class Resources {
 public:
  explicit Resources(const std::map<std::string, std::vector<std::string>>& declared);
  // Whether enough of each resource is free now.
  bool fits(const Demand& demand) const;
  // The ids handed to one task (lowest free first), by resource. The demand must fit.
  Held take(const Demand& demand);
  // The ids a task started by an earlier runner holds, from the variables it was handed
  // ("XRUN_RESOURCE_GPU=0,1 ..."): taken again, so that no other task gets them while it runs.
  // Ids that are unknown or already held are left out.
  Held retake(const std::string& handed);
  void give_back(const Held& held);
  // The task's variables for what it holds: XRUN_RESOURCE_<NAME>=ids, and for `gpu` the
  // devices the GPU runtimes read (CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES).
  std::vector<std::string> env(const Held& held) const;

 private:
  struct Ids {
    std::vector<std::string> ids;
    std::vector<bool> used;
  };
  std::map<std::string, Ids> pools_;
};

}  // namespace xrun::backend::pool
