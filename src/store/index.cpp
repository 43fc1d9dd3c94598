#include "xrun/store/index.hpp"

#include <signal.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>

#include <fmt/format.h>

namespace xrun::store {

namespace {

constexpr std::string_view kHeader = "# xrun task index 1: id attempt state exit signal pid wrapper start end host files "
                                     "control reason checksum\n";
constexpr size_t kFields = 14;

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// Free text in a field: no tab, newline or '%' unescaped.
std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '%' || c == '\t' || c == '\n' || c == '\r') out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    else out += c;
  }
  return out;
}

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= s.size()) return std::nullopt;
    auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
    if (r.ec != std::errc() || r.ptr != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

template <typename T>
bool number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// (from_chars: exact, and whatever the locale.)
bool real(std::string_view s, double& out) {
  if (s.empty() || s.size() > 40) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::optional<IndexEntry> parse_line(std::string_view line) {
  auto last = line.rfind('\t');
  if (last == std::string_view::npos) return std::nullopt;
  uint64_t sum = 0;
  {
    std::string_view hex = line.substr(last + 1);
    auto r = std::from_chars(hex.data(), hex.data() + hex.size(), sum, 16);
    if (hex.size() != 16 || r.ec != std::errc() || r.ptr != hex.data() + hex.size()) return std::nullopt;
  }
  if (fnv1a(line.substr(0, last)) != sum) return std::nullopt;
  std::string_view f[kFields];
  size_t n = 0, pos = 0;
  while (n < kFields) {
    auto tab = line.find('\t', pos);
    f[n++] = line.substr(pos, tab == std::string_view::npos ? std::string_view::npos : tab - pos);
    if (tab == std::string_view::npos) break;
    pos = tab + 1;
  }
  if (n != kFields) return std::nullopt;
  IndexEntry e;
  WrapperRecord& w = e.record;
  if (!number(f[0], e.id) || !number(f[1], w.attempt)) return std::nullopt;
  w.state = std::string(f[2]);
  if (!w.final()) return std::nullopt;
  if (f[3] != "-") {
    int v = 0;
    if (!number(f[3], v)) return std::nullopt;
    w.exit_code = v;
  }
  if (f[4] != "-") {
    int v = 0;
    if (!number(f[4], v)) return std::nullopt;
    w.signal = v;
  }
  if (!number(f[5], w.pid) || !number(f[6], w.wrapper) || !real(f[7], w.start) || !real(f[8], w.end)) return std::nullopt;
  auto host = unescape(f[9]);
  if (!host) return std::nullopt;
  w.host = std::move(*host);
  for (char c : f[10]) {
    if (c == 'o') e.has_stdout = true;
    else if (c == 'e') e.has_stderr = true;
    else if (c == 'm') e.has_metrics = true;
    else if (c != '-') return std::nullopt;
  }
  if (f[11] != "-") {
    auto reason = unescape(f[12]);
    if (!reason) return std::nullopt;
    e.control = ControlRecord{std::string(f[11]), std::move(*reason)};
  }
  return e;
}

}  // namespace

std::string format_wrapper_record(const WrapperRecord& w) {
  return fmt::format("state={}\nexit={}\nsignal={}\nhost={}\npid={}\nwrapper={}\nstart={:.6f}\nend={:.6f}\nattempt={}\n"
                     "written=1\n",
                     w.state, w.exit_code.value_or(-1), w.signal.value_or(0), w.host, w.pid, w.wrapper, w.start, w.end,
                     w.attempt);
}

std::pair<std::string, std::string> started_record_around_pid(const WrapperRecord& w) {
  std::string ids;
  if (w.wrapper_start > 0) ids += fmt::format("\nwrapper_start={}", w.wrapper_start);
  if (!w.boot.empty()) ids += fmt::format("\nboot={}", w.boot);
  return {fmt::format("state={}\nhost={}\npid=", w.state, w.host),
          fmt::format("\nwrapper={}{}\nstart={:.6f}\nattempt={}\nresources={}\nwritten=1\n", w.wrapper, ids, w.start,
                      w.attempt, w.resources)};
}

std::string format_started_record(const WrapperRecord& w) {
  auto [before, after] = started_record_around_pid(w);
  return fmt::format("{}{}{}{}", before, w.pid, w.pid_start > 0 ? fmt::format("\npid_start={}", w.pid_start) : "", after);
}

std::string TaskIndex::format_entry(const IndexEntry& e) {
  const WrapperRecord& w = e.record;
  std::string files;
  if (e.has_stdout) files += 'o';
  if (e.has_stderr) files += 'e';
  if (e.has_metrics) files += 'm';
  std::string line = fmt::format(
      "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.6f}\t{:.6f}\t{}\t{}\t{}\t{}", e.id, w.attempt, w.state,
      w.exit_code ? std::to_string(*w.exit_code) : "-", w.signal ? std::to_string(*w.signal) : "-", w.pid, w.wrapper,
      w.start, w.end, escape(w.host), files.empty() ? "-" : files, e.control ? escape(e.control->state) : "-",
      e.control ? escape(e.control->reason) : "");
  return fmt::format("{}\t{:016x}\n", line, fnv1a(line));
}

TaskIndex TaskIndex::parse(std::string_view text) {
  TaskIndex idx;
  idx.add_text(text);
  return idx;
}

void TaskIndex::add_text(std::string_view text) {
  TaskIndex& idx = *this;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    // A last line without its newline was cut short: damaged like any other.
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty() || line.front() == '#') continue;
    auto e = nl == std::string_view::npos ? std::nullopt : parse_line(line);
    if (!e || e->id > (size_t{1} << 40)) {
      ++idx.damaged_;
      continue;
    }
    idx.put(*e);
  }
}

std::string_view TaskIndex::header() { return kHeader; }

std::string TaskIndex::format() const {
  std::string out(kHeader);
  out.reserve(count_ * 96 + kHeader.size());
  for (size_t i = 0; i < pos_.size(); ++i)
    if (pos_[i]) out += format_entry(*find(i));
  return out;
}

uint32_t TaskIndex::intern_host(const std::string& h) {
  // Few hosts: the last ones looked up first.
  for (size_t k = hosts_.size(); k-- > 0;)
    if (hosts_[k] == h) return static_cast<uint32_t>(k);
  hosts_.push_back(h);
  return static_cast<uint32_t>(hosts_.size() - 1);
}

void TaskIndex::put(const IndexEntry& e) {
  if (e.id >= pos_.size()) pos_.resize(std::max(e.id + 1, pos_.size() + pos_.size() / 2));
  if (pos_[e.id] != 0 && packed_[pos_[e.id] - 1].attempt > e.record.attempt) return;  // the later attempt stands
  Packed k;
  const WrapperRecord& w = e.record;
  k.start = w.start;
  k.end = w.end;
  k.pid = w.pid;
  k.wrapper = w.wrapper;
  k.attempt = w.attempt;
  k.has_exit = w.exit_code.has_value();
  k.exit = w.exit_code.value_or(0);
  k.has_signal = w.signal.has_value();
  k.signal = w.signal.value_or(0);
  k.host = intern_host(w.host);
  k.succeeded = w.state == "SUCCEEDED";
  k.out = e.has_stdout;
  k.err = e.has_stderr;
  k.metrics = e.has_metrics;
  if (e.control) {
    controls_.push_back(*e.control);
    k.control = static_cast<uint32_t>(controls_.size());
  }
  if (pos_[e.id] != 0) {
    packed_[pos_[e.id] - 1] = k;
    return;
  }
  packed_.push_back(k);
  pos_[e.id] = static_cast<uint32_t>(packed_.size());
  ++count_;
}

std::optional<IndexEntry> TaskIndex::find(size_t id) const {
  if (!contains(id)) return std::nullopt;
  const Packed& k = packed_[pos_[id] - 1];
  IndexEntry e;
  e.id = id;
  WrapperRecord& w = e.record;
  w.state = k.succeeded ? "SUCCEEDED" : "FAILED";
  if (k.has_exit) w.exit_code = k.exit;
  if (k.has_signal) w.signal = k.signal;
  w.start = k.start;
  w.end = k.end;
  w.host = hosts_[k.host];
  w.pid = k.pid;
  w.wrapper = k.wrapper;
  w.attempt = k.attempt;
  if (k.control) e.control = controls_[k.control - 1];
  e.has_stdout = k.out;
  e.has_stderr = k.err;
  e.has_metrics = k.metrics;
  return e;
}

bool TaskIndex::erase(size_t id) {
  if (!contains(id)) return false;
  pos_[id] = 0;  // its packed entry stays unreferenced
  --count_;
  return true;
}

std::vector<size_t> TaskIndex::ids() const {
  std::vector<size_t> out;
  out.reserve(count_);
  for (size_t i = 0; i < pos_.size(); ++i)
    if (pos_[i]) out.push_back(i);
  return out;
}

bool foldable(const TaskFacts& f, bool requeues) {
  if (!f.record || !f.record->final()) return false;
  const bool killed = f.record->killed();
  // (A task whose wrapper got a stopping signal may have been stopped at its time limit: the
  // scheduler's verdict is recorded first, as for a killed one.)
  return !requeues || (!killed && f.record->got.empty()) || f.control.has_value();
}

TaskFacts facts_of_entry(const IndexEntry& e) {
  TaskFacts f;
  f.id = e.id;
  f.record = e.record;
  // (A success keeps only a TIMEOUT decision: stopped at its limit, it ended with its own code;
  // and REUSED: it ran in another experiment. Any other decision about a task that succeeded
  // is void.)
  if (e.record.state != "SUCCEEDED" ||
      (e.control && (e.control->state == "TIMEOUT" || e.control->state == kReusedState)))
    f.control = e.control;
  f.folded = true;
  return f;
}

}  // namespace xrun::store
