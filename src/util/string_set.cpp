#include "xrun/util/string_set.hpp"

#include <functional>

namespace xrun::util {

namespace {
constexpr size_t kChunk = 1 << 20;
size_t pow2_at_least(size_t n) {
  size_t p = 16;
  while (p < n) p <<= 1;
  return p;
}
}  // namespace

StringSet::StringSet(size_t expected) {
  size_t cap = pow2_at_least(expected * 2 + 16);
  if (cap > (size_t{1} << 26)) cap = size_t{1} << 26;  // grow later if really needed
  table_.resize(cap);
  mask_ = cap - 1;
}

std::string_view StringSet::store(std::string_view s) {
  if (chunks_.empty() || chunks_.back().capacity() - chunks_.back().size() < s.size()) {
    chunks_.emplace_back();
    chunks_.back().reserve(std::max(kChunk, s.size()));
  }
  auto& c = chunks_.back();
  size_t off = c.size();
  c.append(s.data(), s.size());
  return std::string_view(c.data() + off, s.size());
}

bool StringSet::insert(std::string_view s) {
  if ((size_ + 1) * 4 > table_.size() * 3) grow();
  uint64_t h = std::hash<std::string_view>{}(s);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    Slot& slot = table_[i];
    if (slot.bytes == nullptr) {
      std::string_view v = store(s);
      slot.bytes = v.data() ? v.data() : "";
      slot.hash = h;
      slot.length = s.size();
      ++size_;
      return true;
    }
    if (slot.hash == h && slot.length == s.size() && std::string_view(slot.bytes, slot.length) == s) return false;
  }
}

void StringSet::grow() {
  std::vector<Slot> old;
  old.swap(table_);
  table_.assign(old.size() * 2, Slot{});
  mask_ = table_.size() - 1;
  for (const auto& s : old) {
    if (s.bytes == nullptr) continue;
    for (size_t i = s.hash & mask_;; i = (i + 1) & mask_) {
      if (table_[i].bytes == nullptr) {
        table_[i] = s;
        break;
      }
    }
  }
}

}  // namespace xrun::util
