#include "xrun/util/result.hpp"

#include <fmt/format.h>

namespace xrun {

std::string Error::format() const {
  std::string loc;
  if (!file.empty()) {
    loc = file;
    loc += fmt::format(":{}:{}", line > 0 ? line : 1, col > 0 ? col : 1);
    loc += ": ";
  }
  std::string s = fmt::format("{}error: {}", loc, what);
  if (!hint.empty()) s += fmt::format("\n  hint: {}", hint);
  return s;
}

Error make_error(std::string what, std::string hint) {
  Error e;
  e.what = std::move(what);
  e.hint = std::move(hint);
  return e;
}

Error runtime_error(std::string what, std::string hint) {
  Error e = make_error(std::move(what), std::move(hint));
  e.exit_code = 1;
  return e;
}

}  // namespace xrun
