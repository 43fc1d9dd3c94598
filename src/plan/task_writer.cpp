#include "xrun/plan/task_writer.hpp"

#include <cstdint>

namespace xrun::plan {

namespace {

constexpr size_t kBlock = size_t{1} << 20;

// True when nlohmann's serializer writes `s` as it is between quotes: printable ASCII, no quote
// and no backslash (anything else goes through the serializer). No early exit, so it vectorises.
bool plain_ascii(std::string_view s) {
  uint8_t special = 0;
  for (unsigned char c : s)
    special |= static_cast<uint8_t>(static_cast<uint8_t>(c - 0x20) >= 0x5f) | static_cast<uint8_t>(c == '"') |
               static_cast<uint8_t>(c == '\\');
  return special == 0;
}

// nlohmann's serializer writing into the writer's buffer.
class BufferAdapter : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  explicit BufferAdapter(fmt::memory_buffer& b) : b_(b) {}
  void write_character(char c) override { b_.push_back(c); }
  void write_characters(const char* s, std::size_t n) override { b_.append(s, s + n); }

 private:
  fmt::memory_buffer& b_;
};

}  // namespace

TaskWriter::TaskWriter(std::ostream& os, bool stable_values)
    : os_(os), stable_(stable_values), ser_(std::make_shared<BufferAdapter>(buf_), ' ') {
  buf_.reserve(kBlock);
  auto key = [](const char* k) { return json(k).dump() + ":"; };
  index_ = "{" + key("index");
  commands_ = "," + key("commands") + "[";
  variables_ = "]," + key("variables") + "{";
  creates_ = "}," + key("creates");
  requires_ = "," + key("requires");
}

void TaskWriter::dump(const json& j) { ser_.dump(j, false, false, 0); }

void TaskWriter::append(std::string_view s) { buf_.append(s.data(), s.data() + s.size()); }

void TaskWriter::string(std::string_view s) {
  if (plain_ascii(s)) {
    buf_.push_back('"');
    append(s);
    buf_.push_back('"');
    return;
  }
  scratch_.get_ref<std::string&>().assign(s);
  dump(scratch_);
}

void TaskWriter::value(const Value& v) {
  if (v.kind() == Value::Kind::String) return string(v.text());
  if (!stable_) return dump(v.to_json());
  if (const std::string* hit = values_.find(&v)) return append(*hit);
  size_t at = buf_.size();
  dump(v.to_json());
  values_.put(&v, nullptr, std::string(buf_.data() + at, buf_.size() - at));
}

void TaskWriter::add(const TaskRef& t) {
  if (!first_) append(", ");
  first_ = false;
  append(index_);
  fmt::format_int index(t.index);
  append({index.data(), index.size()});
  append(commands_);
  for (size_t i = 0; i < t.commands.size(); ++i) {
    if (i) buf_.push_back(',');
    string(t.commands[i]);
  }
  append(variables_);
  bool first_var = true;
  for (const auto& [name, v] : t.variables) {
    if (!first_var) buf_.push_back(',');
    first_var = false;
    const std::string* key = keys_.find(name);
    append(key ? *key : keys_.put(name, nullptr, json(*name).dump() + ":"));
    value(*v);
  }
  append(creates_);
  if (t.creates) string(*t.creates);
  else append("null");
  append(requires_);
  if (t.requires_) string(*t.requires_);
  else append("null");
  buf_.push_back('}');
  if (buf_.size() > kBlock - 4096) flush();
}

void TaskWriter::flush() {
  os_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
}

}  // namespace xrun::plan
