// A small direct-mapped memo of text computed from objects that keep their addresses, keyed by
// one or two addresses: a hit returns the text computed before, a miss (never seen, or evicted
// by another key on the same line) makes the caller compute it again. Lookups cost a multiply
// and one comparison, so a value rendered a million times is rendered once per distinct key.
// Only sound while every keyed object lives at its address with its content unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xrun::util {

class PointerMemo {
 public:
  explicit PointerMemo(int bits = 12) : shift_(64 - bits), lines_(size_t{1} << bits) {}
  // The text stored for (a, b), or null.
  const std::string* find(const void* a, const void* b = nullptr) const {
    const Line& l = lines_[index(a, b)];
    return l.a == a && l.b == b && a != nullptr ? &l.text : nullptr;
  }
  // Store the text for (a, b), replacing what that line held; returns the stored text.
  const std::string& put(const void* a, const void* b, std::string text) {
    Line& l = lines_[index(a, b)];
    l.a = a;
    l.b = b;
    l.text = std::move(text);
    return l.text;
  }

 private:
  struct Line {
    const void* a = nullptr;
    const void* b = nullptr;
    std::string text;
  };
  size_t index(const void* a, const void* b) const {
    uint64_t h = reinterpret_cast<uintptr_t>(a) * 0x9E3779B97F4A7C15ull ^ reinterpret_cast<uintptr_t>(b) * 0xC2B2AE3D27D4EB4Full;
    return static_cast<size_t>(h >> shift_);
  }
  int shift_;
  std::vector<Line> lines_;
};

}  // namespace xrun::util
