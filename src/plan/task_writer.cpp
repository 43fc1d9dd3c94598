#include "xrun/plan/task_writer.hpp"

#include <fmt/format.h>

namespace xrun::plan {

namespace {

constexpr size_t kBlock = size_t{1} << 20;

// True when nlohmann's serializer writes `s` as it is between quotes: printable ASCII, no quote
// and no backslash (anything else goes through the serializer).
bool plain_ascii(std::string_view s) {
  bool special = false;  // no early exit: the loop vectorises
  for (unsigned char c : s) special |= (c < 0x20) | (c >= 0x7f) | (c == '"') | (c == '\\');
  return !special;
}

}  // namespace

TaskWriter::TaskWriter(std::ostream& os, bool stable_values)
    : os_(os), stable_(stable_values), ser_(nlohmann::detail::output_adapter<char>(buf_), ' ') {
  buf_.reserve(kBlock);
  auto key = [](const char* k) { return json(k).dump() + ":"; };
  index_ = "{" + key("index");
  commands_ = "," + key("commands") + "[";
  variables_ = "]," + key("variables") + "{";
  creates_ = "}," + key("creates");
  requires_ = "," + key("requires");
}

void TaskWriter::dump(const json& j) { ser_.dump(j, false, false, 0); }

void TaskWriter::string(std::string_view s) {
  if (plain_ascii(s)) {
    size_t at = buf_.size();
    buf_.resize(at + s.size() + 2);
    buf_[at] = '"';
    s.copy(&buf_[at + 1], s.size());
    buf_[at + 1 + s.size()] = '"';
    return;
  }
  scratch_.get_ref<std::string&>().assign(s);
  dump(scratch_);
}

void TaskWriter::value(const Value& v) {
  if (v.kind() == Value::Kind::String) return string(v.text());
  if (!stable_) return dump(v.to_json());
  if (const std::string* hit = values_.find(&v)) {
    buf_ += *hit;
    return;
  }
  size_t at = buf_.size();
  dump(v.to_json());
  values_.put(&v, nullptr, buf_.substr(at));
}

void TaskWriter::add(const TaskRef& t) {
  if (!first_) buf_ += ", ";
  first_ = false;
  buf_ += index_;
  fmt::format_int index(t.index);
  buf_.append(index.data(), index.size());
  buf_ += commands_;
  for (size_t i = 0; i < t.commands.size(); ++i) {
    if (i) buf_ += ',';
    string(t.commands[i]);
  }
  buf_ += variables_;
  bool first_var = true;
  for (const auto& [name, v] : t.variables) {
    if (!first_var) buf_ += ',';
    first_var = false;
    const std::string* key = keys_.find(name);
    buf_ += key ? *key : keys_.put(name, nullptr, json(*name).dump() + ":");
    value(*v);
  }
  buf_ += creates_;
  if (t.creates) string(*t.creates);
  else buf_ += "null";
  buf_ += requires_;
  if (t.requires_) string(*t.requires_);
  else buf_ += "null";
  buf_ += '}';
  if (buf_.size() > kBlock - 4096) flush();
}

void TaskWriter::flush() {
  os_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
}

}  // namespace xrun::plan
