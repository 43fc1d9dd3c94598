#include "xrun/plan/task_key.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <xxhash.h>

namespace xrun::plan {

namespace {
// "TAG LENGTH:BYTES\n": no field can run into the next one, whatever bytes it holds. Written
// straight into a buffer the caller has made large enough (kFieldOverhead + the bytes).
constexpr size_t kFieldOverhead = 24;  // tag, space, up to 20 digits, colon, newline
[[gnu::always_inline]] inline char* decimal(char* out, size_t n) {
  if (n < 10) {
    *out = static_cast<char>('0' + n);
    return out + 1;
  }
  if (n < 100) {
    out[0] = static_cast<char>('0' + n / 10);
    out[1] = static_cast<char>('0' + n % 10);
    return out + 2;
  }
  return std::to_chars(out, out + 20, n).ptr;
}
[[gnu::always_inline]] inline char* field(char* out, char tag, std::string_view bytes) {
  *out++ = tag;
  *out++ = ' ';
  out = decimal(out, bytes.size());
  *out++ = ':';
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  out += bytes.size();
  *out++ = '\n';
  return out;
}
// A count, as its decimal digits.
[[gnu::always_inline]] inline char* count(char* out, char tag, size_t n) {
  char d[20];
  return field(out, tag, std::string_view(d, static_cast<size_t>(decimal(d, n) - d)));
}
void field(std::string& out, char tag, std::string_view bytes) {
  const size_t at = out.size();
  out.resize(at + kFieldOverhead + bytes.size());
  out.resize(static_cast<size_t>(field(out.data() + at, tag, bytes) - out.data()));
}
void count(std::string& out, char tag, size_t n) {
  const size_t at = out.size();
  out.resize(at + 2 * kFieldOverhead);
  out.resize(static_cast<size_t>(count(out.data() + at, tag, n) - out.data()));
}
}  // namespace

std::vector<std::string> setup_from_options(const nlohmann::ordered_json& opts) {
  std::vector<std::string> setup;
  if (!opts.is_object() || !opts.contains("setup")) return setup;
  const auto& s = opts["setup"];
  if (s.is_array()) {
    for (const auto& line : s)
      if (line.is_string() && !line.get<std::string>().empty()) setup.push_back(line.get<std::string>());
  } else if (s.is_string() && !s.get<std::string>().empty()) {
    setup.push_back(s.get<std::string>());
  }
  return setup;
}

KeyStage key_stage(const std::string& stage, const std::string& workdir, const nlohmann::ordered_json& opts,
                   const std::string& backend) {
  KeyStage k{stage, workdir, setup_from_options(opts), ""};
  if (backend == "docker" && opts.is_object() && opts.contains("image") && opts["image"].is_string())
    k.image = opts["image"].get<std::string>();
  return k;
}

KeyContext::KeyContext(const KeyStage& st) {
  head_ = "xrun task key 1\n";
  field(head_, 'S', st.stage);
  field(tail_, 'W', st.workdir);
  count(tail_, 'U', st.setup.size());
  for (const auto& line : st.setup) field(tail_, 'u', line);
  field(tail_, 'I', st.image);
}

void KeyContext::key(const std::vector<std::string>& commands,
                     const std::vector<std::pair<std::string_view, std::string_view>>& vars, char out[kSize]) {
  // Variables go sorted by name (names are unique within a task, so this is the order of the
  // (name, value) pairs). The tasks of a stage mostly have the same names in the same order:
  // the order that sorts them, and the encoding of the names, are made again only when they change.
  bool same = !names_at_.empty() && vars.size() == last_names_.size();
  for (size_t i = 0; same && i < vars.size(); ++i) {
    const auto& a = vars[i].first;
    const auto& b = last_names_[i];
    same = a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
  }
  if (!same) {
    last_names_.clear();
    order_.clear();
    for (size_t i = 0; i < vars.size(); ++i) {
      last_names_.emplace_back(vars[i].first);
      order_.push_back(i);
    }
    std::sort(order_.begin(), order_.end(), [&](size_t a, size_t b) { return vars[a].first < vars[b].first; });
    names_.clear();
    names_at_.clear();
    count(names_, 'V', vars.size());
    for (size_t i : order_) {
      names_at_.push_back(names_.size());
      field(names_, 'n', vars[i].first);
      names_ += "v ";  // the value's field, up to its length
    }
    names_at_.push_back(names_.size());
  }
  encode(commands, vars.size(), [&](size_t i) { return vars[i].second; }, out);
}

void KeyContext::key_same_names(const std::vector<std::string>& commands, const char* base,
                                const std::vector<std::pair<size_t, size_t>>& values, char out[kSize]) {
  encode(commands, values.size(),
         [&](size_t i) { return std::string_view(base + values[i].first, values[i].second - values[i].first); }, out);
}

template <typename Value>
void KeyContext::encode(const std::vector<std::string>& commands, size_t n, const Value& value, char out[kSize]) {
  size_t need = head_.size() + tail_.size() + names_.size() + 2 * kFieldOverhead;
  for (const auto& c : commands) need += c.size() + kFieldOverhead;
  for (size_t i = 0; i < n; ++i) need += value(i).size() + kFieldOverhead;
  if (need > buf_.size()) buf_.resize(std::max(need, 2 * buf_.size()));
  char* p = buf_.data();
  std::memcpy(p, head_.data(), head_.size());
  p += head_.size();
  p = count(p, 'C', commands.size());
  for (const auto& c : commands) p = field(p, 'c', c);
  std::memcpy(p, names_.data(), names_at_[0]);  // "V n:COUNT\n"
  p += names_at_[0];
  for (size_t k = 0; k < order_.size(); ++k) {
    const size_t len = names_at_[k + 1] - names_at_[k];
    std::memcpy(p, names_.data() + names_at_[k], len);  // "n LEN:NAME\nv "
    p += len;
    const std::string_view v = value(order_[k]);
    p = decimal(p, v.size());
    *p++ = ':';
    if (!v.empty()) std::memcpy(p, v.data(), v.size());
    p += v.size();
    *p++ = '\n';
  }
  std::memcpy(p, tail_.data(), tail_.size());
  p += tail_.size();
  const XXH128_hash_t h = XXH3_128bits(buf_.data(), static_cast<size_t>(p - buf_.data()));
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    out[i] = digits[(h.high64 >> (60 - 4 * i)) & 0xf];
    out[16 + i] = digits[(h.low64 >> (60 - 4 * i)) & 0xf];
  }
}

std::string KeyContext::key(const std::vector<std::string>& commands,
                            const std::vector<std::pair<std::string_view, std::string_view>>& vars) {
  std::string out(kSize, '0');
  key(commands, vars, out.data());
  return out;
}

std::string task_key(const KeyInputs& in) {
  KeyContext ctx(KeyStage{in.stage, in.workdir, in.setup, in.image});
  std::vector<std::pair<std::string_view, std::string_view>> vars(in.variables.begin(), in.variables.end());
  return ctx.key(in.commands, vars);
}

}  // namespace xrun::plan
