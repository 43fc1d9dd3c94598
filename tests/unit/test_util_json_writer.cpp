#include <catch2/catch.hpp>

#include <sstream>

#include "xrun/util/json_writer.hpp"

using namespace xrun;
using json = nlohmann::ordered_json;

namespace {
std::string written(const std::function<void(util::JsonWriter&)>& f) {
  std::ostringstream os;
  {
    util::JsonWriter w(os);
    f(w);
    w.flush();
  }
  return os.str();
}
}  // namespace

TEST_CASE("JsonWriter writes strings byte for byte as nlohmann's dump", "[util][json]") {
  std::vector<std::string> cases = {"",         "plain text 123", "a \"quote\"", "back\\slash", "tab\there",
                                    "nl\nx\r",  std::string("nul\0x", 5), "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac",
                                    "emoji \xf0\x9f\x98\x80", "/path/with 'single' and $var"};
  for (int c = 0; c < 0x80; ++c) cases.push_back(std::string(1, static_cast<char>(c)) + "x");
  for (const auto& s : cases) {
    CAPTURE(s);
    CHECK(written([&](util::JsonWriter& w) { w.string(s); }) == json(s).dump());
    std::string q = json(s).dump();
    CHECK(written([&](util::JsonWriter& w) { w.string_body(s); }) == q.substr(1, q.size() - 2));
  }
  // Invalid UTF-8 fails as nlohmann's dump does.
  for (std::string bad : {"\xff", "a\xc3", "\xe2\x82"}) {
    CHECK_THROWS_AS(json(bad).dump(), json::type_error);
    CHECK_THROWS_AS(written([&](util::JsonWriter& w) { w.string(bad); }), json::type_error);
  }
  CHECK(util::JsonWriter::plain("abc ~"));
  CHECK_FALSE(util::JsonWriter::plain("a\"b"));
  CHECK_FALSE(util::JsonWriter::plain("\xc3\xa9"));
}

TEST_CASE("JsonWriter writes numbers and values as nlohmann's dump", "[util][json]") {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{42}, INT64_MIN, INT64_MAX})
    CHECK(written([&](util::JsonWriter& w) { w.integer(v); }) == json(v).dump());
  for (uint64_t v : {uint64_t{0}, uint64_t{7}, UINT64_MAX})
    CHECK(written([&](util::JsonWriter& w) { w.unsigned_integer(v); }) == json(v).dump());
  json doc = {{"a", 1.5}, {"b", nullptr}, {"c", json::array({1, "x\"", 0.1})}, {"d", 1e300}};
  CHECK(written([&](util::JsonWriter& w) { w.value(doc); }) == doc.dump());
  // Large outputs go out in blocks, in order.
  std::string many = written([&](util::JsonWriter& w) {
    for (int i = 0; i < 300000; ++i) {
      w.raw(i ? "," : "");
      w.string("item");
      w.maybe_flush();
    }
  });
  CHECK(many.size() == 300000 * 6 + 299999);
  CHECK(many.substr(0, 13) == "\"item\",\"item\"");
}
