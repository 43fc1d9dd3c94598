#include "xrun/util/json_writer.hpp"

#include <fmt/format.h>

namespace xrun::util {

JsonWriter::JsonWriter(std::ostream& os)
    : os_(os), ser_(nlohmann::detail::output_adapter<char>(buf_), ' ') {
  buf_.reserve(kBlock + 64 * 1024);
}

// No early exit, so it vectorises.
bool JsonWriter::plain(std::string_view s) {
  uint8_t special = 0;
  for (unsigned char c : s)
    special |= static_cast<uint8_t>(static_cast<uint8_t>(c - 0x20) >= 0x5f) | static_cast<uint8_t>(c == '"') |
               static_cast<uint8_t>(c == '\\');
  return special == 0;
}

void JsonWriter::string(std::string_view s) {
  if (plain(s)) {
    buf_.push_back('"');
    raw(s);
    buf_.push_back('"');
    return;
  }
  scratch_.get_ref<std::string&>().assign(s);
  value(scratch_);
}

void JsonWriter::string_body(std::string_view s) {
  if (plain(s)) return raw(s);
  size_t at = buf_.size();
  string(s);
  buf_.pop_back();                               // the closing quote
  buf_.erase(at, 1);                             // the opening one
}

void JsonWriter::integer(int64_t v) {
  fmt::format_int f(v);
  buf_.append(f.data(), f.size());
}

void JsonWriter::unsigned_integer(uint64_t v) {
  fmt::format_int f(v);
  buf_.append(f.data(), f.size());
}

void JsonWriter::value(const json& j) { ser_.dump(j, false, false, 0); }

void JsonWriter::flush() {
  os_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
}

}  // namespace xrun::util
