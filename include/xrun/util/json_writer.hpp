// A streaming JSON writer for large outputs (`plan --json`'s tasks, `status --json`'s tasks):
// the caller writes the fixed parts (keys, brackets) as raw text, and each value goes through
// nlohmann's own serializer, so the output is byte for byte what nlohmann's compact dump of the
// same document gives. Strings with nothing to escape (printable ASCII without '"' or '\') and
// integers are written directly, which is where the time goes at scale. Text is buffered and
// handed to the stream in blocks of about 1 MiB.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace xrun::util {

class JsonWriter {
 public:
  using json = nlohmann::ordered_json;
  explicit JsonWriter(std::ostream& os);
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // True when nlohmann's serializer writes `s` as it is between quotes.
  static bool plain(std::string_view s);

  void raw(std::string_view s) { buf_.append(s.data(), s.size()); }
  void raw(char c) { buf_.push_back(c); }
  // `s` as a JSON string (quoted, escaped as nlohmann escapes it; invalid UTF-8 throws as there).
  void string(std::string_view s);
  // `s` escaped as inside a JSON string, without the quotes.
  void string_body(std::string_view s);
  void integer(int64_t v);
  void unsigned_integer(uint64_t v);
  // Any value, by nlohmann's serializer (compact).
  void value(const json& j);

  // The text written so far and not handed to the stream yet.
  const std::string& buffered() const { return buf_; }
  // Hand the text to the stream when a block is full (call between values).
  void maybe_flush() {
    if (buf_.size() >= kBlock) flush();
  }
  void flush();

 private:
  static constexpr size_t kBlock = size_t{1} << 20;
  std::ostream& os_;
  std::string buf_;
  nlohmann::detail::serializer<json> ser_;  // writes into buf_
  json scratch_ = "";                       // a string value reused for escaping
};

}  // namespace xrun::util
