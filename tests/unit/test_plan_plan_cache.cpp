// plan.bin's encoding: what it decodes to is what Plan::parse gives for plan.json, and anything
// but a complete cache of this version made from the same plan.json decodes to nothing.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "xrun/plan/plan_cache.hpp"

using namespace xrun;
using plan::Plan;
using plan::SourceStamp;
using spec::Value;

namespace {

// Every Value kind, unicode, a NUL inside a string, empty lists (of commands too), creates and
// requires set and null, many stages with options, resources, after and early_stopping.
const char* kPlanJson = R"({"name":"sweep ünïcödé ✓","sample_seeds":[{"line":3,"seed":18446744073709551615},{"line":7,"seed":0}],
"stages":[
 {"name":"prep","on_failure":"continue","early_stopping":[{"metric":"acc","value":0.9,"optimization":"maximize"},
   {"metric":"loss","value":1e-300,"optimization":"minimize"}],
  "options":{"slurm":{"walltime":"1:00:00","mem":4096,"big":18446744073709551615,"neg":-3,"f":0.1,"b":true,"n":null,
   "list":[1,"é",[2.5,{}]],"ünï":{"x":"\u0000y"}}},
  "resources":{"gpu":2,"license":-1},
  "tasks":[
   {"id":0,"index":0,"commands":[],"variables":{},"creates":null,"requires":null},
   {"id":1,"index":1,"commands":["echo a","echo 'b' \"c\" \\ ✓",""],"creates":"out-1.txt","requires":"in/1.txt",
    "variables":{"n":null,"t":true,"f":false,"i":-9223372036854775808,"j":9223372036854775807,"z":0,
     "x":0.1,"negzero":-0.0,"huge":1e308,"tiny":5e-324,"third":0.3333333333333333,"s":"héllo\u0000 ✓",
     "inf":"inf","empty":"","l":[1,[2.5,["x",null,true]],[]],"el":[]}}]},
 {"name":"train","on_failure":"stop","after":[{"stage":0,"per_task":true}],"tasks":[
   {"id":2,"index":0,"commands":["train {x}"],"variables":{"x":1.5},"workdir":"/runs/x=1.5 ✓"},
   {"id":3,"index":1,"commands":["train 2"],"variables":{"x":2}}]},
 {"name":"eval","on_failure":"stop","tasks":[{"id":4,"index":0,"commands":["eval"],"variables":{}}]},
 {"name":"free","on_failure":"stop","after":[],"options":{"pbs":{"queue":"q"}},"tasks":[]},
 {"name":"join","on_failure":"continue","after":[{"stage":1,"per_task":false},{"stage":3,"per_task":true}],
  "resources":{"cpu":1},"tasks":[{"id":5,"index":0,"commands":["join"],"variables":{"k":"v"}}]}
]})";

const SourceStamp kStamp{12345, 678, 1700000000123456789, 1700000000123456790};

Plan parsed() {
  auto p = Plan::parse(kPlanJson);
  REQUIRE(p);
  return std::move(p.value());
}

uint64_t bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

// Equal in every field, floats bit for bit, each value's kind and str() too.
void same_value(const Value& a, const Value& b) {
  REQUIRE(a.kind() == b.kind());
  CHECK(a.str() == b.str());
  CHECK(a.text() == b.text());
  CHECK(a.as_bool() == b.as_bool());
  CHECK(a.as_int() == b.as_int());
  CHECK(bits(a.as_float()) == bits(b.as_float()));
  if (a.kind() == Value::Kind::List) {
    REQUIRE(a.items().size() == b.items().size());
    for (size_t k = 0; k < a.items().size(); ++k) same_value(a.items()[k], b.items()[k]);
  }
}

void same_plan(const Plan& a, const Plan& b) {
  CHECK(a.name == b.name);
  CHECK(a.sample_seeds == b.sample_seeds);
  REQUIRE(a.stages.size() == b.stages.size());
  for (size_t s = 0; s < a.stages.size(); ++s) {
    const auto &x = a.stages[s], &y = b.stages[s];
    CHECK(x.name == y.name);
    CHECK(x.after == y.after);
    CHECK(x.options == y.options);
    CHECK(x.options.dump() == y.options.dump());
    CHECK(x.resources == y.resources);
    CHECK(x.on_failure == y.on_failure);
    REQUIRE(x.early_stopping.size() == y.early_stopping.size());
    for (size_t k = 0; k < x.early_stopping.size(); ++k) {
      CHECK(x.early_stopping[k].metric == y.early_stopping[k].metric);
      CHECK(bits(x.early_stopping[k].value) == bits(y.early_stopping[k].value));
      CHECK(x.early_stopping[k].maximize == y.early_stopping[k].maximize);
    }
    REQUIRE(x.tasks.size() == y.tasks.size());
    for (size_t t = 0; t < x.tasks.size(); ++t) {
      const auto &u = x.tasks[t], &v = y.tasks[t];
      CHECK(u.id == v.id);
      CHECK(u.index == v.index);
      CHECK(u.commands == v.commands);
      CHECK(u.creates == v.creates);
      CHECK(u.requires_ == v.requires_);
      CHECK(u.workdir == v.workdir);
      REQUIRE(u.variables.size() == v.variables.size());
      for (size_t k = 0; k < u.variables.size(); ++k) {
        CHECK(u.variables[k].first == v.variables[k].first);
        same_value(u.variables[k].second, v.variables[k].second);
      }
    }
  }
  CHECK(a.to_json().dump() == b.to_json().dump());
}

}  // namespace

TEST_CASE("a plan's cache decodes to what parsing plan.json gives", "[plan][cache]") {
  Plan p = parsed();
  REQUIRE(p.stages.size() == 5);
  REQUIRE(p.stages[0].tasks[1].variables.size() == 16);
  auto d = plan::decode_cache(plan::encode_cache(p, kStamp), kStamp);
  REQUIRE(d);
  same_plan(*d, p);
  // Sanity of the comparison itself: what parse gave is what the file says.
  CHECK(d->stages[0].tasks[1].variables[11].second.str() == std::string("héllo\0 ✓", 11));
  CHECK(d->stages[0].tasks[1].variables[7].second.str() == "-0.0");
  CHECK(d->stages[0].tasks[0].commands.empty());
  CHECK(d->stages[3].after.empty());
  CHECK(d->stages[2].after == plan::default_after(2));
}

TEST_CASE("every kind of value round-trips exactly, floats bit for bit", "[plan][cache]") {
  const double nan_payload = [] {
    uint64_t b = 0x7FF8000000000123ull;
    double d;
    std::memcpy(&d, &b, sizeof d);
    return d;
  }();
  std::vector<Value> values = {
      Value::null(), Value::boolean(true), Value::boolean(false), Value::integer(std::numeric_limits<int64_t>::min()),
      Value::integer(42), Value::big_integer("-123456789012345678901234567890"), Value::floating(-0.0),
      Value::floating(0.1), Value::floating(std::numeric_limits<double>::infinity()),
      Value::floating(-std::numeric_limits<double>::infinity()), Value::floating(nan_payload),
      Value::floating(std::numeric_limits<double>::denorm_min()), Value::string(""), Value::string("ünï ✓ 'q' \"d\""),
      Value::list({}), Value::list({Value::integer(1), Value::list({Value::string("a"), Value::null(), Value::list({})})})};
  Plan p;
  p.name = "";
  p.stages.resize(1);
  p.stages[0].tasks.resize(1);
  for (size_t k = 0; k < values.size(); ++k) p.stages[0].tasks[0].variables.emplace_back(std::to_string(k), values[k]);
  auto d = plan::decode_cache(plan::encode_cache(p, kStamp), kStamp);
  REQUIRE(d);
  REQUIRE(d->stages[0].tasks[0].variables.size() == values.size());
  for (size_t k = 0; k < values.size(); ++k) {
    INFO(k);
    same_value(d->stages[0].tasks[0].variables[k].second, values[k]);
  }
  // An empty plan too.
  auto e = plan::decode_cache(plan::encode_cache(Plan(), kStamp), kStamp);
  REQUIRE(e);
  CHECK(e->stages.empty());
}

TEST_CASE("a cache of another plan.json, incomplete, damaged or of another version is not used", "[plan][cache]") {
  const std::string bytes = plan::encode_cache(parsed(), kStamp);
  REQUIRE(plan::decode_cache(bytes, kStamp));

  SECTION("another plan.json: any field of its stamp differs") {
    for (int k = 0; k < 4; ++k) {
      SourceStamp s = kStamp;
      if (k == 0) s.size += 1;
      if (k == 1) s.inode += 1;
      if (k == 2) s.mtime_ns += 1;
      if (k == 3) s.ctime_ns -= 1;
      CHECK_FALSE(plan::decode_cache(bytes, s));
    }
  }
  SECTION("truncated anywhere, or with bytes after its end") {
    for (size_t n = 0; n < bytes.size(); ++n) CHECK_FALSE(plan::decode_cache(std::string_view(bytes).substr(0, n), kStamp));
    CHECK_FALSE(plan::decode_cache(bytes + '\0', kStamp));
  }
  SECTION("any byte changed") {
    for (size_t n = 0; n < bytes.size(); ++n) {
      std::string b = bytes;
      b[n] = static_cast<char>(b[n] ^ 0x20);
      INFO(n);
      CHECK_FALSE(plan::decode_cache(b, kStamp));
    }
  }
  SECTION("another version, or garbage") {
    std::string b = bytes;
    b[8] = static_cast<char>(b[8] + 1);  // the version follows the 8-byte magic
    CHECK_FALSE(plan::decode_cache(b, kStamp));
    CHECK_FALSE(plan::decode_cache("", kStamp));
    CHECK_FALSE(plan::decode_cache(std::string(4096, 'x'), kStamp));
    CHECK_FALSE(plan::decode_cache(R"({"name":"p","stages":[]})", kStamp));
  }
}

TEST_CASE("a well-formed cache of an impossible plan is not used", "[plan][cache]") {
  Plan p;
  p.stages.resize(2);
  p.stages[1].after = {plan::After{5, false}};  // no such stage
  CHECK_FALSE(plan::decode_cache(plan::encode_cache(p, kStamp), kStamp));
  p.stages[1].after = {plan::After{1, false}};  // waits for itself
  CHECK_FALSE(plan::decode_cache(plan::encode_cache(p, kStamp), kStamp));
  p.stages[1].after = {plan::After{0, true}};
  CHECK(plan::decode_cache(plan::encode_cache(p, kStamp), kStamp));
}
