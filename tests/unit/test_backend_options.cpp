#include <catch2/catch.hpp>

#include "xrun/backend/options.hpp"

using namespace xrun::backend;
using json = nlohmann::ordered_json;

TEST_CASE("durations follow Slurm's and PBS's forms", "[backend][options]") {
  CHECK(*options::parse_duration("10") == 600);
  CHECK(*options::parse_duration("1:30") == 90);
  CHECK(*options::parse_duration("1:00:00") == 3600);
  CHECK(*options::parse_duration("2-0") == 2 * 86400);
  CHECK(*options::parse_duration("1-02:03:04") == 86400 + 2 * 3600 + 3 * 60 + 4);
  for (const char* bad : {"", "abc", "1:2:3:4", "-5", "1:x"}) CHECK_FALSE(options::parse_duration(bad));
  CHECK_FALSE(options::duration("walltime", json("0")).ok());
}

TEST_CASE("shared option parsers: numbers, seconds, booleans, single values", "[backend][options]") {
  CHECK(options::whole_number("jobs", json(4), 1, 10).value() == 4);
  CHECK(options::whole_number("jobs", json("4"), 1, 10).value() == 4);
  CHECK_FALSE(options::whole_number("jobs", json("0"), 1, 10).ok());
  CHECK_FALSE(options::whole_number("jobs", json("4x"), 1, 10).ok());
  CHECK(options::seconds("kill_grace", json(2.5), 0, 10).value() == 2.5);
  CHECK_FALSE(options::seconds("kill_grace", json("-1"), 0, 10).ok());
  CHECK(*options::boolean(json(true)));
  CHECK(*options::boolean(json("yes")));
  CHECK_FALSE(*options::boolean(json("False")));
  CHECK_FALSE(options::boolean(json("maybe")));
  CHECK_FALSE(options::require_scalar("slurm", "partition", json::object()).ok());
  CHECK_FALSE(options::require_scalar("slurm", "partition", json("a\nb")).ok());
  CHECK(options::is_general("walltime"));
  CHECK_FALSE(options::is_general("qos"));
}
