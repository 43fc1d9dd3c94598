// An insert-only set of strings for de-duplication at scale: the bytes live in one growing
// arena and the table is open-addressed (hash, offset, length), so a million inserts cost a
// million appends, not a million allocations. Membership is exact: equal hashes are confirmed
// by comparing the bytes.
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
  bool insert(std::string_view s);
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    const char* bytes = nullptr;  // null = empty slot
    size_t length = 0;
  };
  void grow();
  std::vector<std::string> chunks_;  // arena: never reallocated once full, so views stay valid
  std::vector<Slot> table_;
  size_t size_ = 0;
  size_t mask_ = 0;
  std::string_view store(std::string_view s);
};

}  // namespace xrun::util
