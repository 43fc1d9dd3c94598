#include "xrun/util/string_set.hpp"

#include <cstring>
#include <functional>

namespace xrun::util {

namespace {
constexpr int kChunkBits = 20;  // 1 MiB chunks (a longer string gets a chunk of its own)
constexpr size_t kChunk = size_t{1} << kChunkBits;
constexpr int kRefBits = 44;  // up to 2^24 chunks; the hash's top 20 bits tag the slot
constexpr uint64_t kRefMask = (uint64_t{1} << kRefBits) - 1;
size_t pow2_at_least(size_t n) {
  size_t p = 16;
  while (p < n) p <<= 1;
  return p;
}
uint64_t tag_of(uint64_t h) { return h >> kRefBits; }
}  // namespace

StringSet::StringSet(size_t expected) {
  size_t cap = pow2_at_least(expected * 2 + 16);
  if (cap > (size_t{1} << 26)) cap = size_t{1} << 26;  // grow later if really needed
  table_.assign(cap, 0);
  mask_ = cap - 1;
}

uint64_t StringSet::store(std::string_view s) {
  const uint64_t len = s.size();
  const size_t need = sizeof len + s.size();
  // Offsets must fit in kChunkBits: a string that does not fit in the rest of a chunk starts a
  // new one (which a long string has to itself).
  if (chunks_.empty() || chunks_.back().size() + need > kChunk) {
    chunks_.emplace_back();
    chunks_.back().reserve(std::max(kChunk, need));
  }
  auto& c = chunks_.back();
  uint64_t ref = (static_cast<uint64_t>(chunks_.size() - 1) << kChunkBits) | c.size();
  c.append(reinterpret_cast<const char*>(&len), sizeof len);
  c.append(s.data(), s.size());
  return ref;
}

std::string_view StringSet::at(uint64_t ref) const {
  const std::string& c = chunks_[ref >> kChunkBits];
  const char* p = c.data() + (ref & (kChunk - 1));
  uint64_t len;
  std::memcpy(&len, p, sizeof len);
  return {p + sizeof len, len};
}

uint64_t StringSet::hash(std::string_view s) { return std::hash<std::string_view>{}(s); }

bool StringSet::insert(std::string_view s, uint64_t h) {
  if ((size_ + 1) * 4 > table_.size() * 3) grow();
  const uint64_t tag = tag_of(h);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    const uint64_t slot = table_[i];
    if (slot == 0) {
      table_[i] = (tag << kRefBits) | (store(s) + 1);
      ++size_;
      return true;
    }
    if ((slot >> kRefBits) == tag && at((slot & kRefMask) - 1) == s) return false;
  }
}

void StringSet::grow() {
  std::vector<uint64_t> old;
  old.swap(table_);
  table_.assign(old.size() * 2, 0);
  mask_ = table_.size() - 1;
  for (uint64_t slot : old) {
    if (slot == 0) continue;
    for (size_t i = hash(at((slot & kRefMask) - 1)) & mask_;; i = (i + 1) & mask_) {
      if (table_[i] == 0) {
        table_[i] = slot;
        break;
      }
    }
  }
}

}  // namespace xrun::util
