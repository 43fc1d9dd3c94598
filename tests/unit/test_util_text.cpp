#include <catch2/catch.hpp>

#include "xrun/util/string_set.hpp"
#include "xrun/util/text.hpp"

using namespace xrun::util;

TEST_CASE("suggestions find close keys", "[util]") {
  CHECK(suggest("comamnd", {"command", "jobs", "variables"}) == "command");
  CHECK(suggest("varaibles", {"command", "jobs", "variables"}) == "variables");
  CHECK(suggest("zzzzzz", {"command", "jobs"}).empty());
}

TEST_CASE("shell quoting survives any text", "[util]") {
  CHECK(shell_quote("abc") == "'abc'");
  CHECK(shell_quote("it's") == "'it'\"'\"'s'");
}

TEST_CASE("identifiers and slugs", "[util]") {
  CHECK(is_identifier("lr_2"));
  CHECK_FALSE(is_identifier("2lr"));
  CHECK_FALSE(is_identifier("my-var"));
  CHECK(slug("my experiment/1") == "my-experiment-1");
  CHECK(slug("..") == "experiment");
}

TEST_CASE("slug: ASCII ids that never start with '-', accents transliterated", "[util]") {
  CHECK(slug("lr-sweep") == "lr-sweep");
  CHECK(slug("-rf") == "rf");
  CHECK(slug("--help") == "help");
  CHECK(slug("M\xc3\xbcller L\xc3\xbc" "denscheid") == "Muller-Ludenscheid");
  CHECK(slug("Stra\xc3\x9f" "e \xc3\x86on") == "Strasse-AEon");
  CHECK(slug("\xe6\x97\xa5\xe6\x9c\xac") == "experiment");
  CHECK(slug("\xe5\xae\x9e\xe9\xaa\x8c a") == "a");
  CHECK(slug("..x") == "x");
  CHECK(slug("a b/c") == "a-b-c");
  CHECK(slug(std::string(100, 'x')).size() == 40);
}

TEST_CASE("StringSet de-duplicates exactly", "[util]") {
  StringSet s(4);
  CHECK(s.insert("a"));
  CHECK_FALSE(s.insert("a"));
  CHECK(s.insert(""));
  CHECK_FALSE(s.insert(""));
  for (int i = 0; i < 100000; ++i) REQUIRE(s.insert("key-" + std::to_string(i)));
  for (int i = 0; i < 100000; i += 997) REQUIRE_FALSE(s.insert("key-" + std::to_string(i)));
  CHECK(s.size() == 100002);
  std::string big(3 << 20, 'x');  // larger than an arena chunk
  CHECK(s.insert(big));
  CHECK_FALSE(s.insert(big));
  // Strings stored after a long one are still found (they start a chunk of their own).
  for (int i = 0; i < 1000; ++i) REQUIRE(s.insert("after-" + std::to_string(i)));
  for (int i = 0; i < 1000; ++i) REQUIRE_FALSE(s.insert("after-" + std::to_string(i)));
  CHECK_FALSE(s.insert("key-5"));
}
