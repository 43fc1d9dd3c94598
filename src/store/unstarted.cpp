#include "xrun/store/unstarted.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace xrun::store {

namespace {

constexpr std::string_view kHeader = "# xrun unstarted tasks 1: reason, tab, ids (a-b ranges, comma-separated)\n";

std::vector<std::pair<size_t, size_t>> ranges_of(std::vector<size_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t id : ids) {
    if (!out.empty() && out.back().second + 1 == id) out.back().second = id;
    else out.emplace_back(id, id);
  }
  return out;
}

bool parse_number(std::string_view s, size_t& v) {
  if (s.empty() || s.size() > 19) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Unstarted Unstarted::parse(std::string_view text) {
  Unstarted u;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const bool whole = nl != std::string_view::npos;
    std::string_view line = text.substr(pos, whole ? nl - pos : std::string_view::npos);
    pos = whole ? nl + 1 : text.size();
    if (line.empty() || line.front() == '#') continue;
    size_t tab = line.find('\t');
    Line l;
    bool ok = whole && tab != std::string_view::npos;
    if (ok) {
      l.reason = std::string(line.substr(0, tab));
      std::string_view rest = line.substr(tab + 1);
      while (ok && !rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view r = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        size_t dash = r.find('-'), a = 0, b = 0;
        ok = dash == std::string_view::npos ? parse_number(r, a) && parse_number(r, b)
                                            : parse_number(r.substr(0, dash), a) && parse_number(r.substr(dash + 1), b);
        ok = ok && a <= b && b < (size_t{1} << 40) && (l.ranges.empty() || l.ranges.back().second < a);
        if (ok) l.ranges.emplace_back(a, b);
      }
    }
    if (!ok || l.ranges.empty()) {
      ++u.damaged_;
      continue;
    }
    u.lines_.push_back(std::move(l));
  }
  return u;
}

std::string Unstarted::format() const {
  std::string out(kHeader);
  for (const auto& l : lines_) {
    std::string reason = l.reason;
    std::replace_if(reason.begin(), reason.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
    out += reason;
    out += '\t';
    for (size_t k = 0; k < l.ranges.size(); ++k) {
      const auto& [a, b] = l.ranges[k];
      out += k ? "," : "";
      out += a == b ? fmt::format("{}", a) : fmt::format("{}-{}", a, b);
    }
    out += '\n';
  }
  return out;
}

void Unstarted::add(std::vector<size_t> ids, const std::string& reason) {
  auto r = ranges_of(std::move(ids));
  if (!r.empty()) lines_.push_back(Line{reason, std::move(r)});
}

bool Unstarted::remove(const std::set<size_t>& ids) {
  bool changed = false;
  for (auto& l : lines_) {
    std::vector<std::pair<size_t, size_t>> kept;
    for (auto [a, b] : l.ranges) {
      // The ids to remove inside [a, b] split it.
      for (auto it = ids.lower_bound(a); it != ids.end() && *it <= b; ++it) {
        changed = true;
        if (*it > a) kept.emplace_back(a, *it - 1);
        a = *it + 1;
        if (*it == b) break;
      }
      if (a <= b) kept.emplace_back(a, b);
    }
    l.ranges = std::move(kept);
  }
  lines_.erase(std::remove_if(lines_.begin(), lines_.end(), [](const Line& l) { return l.ranges.empty(); }), lines_.end());
  return changed;
}

const std::string* Unstarted::reason_of(size_t id) const {
  for (auto l = lines_.rbegin(); l != lines_.rend(); ++l) {
    auto it = std::upper_bound(l->ranges.begin(), l->ranges.end(), id,
                               [](size_t v, const std::pair<size_t, size_t>& r) { return v < r.first; });
    if (it != l->ranges.begin() && std::prev(it)->second >= id) return &l->reason;
  }
  return nullptr;
}

size_t Unstarted::count() const {
  size_t n = 0;
  for (const auto& l : lines_)
    for (const auto& [a, b] : l.ranges) n += b - a + 1;
  return n;
}

}  // namespace xrun::store
