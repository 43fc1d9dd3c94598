// Errors are values inside the library: every fallible function returns Result<T>.
// The CLI edge turns an Error into "FILE:LINE:COL: error: WHAT" plus a hint and an exit code.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace xrun {

struct Error {
  std::string file;  // empty when the error is not about a file
  int line = 0;      // 1-based; 0 = unknown
  int col = 0;       // 1-based; 0 = unknown
  std::string what;
  std::string hint;
  int exit_code = 2;  // 2 = bad input; 1 = runtime failure
  int os_errno = 0;   // the system's errno behind a runtime failure, when it came from one

  // "file:line:col: error: what" (+ "\n  hint: ..."), without the program name.
  std::string format() const;
};

Error make_error(std::string what, std::string hint = {});
// A runtime failure (a store that cannot be written, a scheduler that does not answer): exit 1.
Error runtime_error(std::string what, std::string hint = {});

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)) {}  // NOLINT
  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *err_; }
  Error& error() { return *err_; }

 private:
  std::optional<Error> err_;
};

}  // namespace xrun

// Propagate an error from an expression returning Result<...>.
#define XRUN_TRY(expr)                              \
  do {                                              \
    auto xrun_try_r_ = (expr);                      \
    if (!xrun_try_r_.ok()) return xrun_try_r_.error(); \
  } while (0)
