// `--where` expressions (run/where.cpp): the grammar, its errors, and matching.
#include <catch2/catch.hpp>

#include <map>

#include <fmt/format.h>

#include "xrun/run/where.hpp"

using namespace xrun;
using Op = run::WhereClause::Op;

namespace {
bool on(const std::string& expr, const std::map<std::string, std::string>& task) {
  auto w = run::parse_where(expr);
  REQUIRE(w.ok());
  return run::matches(*w, [&](const std::string& k) -> std::optional<std::string> {
    auto it = task.find(k);
    if (it == task.end()) return std::nullopt;
    return it->second;
  });
}
}  // namespace

TEST_CASE("where expressions: each operator parses, and and or, with blanks", "[run][where]") {
  auto w = run::parse_where(" lr = 0.1 , seed!=1|2,n<3,n<=4,m>5,m>=6,state=FAILED|timeout, x==y");
  REQUIRE(w.ok());
  const auto& c = w->clauses;
  REQUIRE(c.size() == 8);
  CHECK(c[0].key == "lr");
  CHECK(c[0].op == Op::Eq);
  CHECK(c[0].values == std::vector<std::string>{"0.1"});
  CHECK(c[0].column == 2);
  CHECK(c[1].op == Op::Ne);
  CHECK(c[1].values == std::vector<std::string>{"1", "2"});
  CHECK(c[2].op == Op::Lt);
  CHECK(c[3].op == Op::Le);
  CHECK(c[4].op == Op::Gt);
  CHECK(c[5].op == Op::Ge);
  CHECK(c[6].values == std::vector<std::string>{"FAILED", "timeout"});
  CHECK(c[7].op == Op::Eq);
  CHECK(w->keys() == std::vector<std::string>{"lr", "seed", "n", "m", "state", "x"});
}

TEST_CASE("where expressions: syntax errors name the column and how to write it, exit 2", "[run][where]") {
  const std::vector<std::pair<std::string, int>> bad = {
      {"", 1}, {"  ", 1}, {"lr", 3}, {"lr~1", 3}, {"=1", 1}, {"lr=", 4}, {"lr=1,", 6}, {"lr=1,,x=2", 6},
      {"lr=1|", 6}, {"seed<<3", 6}, {"a=1=2", 4}, {"1x=2", 1}};
  for (const auto& [expr, col] : bad) {
    INFO(expr);
    auto w = run::parse_where(expr);
    REQUIRE_FALSE(w.ok());
    CHECK(w.error().exit_code == 2);
    CHECK(w.error().col == col);
    CHECK(w.error().what.find(fmt::format("column {}", col)) != std::string::npos);
    CHECK(w.error().hint.find("KEY=V") != std::string::npos);
  }
}

TEST_CASE("where expressions compare as numbers when both sides are numbers, else as text", "[run][where]") {
  CHECK(run::compare("0.10", Op::Eq, "0.1"));
  CHECK(run::compare("10", Op::Gt, "9"));    // as numbers (as text "10" < "9")
  CHECK(run::compare("1e-3", Op::Lt, "0.01"));
  CHECK(run::compare("-2", Op::Lt, "1"));
  CHECK(run::compare("abc", Op::Lt, "abd"));  // as text
  CHECK(run::compare("10", Op::Lt, "9x"));    // one side not a number: as text
  CHECK(run::compare("true", Op::Eq, "true"));
}

TEST_CASE("where expressions matching: and, or, != and a missing variable", "[run][where]") {
  const std::map<std::string, std::string> t{{"lr", "0.1"}, {"seed", "2"}, {"state", "FAILED"}, {"name", "a b"}};
  CHECK(on("lr=0.1", t));
  CHECK(on("lr=0.10,seed=1|2", t));
  CHECK_FALSE(on("lr=0.1,seed=1|3", t));
  CHECK(on("seed!=1|3", t));
  CHECK_FALSE(on("seed!=1|2", t));
  CHECK(on("seed<3,seed>=2", t));
  CHECK_FALSE(on("seed>2", t));
  CHECK(on("state=failed", t));  // state without regard to case
  CHECK(on("state=TIMEOUT|Failed", t));
  CHECK(on("name=a b", t));
  // A task without the variable matches no clause on it, != included.
  CHECK_FALSE(on("batch=1", t));
  CHECK_FALSE(on("batch!=1", t));
  CHECK_FALSE(on("lr=0.1,batch!=1", t));
}
