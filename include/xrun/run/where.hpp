// `--where EXPR`: tasks selected by their variables, tags and state (status, cancel, resume,
// logs). A pure parser and matcher: the commands give each task's values.
//
//   EXPR   := CLAUSE (',' CLAUSE)*            ',' is and
//   CLAUSE := KEY OP VALUE ('|' VALUE)*       '|' is or, inside one key
//   OP     := '=' | '!=' | '<' | '<=' | '>' | '>='
//
// Both sides compare as numbers when both parse as numbers, else as text. A task that lacks the
// key (a task holds only the variables its commands use) matches no clause on it, `!=` included.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xrun/util/result.hpp"

namespace xrun::run {

struct WhereClause {
  enum class Op { Eq, Ne, Lt, Le, Gt, Ge };
  std::string key;
  Op op = Op::Eq;
  std::vector<std::string> values;  // any of them (for !=: none of them)
  int column = 0;                   // 1-based, of the key in the expression
};

struct Where {
  std::vector<WhereClause> clauses;  // all of them
  bool empty() const { return clauses.empty(); }
  // The keys it names, in order, each once.
  std::vector<std::string> keys() const;
};

// An error (exit 2) names the column and says how to write it.
Result<Where> parse_where(std::string_view text);

// Whether a task matches: `value_of(key)` gives its value as text (a string as itself, another
// JSON value as its JSON text), or nullopt when it has no such key. The key `state` is compared
// without regard to case. A value cannot hold ',', '|', '=', '<', '>' or '!'.
bool matches(const Where& w, const std::function<std::optional<std::string>(const std::string& key)>& value_of);

// One value against one clause (exposed for tests).
bool compare(const std::string& have, WhereClause::Op op, const std::string& want);

}  // namespace xrun::run
