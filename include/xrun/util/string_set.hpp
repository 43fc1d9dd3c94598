// An insert-only set of strings for de-duplication at scale: the bytes live in one growing
// arena (each preceded by its length) and the open-addressed table holds one 8-byte word per
// slot (a tag of the hash and where the bytes are), so a million inserts cost a million
// appends, not a million allocations, and the table a lookup misses in stays small.
// Membership is exact: equal tags are confirmed by comparing the bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xrun::util {

class StringSet {
 public:
  explicit StringSet(size_t expected = 0);
  // True when `s` was not in the set (and is now).
  bool insert(std::string_view s) { return insert(s, hash(s)); }
  // The same with `s`'s hash computed beforehand, e.g. to prefetch() its slot meanwhile.
  bool insert(std::string_view s, uint64_t hash);
  static uint64_t hash(std::string_view s);
  // Start fetching the slot a string of this hash is looked up at (a hint; no effect on content).
  void prefetch(uint64_t hash) const { __builtin_prefetch(&table_[hash & mask_]); }
  size_t size() const { return size_; }

 private:
  // A slot: 0 = empty; else (tag << 44) | (ref + 1), ref = chunk << 20 | offset (string_set.cpp).
  void grow();
  uint64_t store(std::string_view s);  // the ref of a copy of `s` in the arena
  std::string_view at(uint64_t ref) const;
  std::vector<std::string> chunks_;  // never reallocated once full, so refs stay valid
  std::vector<uint64_t> table_;
  size_t size_ = 0;
  size_t mask_ = 0;
};

}  // namespace xrun::util
