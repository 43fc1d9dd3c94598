#include "xrun/backend/pool/resources.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xrun/util/text.hpp"

namespace xrun::backend::pool {

namespace {
std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

Resources::Resources(const std::map<std::string, std::vector<std::string>>& declared) {
  for (const auto& [name, ids] : declared) pools_[name] = Ids{ids, std::vector<bool>(ids.size(), false)};
}

bool Resources::fits(const Demand& demand) const {
  for (const auto& [name, n] : demand) {
    auto it = pools_.find(name);
    if (it == pools_.end()) return false;
    int64_t free = std::count(it->second.used.begin(), it->second.used.end(), false);
    if (free < n) return false;
  }
  return true;
}

Held Resources::take(const Demand& demand) {
  Held got;
  for (const auto& [name, n] : demand) {
    auto& p = pools_.at(name);
    for (size_t i = 0; i < p.used.size() && static_cast<int64_t>(got[name].size()) < n; ++i)
      if (!p.used[i]) {
        p.used[i] = true;
        got[name].push_back(i);
      }
  }
  return got;
}

Held Resources::retake(const std::string& handed) {
  Held got;
  for (const auto& word : util::split(handed, ' ')) {
    const std::string prefix = "XRUN_RESOURCE_";
    auto eq = word.find('=');
    if (word.compare(0, prefix.size(), prefix) != 0 || eq == std::string::npos) continue;
    const std::string wanted = word.substr(prefix.size(), eq - prefix.size());
    for (auto& [name, ids] : pools_) {
      if (upper(name) != wanted) continue;
      for (const auto& id : util::split(word.substr(eq + 1), ',')) {
        auto it = std::find(ids.ids.begin(), ids.ids.end(), id);
        if (it == ids.ids.end()) continue;
        size_t i = static_cast<size_t>(it - ids.ids.begin());
        if (ids.used[i]) continue;
        ids.used[i] = true;
        got[name].push_back(i);
      }
    }
  }
  return got;
}

void Resources::give_back(const Held& held) {
  for (const auto& [name, idx] : held)
    for (size_t i : idx) pools_.at(name).used.at(i) = false;
}

std::vector<std::string> Resources::env(const Held& held) const {
  std::vector<std::string> out;
  for (const auto& [name, idx] : held) {
    std::vector<std::string> ids;
    for (size_t i : idx) ids.push_back(pools_.at(name).ids.at(i));
    std::string list = fmt::format("{}", fmt::join(ids, ","));
    out.push_back(fmt::format("XRUN_RESOURCE_{}={}", upper(name), list));
    if (name == "gpu") {
      out.push_back("CUDA_VISIBLE_DEVICES=" + list);
      out.push_back("ROCR_VISIBLE_DEVICES=" + list);
    }
  }
  return out;
}

}  // namespace xrun::backend::pool
