#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "xrun/util/pointer_memo.hpp"

using xrun::util::PointerMemo;

TEST_CASE("PointerMemo returns what was stored for the same addresses, or nothing", "[util]") {
  PointerMemo m(4);  // 16 lines: keys collide and evict each other
  std::vector<int> objects(100);
  CHECK(m.find(&objects[0]) == nullptr);
  CHECK(m.find(nullptr) == nullptr);
  CHECK(m.put(&objects[0], nullptr, "zero") == "zero");
  REQUIRE(m.find(&objects[0]) != nullptr);
  CHECK(*m.find(&objects[0]) == "zero");
  CHECK(m.find(&objects[0], &objects[1]) == nullptr);  // another pair of addresses
  for (size_t i = 0; i < objects.size(); ++i) m.put(&objects[i], &objects[0], std::to_string(i));
  size_t hits = 0;
  for (size_t i = 0; i < objects.size(); ++i) {
    const std::string* t = m.find(&objects[i], &objects[0]);
    if (t == nullptr) continue;  // evicted: the caller computes it again
    CHECK(*t == std::to_string(i));
    ++hits;
  }
  CHECK(hits > 0);
  CHECK(hits <= 16);
}
