#include "xrun/plan/plan_cache.hpp"

#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace xrun::plan {

// Layout (native byte order, checked by a mark; every count a u32, every string a u32 length
// and its bytes):
//   header, 64 bytes: "XRUNPLAN", u32 version, u32 byte-order mark, plan.json's u64 size, u64
//     inode, i64 mtime (ns), i64 ctime (ns), u64 payload length, u64 payload checksum
//   payload: name, seeds (count, then i64 line and u64 seed each), stages (count, then each:
//     name, u8 on_failure, after (count; u64 stage, u8 per_task), options as JSON text,
//     resources (count; name, i64), early_stopping (count; metric, f64 bits, u8 maximize),
//     tasks (count; each: u64 id, u64 index, commands (count; strings), u8 flags (1 creates, 2
//     requires, 4 workdir) then those strings, variables (count; name, value))).
//   value: u8 tag, then nothing (null), u8 (bool), i64 (int), string (big int's digits,
//     string), u64 bits (float), count and values (list).
//   then retired tasks (count; each: stage name, key, task).
// A task's id is its own (unique, not its position: version 1 had no ids and is not read;
// version 2 had no retired tasks).

namespace {

constexpr char kMagic[8] = {'X', 'R', 'U', 'N', 'P', 'L', 'A', 'N'};
constexpr uint32_t kVersion = 3;
constexpr uint32_t kByteOrder = 0x01020304;
constexpr size_t kHeader = 64;
constexpr size_t kMaxDepth = 256;  // of nested lists (plan.json's own reader allows far less)
enum Tag : uint8_t { kNull, kBool, kInt, kBigInt, kFloat, kString, kList };

// 64-bit checksum of whole words (fast: a cache of 100,000 tasks is read in a few ms).
uint64_t checksum(std::string_view s) {
  constexpr uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
  uint64_t h = k1 ^ s.size();
  auto mix = [&](uint64_t w) {
    h ^= w * k2;
    h = (h << 31 | h >> 33) * k1;
  };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    mix(w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  mix(tail);
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  return h;
}

class Writer {
 public:
  std::string out;
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void count(size_t n) {
    if (n > UINT32_MAX) throw std::length_error("too many items for the plan's cache");
    put(static_cast<uint32_t>(n));
  }
  void str(std::string_view s) {
    count(s.size());
    out.append(s);
  }
  void value(const Value& v) {
    switch (v.kind()) {
      case Value::Kind::Null: put(kNull); break;
      case Value::Kind::Bool: put(kBool), put<uint8_t>(v.as_bool()); break;
      case Value::Kind::Int: put(kInt), put<int64_t>(v.as_int()); break;
      case Value::Kind::BigInt: put(kBigInt), str(v.text()); break;
      case Value::Kind::Float: put(kFloat), put<double>(v.as_float()); break;
      case Value::Kind::String: put(kString), str(v.text()); break;
      case Value::Kind::List:
        put(kList);
        count(v.items().size());
        for (const auto& x : v.items()) value(x);
        break;
    }
  }
  void task(const Task& t) {
    put<uint64_t>(t.id);
    put<uint64_t>(t.index);
    count(t.commands.size());
    for (const auto& c : t.commands) str(c);
    put<uint8_t>((t.creates ? 1 : 0) | (t.requires_ ? 2 : 0) | (t.workdir.empty() ? 0 : 4));
    if (t.creates) str(*t.creates);
    if (t.requires_) str(*t.requires_);
    if (!t.workdir.empty()) str(t.workdir);
    count(t.variables.size());
    for (const auto& [k, v] : t.variables) {
      str(k);
      value(v);
    }
  }
  void stage(const Stage& s) {
    str(s.name);
    put<uint8_t>(s.on_failure == spec::OnFailure::Continue ? 1 : 0);
    count(s.after.size());
    for (const auto& a : s.after) put<uint64_t>(a.stage), put<uint8_t>(a.per_task);
    str(s.options.dump());
    count(s.resources.size());
    for (const auto& [name, n] : s.resources) str(name), put<int64_t>(n);
    count(s.early_stopping.size());
    for (const auto& r : s.early_stopping) str(r.metric), put<double>(r.value), put<uint8_t>(r.maximize);
    count(s.tasks.size());
    for (const auto& t : s.tasks) task(t);
  }
};

struct Malformed {};

class Reader {
 public:
  Reader(const char* p, const char* end) : p_(p), end_(end) {}
  bool done() const { return p_ == end_; }
  template <typename T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    return v;
  }
  bool flag() {
    auto b = get<uint8_t>();
    if (b > 1) throw Malformed{};
    return b;
  }
  // A count of items taking at least `min_size` bytes each (so no count can ask for more room
  // than the cache could hold).
  size_t count(size_t min_size) {
    size_t n = get<uint32_t>();
    if (n > static_cast<size_t>(end_ - p_) / min_size) throw Malformed{};
    return n;
  }
  std::string_view view() {
    size_t n = get<uint32_t>();
    need(n);
    std::string_view s(p_, n);
    p_ += n;
    return s;
  }
  std::string str() { return std::string(view()); }
  Value value(size_t depth) {
    if (depth > kMaxDepth) throw Malformed{};
    switch (get<uint8_t>()) {
      case kNull: return Value::null();
      case kBool: return Value::boolean(flag());
      case kInt: return Value::integer(get<int64_t>());
      case kBigInt: return Value::big_integer(str());
      case kFloat: return Value::floating(get<double>());
      case kString: return Value::string(str());
      case kList: {
        std::vector<Value> items(count(1));
        for (auto& x : items) x = value(depth + 1);
        return Value::list(std::move(items));
      }
      default: throw Malformed{};
    }
  }
  Task task() {
    Task t;
    t.id = get<uint64_t>();
    t.index = get<uint64_t>();
    t.commands.resize(count(4));
    for (auto& c : t.commands) c = str();
    auto flags = get<uint8_t>();
    if (flags > 7) throw Malformed{};
    if (flags & 1) t.creates = str();
    if (flags & 2) t.requires_ = str();
    if (flags & 4) t.workdir = str();
    size_t n = count(5);
    t.variables.reserve(n);
    for (size_t k = 0; k < n; ++k) {
      std::string key = str();
      t.variables.emplace_back(std::move(key), value(0));
    }
    return t;
  }
  Stage stage() {
    Stage s;
    s.name = str();
    s.on_failure = flag() ? spec::OnFailure::Continue : spec::OnFailure::Stop;
    s.after.resize(count(9));
    for (auto& a : s.after) {
      a.stage = get<uint64_t>();
      a.per_task = flag();
    }
    s.options = json::parse(view());
    if (!s.options.is_object()) throw Malformed{};
    s.resources.resize(count(12));
    for (auto& [name, n] : s.resources) name = str(), n = get<int64_t>();
    s.early_stopping.resize(count(13));
    for (auto& r : s.early_stopping) r.metric = str(), r.value = get<double>(), r.maximize = flag();
    size_t n = count(17);
    s.tasks.reserve(n);
    for (size_t k = 0; k < n; ++k) s.tasks.push_back(task());
    return s;
  }

 private:
  void need(size_t n) const {
    if (n > static_cast<size_t>(end_ - p_)) throw Malformed{};
  }
  const char* p_;
  const char* end_;
};

}  // namespace

std::string encode_cache(const Plan& p, const SourceStamp& source) {
  Writer w;
  w.out.assign(kHeader, '\0');
  w.str(p.name);
  w.count(p.sample_seeds.size());
  for (const auto& [line, seed] : p.sample_seeds) w.put<int64_t>(line), w.put<uint64_t>(seed);
  w.count(p.stages.size());
  for (const auto& s : p.stages) w.stage(s);
  w.count(p.retired.size());
  for (const auto& r : p.retired) w.str(r.stage), w.str(r.key), w.task(r.task);
  std::string_view payload(w.out.data() + kHeader, w.out.size() - kHeader);
  Writer h;
  h.out.append(kMagic, sizeof kMagic);
  h.put(kVersion);
  h.put(kByteOrder);
  h.put<uint64_t>(source.size);
  h.put<uint64_t>(source.inode);
  h.put<int64_t>(source.mtime_ns);
  h.put<int64_t>(source.ctime_ns);
  h.put<uint64_t>(payload.size());
  h.put<uint64_t>(checksum(payload));
  w.out.replace(0, kHeader, h.out);
  return std::move(w.out);
}

std::optional<Plan> decode_cache(std::string_view bytes, const SourceStamp& source) {
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  Reader h(bytes.data() + sizeof kMagic, bytes.data() + kHeader);
  try {
    if (h.get<uint32_t>() != kVersion || h.get<uint32_t>() != kByteOrder) return std::nullopt;
    SourceStamp made;
    made.size = h.get<uint64_t>();
    made.inode = h.get<uint64_t>();
    made.mtime_ns = h.get<int64_t>();
    made.ctime_ns = h.get<int64_t>();
    if (!(made == source)) return std::nullopt;
    std::string_view payload = bytes.substr(kHeader);
    if (h.get<uint64_t>() != payload.size() || h.get<uint64_t>() != checksum(payload)) return std::nullopt;
    Reader r(payload.data(), payload.data() + payload.size());
    Plan p;
    p.name = r.str();
    p.sample_seeds.resize(r.count(16));
    for (auto& [line, seed] : p.sample_seeds) {
      auto l = r.get<int64_t>();
      if (l < INT32_MIN || l > INT32_MAX) return std::nullopt;
      line = static_cast<int>(l);
      seed = r.get<uint64_t>();
    }
    size_t n = r.count(25);
    p.stages.reserve(n);
    for (size_t k = 0; k < n; ++k) p.stages.push_back(r.stage());
    p.retired.resize(r.count(17));
    for (auto& t : p.retired) {
      t.stage = r.str();
      t.key = r.str();
      t.task = r.task();
    }
    if (!r.done() || !p.check_stages() || !p.index_ids()) return std::nullopt;
    return p;
  } catch (const Malformed&) {
    return std::nullopt;
  } catch (const std::exception&) {  // options that are not JSON, no memory
    return std::nullopt;
  }
}

}  // namespace xrun::plan
