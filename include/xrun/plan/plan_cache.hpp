// The plan in a compact binary form: plan.bin, a cache of plan.json kept beside it so that a
// reader builds the plan without parsing JSON (see docs/run-store.md, "The plan's cache").
// Encoding and decoding only; which file it belongs to and when it is trusted is the store's
// (store/plan_cache.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "xrun/plan/plan.hpp"

namespace xrun::plan {

// What identifies the plan.json a cache was made from: a file written again, in place or by a
// rename, differs in at least one of these.
struct SourceStamp {
  uint64_t size = 0;
  uint64_t inode = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const SourceStamp& o) const {
    return size == o.size && inode == o.inode && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
  }
};

// The cache's bytes for `p`, read from the plan.json `source` identifies.
std::string encode_cache(const Plan& p, const SourceStamp& source);
// The plan a cache holds when it is complete and well-formed (length, checksum, every field in
// bounds), of this version, and made from `source`; nullopt otherwise.
std::optional<Plan> decode_cache(std::string_view bytes, const SourceStamp& source);

}  // namespace xrun::plan
