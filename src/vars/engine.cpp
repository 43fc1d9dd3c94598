#include "xrun/vars/engine.hpp"

#include "xrun/util/random.hpp"

#include <random>
#include <algorithm>
#include <cmath>
#include <optional>
#include <functional>
#include <limits>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "xrun/util/text.hpp"

namespace xrun::vars {

using spec::Loc;
using spec::error_at;
using spec::loc_of;
using spec::type_word;

uint64_t sat_mul(uint64_t a, uint64_t b) {
  if (a == 0 || b == 0) return 0;
  if (a > std::numeric_limits<uint64_t>::max() / b) return std::numeric_limits<uint64_t>::max();
  return a * b;
}
uint64_t sat_add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

struct Node {
  virtual ~Node() = default;
  virtual void reset() = 0;
  virtual bool next(Assignment& a) = 0;
  uint64_t count = 0;
  std::set<int> slots;   // slots this node may assign
  std::set<int> always;  // slots assigned in every combination
  // Let this subtree assign slot `to` wherever it assigned `from`.
  virtual void remap(int from, int to) { rename(from, to); }

 protected:
  void rename(int from, int to) {
    if (slots.erase(from)) slots.insert(to);
    if (always.erase(from)) always.insert(to);
  }
};

namespace {

struct Leaf : Node {
  int slot;
  std::vector<Value> values;
  size_t i = 0;
  Leaf(int s, std::vector<Value> v) : slot(s), values(std::move(v)) {
    count = values.size();
    slots = always = {slot};
  }
  void remap(int from, int to) override {
    if (slot == from) slot = to;
    rename(from, to);
  }
  void reset() override { i = 0; }
  bool next(Assignment& a) override {
    if (i >= values.size()) return false;
    a[static_cast<size_t>(slot)] = &values[i++];
    return true;
  }
};

// numpy.arange: length ceil((stop - start) / step); int dtype fills with a constant delta
// computed from the first two values, float dtype with start + i * delta.
struct Arange : Node {
  int slot;
  bool is_float;
  double fstart = 0, fdelta = 0;
  int64_t istart = 0, idelta = 0;
  uint64_t i = 0;
  Value cur;
  std::vector<Value> all;  // materialised when small: values then have stable addresses
  Arange(int s, bool f, uint64_t n) : slot(s), is_float(f) {
    count = n;
    slots = always = {slot};
  }
  void remap(int from, int to) override {
    if (slot == from) slot = to;
    rename(from, to);
  }
  Value at(uint64_t k) const {
    if (is_float) return Value::floating(fstart + static_cast<double>(k) * fdelta);
    return Value::integer(istart + static_cast<int64_t>(k) * idelta);
  }
  void reset() override { i = 0; }
  bool next(Assignment& a) override {
    if (i >= count) return false;
    if (!all.empty()) {
      a[static_cast<size_t>(slot)] = &all[i++];
      return true;
    }
    cur = at(i++);
    a[static_cast<size_t>(slot)] = &cur;
    return true;
  }
};

struct Product : Node {
  std::vector<std::unique_ptr<Node>> kids;
  void remap(int from, int to) override {
    for (auto& k : kids) k->remap(from, to);
    rename(from, to);
  }
  bool started = false, done = false;
  void finish() {
    count = 1;
    for (auto& k : kids) {
      count = sat_mul(count, k->count);
      slots.insert(k->slots.begin(), k->slots.end());
      always.insert(k->always.begin(), k->always.end());
    }
  }
  void reset() override {
    started = false;
    done = false;
  }
  bool next(Assignment& a) override {
    if (done) return false;
    if (!started) {
      started = true;
      for (auto& k : kids) {
        k->reset();
        if (!k->next(a)) {
          done = true;
          return false;
        }
      }
      if (kids.empty()) done = true;  // exactly one (empty) combination
      return true;
    }
    for (size_t i = kids.size(); i-- > 0;) {
      if (kids[i]->next(a)) {
        for (size_t j = i + 1; j < kids.size(); ++j) {
          kids[j]->reset();
          kids[j]->next(a);
        }
        return true;
      }
    }
    done = true;
    return false;
  }
};

struct Zip : Node {
  std::vector<std::unique_ptr<Node>> kids;
  void remap(int from, int to) override {
    for (auto& k : kids) k->remap(from, to);
    rename(from, to);
  }
  void finish() {
    count = kids.empty() ? 0 : std::numeric_limits<uint64_t>::max();
    for (auto& k : kids) {
      count = std::min(count, k->count);
      slots.insert(k->slots.begin(), k->slots.end());
      always.insert(k->always.begin(), k->always.end());
    }
  }
  void reset() override {
    for (auto& k : kids) k->reset();
  }
  bool next(Assignment& a) override {
    if (kids.empty()) return false;
    for (auto& k : kids)
      if (!k->next(a)) return false;
    return true;
  }
};

struct Chain : Node {
  std::vector<std::unique_ptr<Node>> kids;
  void remap(int from, int to) override {
    for (auto& k : kids) k->remap(from, to);
    rename(from, to);
  }
  size_t cur = 0;
  bool fresh = true;
  void finish() {
    count = 0;
    bool first = true;
    for (auto& k : kids) {
      count = sat_add(count, k->count);
      slots.insert(k->slots.begin(), k->slots.end());
      if (first) {
        always = k->always;
        first = false;
      } else {
        std::set<int> keep;
        std::set_intersection(always.begin(), always.end(), k->always.begin(), k->always.end(),
                              std::inserter(keep, keep.begin()));
        always = std::move(keep);
      }
    }
  }
  void reset() override {
    cur = 0;
    fresh = true;
    if (!kids.empty()) kids[0]->reset();
  }
  void clear(Assignment& a) const {
    for (int s : slots) a[static_cast<size_t>(s)] = nullptr;  // a branch sets only its own
  }
  bool next(Assignment& a) override {
    if (fresh) {
      clear(a);
      fresh = false;
    }
    while (cur < kids.size()) {
      if (kids[cur]->next(a)) return true;
      if (++cur < kids.size()) {
        clear(a);
        kids[cur]->reset();
      }
    }
    return false;
  }
};

struct Cycle : Node {
  std::unique_ptr<Node> kid;
  void remap(int from, int to) override {
    kid->remap(from, to);
    rename(from, to);
  }
  uint64_t times = 0, round = 0;
  void finish() {
    count = sat_mul(kid->count, times);
    slots = kid->slots;
    always = kid->always;
  }
  void reset() override {
    round = 0;
    kid->reset();
  }
  bool next(Assignment& a) override {
    while (round < times) {
      if (kid->next(a)) return true;
      if (++round < times) {
        kid->reset();
        if (kid->count == 0) return false;
      }
    }
    return false;
  }
};

}  // namespace

struct Builder {
  std::string file;
  const Overrides& overrides;
  std::vector<VariableInfo> vars;
  std::map<std::string, int> slot_by_name;
  std::vector<Warning> warnings;
  std::vector<std::pair<Loc, uint64_t>> drawn_seeds;  // `sample:` blocks without a seed
  std::set<std::string> overridden_seen;
  bool stable = true;  // every value has a fixed address for the whole sweep
  static constexpr uint64_t kMaterialiseArange = 100000;

  int slot(const std::string& name, Loc loc) {
    auto it = slot_by_name.find(name);
    if (it != slot_by_name.end()) return it->second;
    int s = static_cast<int>(vars.size());
    slot_by_name[name] = s;
    vars.push_back({name, loc, {}, 0, false, ""});
    return s;
  }

  const std::vector<Value>* override_for(const std::string& name) {
    for (auto it = overrides.rbegin(); it != overrides.rend(); ++it)
      if (it->first == name) return &it->second;
    return nullptr;
  }

  // What Python's int() makes of a value (experi reads `times` with int()): ints, bools,
  // floats truncated, and strings of digits with an optional sign, surrounding blanks and
  // single underscores between digits ("2", " 3 ", "+4", "1_0").
  static std::optional<int64_t> python_int(const Value& v) {
    switch (v.kind()) {
      case Value::Kind::Int: return v.as_int();
      case Value::Kind::Bool: return v.as_bool() ? 1 : 0;
      case Value::Kind::Float:
        if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) > 9e18) return std::nullopt;
        return static_cast<int64_t>(std::trunc(v.as_float()));
      case Value::Kind::String: {
        std::string s = util::trim(v.str());
        size_t i = 0;
        bool neg = false;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
        std::string digits;
        for (; i < s.size(); ++i) {
          if (s[i] >= '0' && s[i] <= '9') digits += s[i];
          else if (s[i] == '_' && !digits.empty() && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') continue;
          else return std::nullopt;
        }
        if (digits.empty() || digits.size() > 18) return std::nullopt;
        int64_t n = std::stoll(digits);
        return neg ? -n : n;
      }
      default: return std::nullopt;
    }
  }

  // YAML 1.1 (PyYAML, so experi and xrun) reads `1e-3` as a string: a float needs a dot.
  static std::string yaml11_number_hint(const Value& v) {
    if (v.kind() != Value::Kind::String) return "";
    const std::string& t = v.text();
    char* end = nullptr;
    std::strtod(t.c_str(), &end);
    if (t.empty() || end == nullptr || *end != '\0' || t.find_first_of("eE") == std::string::npos) return "";
    auto e = t.find_first_of("eE");
    std::string mant = t.substr(0, e), exp = t.substr(e + 1);
    if (mant.find('.') == std::string::npos) mant += ".0";
    if (!exp.empty() && exp[0] != '-' && exp[0] != '+') exp = "+" + exp;
    return fmt::format("YAML 1.1 reads `{}` as a string, not a number: write `{}e{}` (a dot in the mantissa and a "
                       "sign in the exponent)",
                       t, mant, exp);
  }

  static bool is_keyword(const std::string& k) {
    return k == "product" || k == "zip" || k == "chain" || k == "append" || k == "cycle" || k == "repeat" ||
           k == "sample";
  }

  Result<double> number(const YAML::Node& n, const std::string& what, bool& is_float, int64_t& as_int) {
    if (!n.IsScalar())
      return error_at(file, n.Mark(), fmt::format("arange '{}' must be a number, got {}", what, type_word(n)));
    Value v = spec::scalar_value(n);
    if (v.kind() == Value::Kind::Int) {
      as_int = v.as_int();
      return static_cast<double>(v.as_int());
    }
    if (v.kind() == Value::Kind::Float && std::isfinite(v.as_float())) {
      is_float = true;
      return v.as_float();
    }
    if (v.kind() == Value::Kind::BigInt)
      return error_at(file, n.Mark(), fmt::format("arange '{}' is too large: {}", what, v.str()),
                      "arange bounds must fit in 64 bits");
    return error_at(file, n.Mark(), fmt::format("arange '{}' must be a number, got '{}'", what, v.str()),
                    yaml11_number_hint(v).empty() ? "e.g. `arange: {start: 0, stop: 1, step: 0.1}`" : yaml11_number_hint(v));
  }

  Result<std::unique_ptr<Node>> arange(const std::string& name, const YAML::Node& n, Loc key_loc) {
    int s = slot(name, key_loc);
    if (const auto* ov = override_for(name)) {
      overridden_seen.insert(name);
      return std::unique_ptr<Node>(std::make_unique<Leaf>(s, *ov));
    }
    bool any_float = false;
    double start = 0, stop = 0, step = 1;
    int64_t istart = 0, istop = 0, istep = 1;
    std::string dtype;
    if (n.IsScalar()) {
      auto r = number(n, "stop", any_float, istop);
      if (!r) return r.error();
      stop = r.value();
    } else if (n.IsMap()) {
      static const std::vector<std::string> keys = {"start", "stop", "step", "dtype"};
      bool has_stop = false;
      for (const auto& kv : n) {
        std::string k = kv.first.Scalar();
        if (k == "start" || k == "stop" || k == "step") {
          int64_t iv = 0;
          auto r = number(kv.second, k, any_float, iv);
          if (!r) return r.error();
          if (k == "start") { start = r.value(); istart = iv; }
          if (k == "stop") { stop = r.value(); istop = iv; has_stop = true; }
          if (k == "step") { step = r.value(); istep = iv; }
        } else if (k == "dtype") {
          dtype = kv.second.IsScalar() ? kv.second.Scalar() : "";
          if (!(util::starts_with(dtype, "int") || util::starts_with(dtype, "float")))
            return error_at(file, kv.second.Mark(), fmt::format("arange dtype must be int or float, got '{}'", dtype));
        } else {
          std::string sg = util::suggest(k, keys);
          return error_at(file, kv.first.Mark(), fmt::format("unknown key '{}' in arange", k),
                          sg.empty() ? "arange takes start, stop, step and dtype" : fmt::format("did you mean '{}'?", sg));
        }
      }
      if (!has_stop)
        return error_at(file, n.Mark(), fmt::format("arange for '{}' has no 'stop'", name),
                        "add `stop: N`; start defaults to 0 and step to 1");
    } else {
      return error_at(file, n.Mark(), fmt::format("arange must be a number or a mapping, got {}", type_word(n)),
                      "e.g. `arange: 10` or `arange: {start: 0, stop: 10, step: 2}`");
    }
    if (step == 0)
      return error_at(file, n.Mark(), fmt::format("arange step for '{}' is 0", name), "use a non-zero step");
    bool is_float = dtype.empty() ? any_float : util::starts_with(dtype, "float");
    double len = std::ceil((stop - start) / step);
    if (!any_float) {  // exact integer length
      __extension__ using i128 = __int128;
      i128 num = static_cast<i128>(istop) - istart;
      i128 q = num / istep;
      if (q * istep != num && ((num > 0) == (istep > 0))) q += 1;
      len = static_cast<double>(q);
    }
    if (!(len >= 1))
      return error_at(file, n.Mark(), fmt::format("arange for '{}' gives no values (start {}, stop {}, step {})",
                                                 name, spec::py_float_repr(start), spec::py_float_repr(stop),
                                                 spec::py_float_repr(step)),
                      "check the sign of step and that stop lies beyond start");
    uint64_t count = len >= 1.8e19 ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(len);
    auto node = std::make_unique<Arange>(s, is_float, count);
    if (is_float) {
      node->fstart = start;
      node->fdelta = (start + step) - start;
    } else {
      // numpy: the first two values cast to int fix the delta
      node->istart = any_float ? static_cast<int64_t>(start) : istart;
      int64_t second = any_float ? static_cast<int64_t>(start + step) : istart + istep;
      node->idelta = second - node->istart;
    }
    if (count <= kMaterialiseArange) {
      node->all.reserve(count);
      for (uint64_t k = 0; k < count; ++k) node->all.push_back(node->at(k));
    } else {
      stable = false;
    }
    return std::unique_ptr<Node>(std::move(node));
  }

  // The parent a mapping's keys are expanded under (experi's `parent`): the variable that
  // `arange` assigns. Plain keys are parents of their own values; iterator keywords pass it on.
  struct Parent {
    std::string name;
    Loc loc;
  };

  // A mapping's entries, with what experi needs to pick a winner when a name is defined twice.
  struct Kids {
    std::vector<std::unique_ptr<Node>> nodes;
    std::vector<int> ranks;
    std::vector<Loc> locs;
    std::vector<std::string> keys;
    void add(std::unique_ptr<Node> n, int rank, Loc loc, std::string key) {
      nodes.push_back(std::move(n));
      ranks.push_back(rank);
      locs.push_back(loc);
      keys.push_back(std::move(key));
    }
  };

  // experi expands a mapping's special keys first, in this order, then its plain keys in
  // document order, and merges each combination with ChainMap: the first expansion that
  // defines a name gives its value.
  static int rank_of(const std::string& key, size_t position) {
    static const std::vector<std::string> order = {"zip",   "product", "arange", "chain",
                                                   "append", "cycle",  "repeat", "sample"};
    for (size_t i = 0; i < order.size(); ++i)
      if (order[i] == key) return static_cast<int>(i);
    return 100 + static_cast<int>(position);
  }

  // A slot nobody reads: where the losing definition of a name defined twice writes.
  int hidden_slot(int of) {
    VariableInfo vi{vars[static_cast<size_t>(of)].name, vars[static_cast<size_t>(of)].loc, {}, 0};
    vi.hidden = true;
    vars.push_back(std::move(vi));
    return static_cast<int>(vars.size()) - 1;
  }

  // A name defined by several entries of one combination takes experi's value (see rank_of);
  // the other definitions still multiply the combinations (their tasks then repeat and are
  // removed as duplicates, as in experi), and a warning names both lines.
  void resolve_twice(Kids& k) {
    std::map<int, std::vector<size_t>> owners;
    for (size_t i = 0; i < k.nodes.size(); ++i)
      for (int s : k.nodes[i]->slots) owners[s].push_back(i);
    for (const auto& [s, who] : owners) {
      if (who.size() < 2) continue;
      size_t win = *std::min_element(who.begin(), who.end(), [&](size_t a, size_t b) {
        return std::make_pair(k.ranks[a], a) < std::make_pair(k.ranks[b], b);
      });
      const std::string name = vars[static_cast<size_t>(s)].name;  // a copy: hidden_slot grows vars
      auto where = [&](size_t i) {
        return k.keys[i] == name ? fmt::format("line {}", k.locs[i].line)
                                 : fmt::format("'{}' at line {}", k.keys[i], k.locs[i].line);
      };
      for (size_t i : who) {
        if (i == win) continue;
        k.nodes[i]->remap(s, hidden_slot(s));
        warnings.push_back({k.locs[i], fmt::format("variable '{}' is defined twice in the same combination ({} and {}): "
                                                   "the value from {} is used, as experi does",
                                                   name, where(i), where(win), where(win))});
      }
    }
  }

  // Every entry of a mapping (`skip`: a key handled by the caller, e.g. cycle's `times`).
  Result<Kids> entries(const YAML::Node& map, const Parent& parent, const char* skip = nullptr) {
    Kids k;
    size_t pos = 0;
    for (const auto& kv : map) {
      const std::string key = kv.first.Scalar();
      if (skip && key == skip) continue;
      auto r = entry(kv.first, kv.second, parent);
      if (!r) return r.error();
      k.add(std::move(r.value()), rank_of(key, pos++), loc_of(kv.first), key);
    }
    resolve_twice(k);
    return k;
  }

  // One `key: value` entry where `key` is a variable name or an iterator keyword.
  Result<std::unique_ptr<Node>> entry(const YAML::Node& key, const YAML::Node& val, const Parent& parent) {
    const std::string k = key.Scalar();
    Loc kl = loc_of(key);
    if (k == "arange" && !parent.name.empty()) return arange(parent.name, val, parent.loc);
    if (k == "product") {
      if (!val.IsMap())
        return error_at(file, val.Mark(), fmt::format("'product' takes a mapping of variables, got {}", type_word(val)),
                        "write `product:` then indented `name: [values]` lines; a list of mappings is a chain");
      return group(val, parent);
    }
    if (k == "zip") {
      if (val.IsMap()) return zip(val, parent, kl);
      if (val.IsSequence() && val.size() > 0) {  // product of zips
        Kids zips;
        size_t pos = 0;
        for (const auto& m : val) {
          if (!m.IsMap())
            return error_at(file, m.Mark(), fmt::format("each item of a 'zip' list must be a mapping, got {}", type_word(m)),
                            "write `- var1: [..]` / `  var2: [..]` groups");
          auto z = zip(m, parent, loc_of(m));
          if (!z) return z.error();
          zips.add(std::move(z.value()), static_cast<int>(pos++), loc_of(m), "zip");
        }
        resolve_twice(zips);
        auto p = std::make_unique<Product>();
        p->kids = std::move(zips.nodes);
        p->finish();
        return std::unique_ptr<Node>(std::move(p));
      }
      return error_at(file, val.Mark(), fmt::format("'zip' takes a mapping or a list of mappings, got {}", type_word(val)),
                      "write `zip:` then indented `name: [values]` lines of equal length");
    }
    if (k == "sample") return sample(val, kl);
    if (k == "chain" || k == "append") {
      if (!val.IsSequence() || val.size() == 0)
        return error_at(file, val.Mark(), fmt::format("'{}' takes a non-empty list of mappings, got {}", k, type_word(val)),
                        fmt::format("write `{}:` then `- name: value` groups expanded one after another", k));
      return chain(val, parent);
    }
    if (k == "cycle" || k == "repeat") {
      if (!val.IsMap())
        return error_at(file, val.Mark(), fmt::format("'{}' takes a mapping with 'times', got {}", k, type_word(val)),
                        fmt::format("write `{}:` then `times: N` and the variables to repeat", k));
      auto c = std::make_unique<Cycle>();
      bool has_times = false;
      for (const auto& kv : val) {
        if (kv.first.Scalar() != "times") continue;
        has_times = true;
        std::optional<int64_t> t = kv.second.IsScalar() ? python_int(spec::scalar_value(kv.second)) : std::nullopt;
        if (!t || *t < 1)
          return error_at(file, kv.second.Mark(),
                          fmt::format("'times' must be a whole number of at least 1, got {}",
                                      kv.second.IsScalar() ? "'" + kv.second.Scalar() + "'" : type_word(kv.second)),
                          kv.second.IsScalar() && !yaml11_number_hint(spec::scalar_value(kv.second)).empty()
                              ? yaml11_number_hint(spec::scalar_value(kv.second))
                              : "e.g. `times: 2` repeats the values twice");
        c->times = static_cast<uint64_t>(*t);
      }
      if (!has_times)
        return error_at(file, val.Mark(), fmt::format("'{}' has no 'times'", k), "add `times: N`");
      auto kids = entries(val, parent, "times");
      if (!kids) return kids.error();
      if (kids->nodes.empty())
        return error_at(file, val.Mark(), fmt::format("'{}' has no variables to repeat", k),
                        "add `name: [values]` beside `times`");
      auto p = std::make_unique<Product>();
      p->kids = std::move(kids->nodes);
      p->finish();
      c->kid = std::move(p);
      c->finish();
      return std::unique_ptr<Node>(std::move(c));
    }
    if (k.empty()) return error_at(file, key.Mark(), "empty variable name", "name every variable");
    return variable(k, kl, val);
  }

  // The values of variable `name`, read as experi's variable_matrix reads them: a scalar; a
  // list, flattened (a nested list adds its items), whose mappings expand in their place (a
  // chain); a mapping, expanded with `name` as the parent: `arange` gives name's values, other
  // keys are expanded in its place (plain keys become variables of their own).
  Result<std::unique_ptr<Node>> variable(const std::string& name, Loc kl, const YAML::Node& val) {
    if (const auto* ov = override_for(name)) {
      overridden_seen.insert(name);
      return std::unique_ptr<Node>(std::make_unique<Leaf>(slot(name, kl), *ov));
    }
    if (val.IsMap()) return mapping_value(name, kl, val);
    if (!val.IsSequence()) return std::unique_ptr<Node>(std::make_unique<Leaf>(slot(name, kl), std::vector<Value>{spec::scalar_value(val)}));
    auto c = std::make_unique<Chain>();
    std::vector<Value> run;
    XRUN_TRY(sequence_values(name, kl, val, *c, run));
    if (!run.empty()) c->kids.push_back(std::make_unique<Leaf>(slot(name, kl), std::move(run)));
    if (c->kids.empty())
      return error_at(file, val.Mark(), fmt::format("variable '{}' has an empty list of values", name),
                      "give at least one value, or remove the variable");
    if (c->kids.size() == 1) return std::move(c->kids[0]);
    c->finish();
    return std::unique_ptr<Node>(std::move(c));
  }

  Result<void> sequence_values(const std::string& name, Loc kl, const YAML::Node& seq, Chain& c, std::vector<Value>& run) {
    for (const auto& item : seq) {
      if (item.IsSequence()) {
        XRUN_TRY(sequence_values(name, kl, item, c, run));
      } else if (item.IsMap()) {
        if (!run.empty()) {
          c.kids.push_back(std::make_unique<Leaf>(slot(name, kl), std::move(run)));
          run.clear();
        }
        auto r = mapping_value(name, kl, item);
        if (!r) return r.error();
        c.kids.push_back(std::move(r.value()));
      } else {
        run.push_back(spec::scalar_value(item));
      }
    }
    return {};
  }

  // Random search draws with util::SplitMix64 (util/random.hpp: its uniform and normal).
  using Rng = util::SplitMix64;

  // One variable of a `sample:` block: how to draw its value.
  struct Draw {
    std::string name, dist;
    Loc loc;
    std::vector<double> p;          // numeric parameters
    std::vector<Value> choices;     // choice / pvalues
    std::vector<double> cumulative; // pvalues
  };

  Result<Draw> distribution(const std::string& name, Loc kl, const YAML::Node& spec) {
    static const std::vector<std::string> dists = {"uniform",   "quniform", "loguniform", "qloguniform", "normal",
                                                   "qnormal",   "lognormal", "qlognormal", "choice",     "pvalues"};
    const std::string hint = "e.g. `lr: {loguniform: [1.0e-5, 0.1]}`, `dropout: {uniform: 0:0.5}`, "
                             "`opt: {choice: [adam, sgd]}` or `bs: {pvalues: [[32, 0.3], [64, 0.7]]}`";
    if (!spec.IsMap() || spec.size() != 1)
      return error_at(file, spec.Mark(), fmt::format("sample variable '{}' must be a mapping with one distribution", name), hint);
    Draw d;
    d.name = name;
    d.loc = kl;
    d.dist = spec.begin()->first.Scalar();
    const YAML::Node& args = spec.begin()->second;
    if (std::find(dists.begin(), dists.end(), d.dist) == dists.end()) {
      std::string sg = util::suggest(d.dist, dists);
      return error_at(file, spec.begin()->first.Mark(), fmt::format("unknown distribution '{}' for '{}'", d.dist, name),
                      sg.empty() ? fmt::format("distributions: {}", fmt::join(dists, ", ")) : fmt::format("did you mean '{}'?", sg));
    }
    if (d.dist == "choice") {
      if (!args.IsSequence() || args.size() == 0)
        return error_at(file, args.Mark(), fmt::format("choice for '{}' must be a non-empty list", name), hint);
      for (const auto& v : args) {
        if (!v.IsScalar())
          return error_at(file, v.Mark(), fmt::format("choice for '{}' takes single values, got {}", name, type_word(v)), hint);
        d.choices.push_back(spec::scalar_value(v));
      }
      return d;
    }
    if (d.dist == "pvalues") {
      if (!args.IsSequence() || args.size() == 0)
        return error_at(file, args.Mark(), fmt::format("pvalues for '{}' must be a list of [value, probability]", name), hint);
      double sum = 0;
      for (const auto& pair : args) {
        if (!pair.IsSequence() || pair.size() != 2)
          return error_at(file, pair.Mark(), "each pvalues item must be [value, probability]", hint);
        Value prob = spec::scalar_value(pair[1]);
        double pr = prob.kind() == Value::Kind::Int ? static_cast<double>(prob.as_int())
                    : prob.kind() == Value::Kind::Float ? prob.as_float() : -1;
        if (!(pr >= 0 && pr <= 1))
          return error_at(file, pair[1].Mark(), fmt::format("probability '{}' must be a number from 0 to 1", prob.str()), hint);
        if (!pair[0].IsScalar())
          return error_at(file, pair[0].Mark(), fmt::format("pvalues for '{}' take single values, got {}", name, type_word(pair[0])),
                          hint);
        d.choices.push_back(spec::scalar_value(pair[0]));
        sum += pr;
        d.cumulative.push_back(sum);
      }
      if (std::fabs(sum - 1.0) > 1e-9)
        return error_at(file, args.Mark(), fmt::format("the probabilities of '{}' sum to {}, not 1", name, spec::py_float_repr(sum)),
                        "make them add up to 1");
      return d;
    }
    const bool q = d.dist[0] == 'q';
    const bool normalish = d.dist.find("normal") != std::string::npos;
    std::vector<std::string> names = normalish ? std::vector<std::string>{"loc", "scale"} : std::vector<std::string>{"low", "high"};
    if (q) names.push_back("q");
    std::vector<Value> raw;
    if (args.IsSequence()) {
      for (const auto& v : args) raw.push_back(spec::scalar_value(v));
    } else if (args.IsScalar()) {
      for (const auto& part : util::split(args.Scalar(), ':')) {
        try {
          YAML::Node n = YAML::Load(util::trim(part));
          raw.push_back(n.IsScalar() ? spec::scalar_value(n) : Value::string(part));
        } catch (...) {
          raw.push_back(Value::string(part));
        }
      }
    }
    if (raw.size() != names.size())
      return error_at(file, args.Mark(), fmt::format("{} for '{}' takes {}", d.dist, name, fmt::join(names, ", ")), hint);
    for (size_t i = 0; i < raw.size(); ++i) {
      const Value& v = raw[i];
      if (v.kind() == Value::Kind::Int) d.p.push_back(static_cast<double>(v.as_int()));
      else if (v.kind() == Value::Kind::Float && std::isfinite(v.as_float())) d.p.push_back(v.as_float());
      else
        return error_at(file, args.Mark(), fmt::format("{} '{}' for '{}' must be a number, got '{}'", d.dist, names[i], name, v.str()),
                        yaml11_number_hint(v).empty() ? hint : yaml11_number_hint(v));
    }
    if (!normalish && !(d.p[0] < d.p[1]))
      return error_at(file, args.Mark(), fmt::format("{} for '{}': low must be below high", d.dist, name), hint);
    if (normalish && !(d.p[1] > 0))
      return error_at(file, args.Mark(), fmt::format("{} for '{}': scale must be above 0", d.dist, name), hint);
    if (d.dist.find("loguniform") != std::string::npos && !(d.p[0] > 0))
      return error_at(file, args.Mark(), fmt::format("{} for '{}': low must be above 0 (its logarithm is drawn)", d.dist, name), hint);
    if (q && !(d.p[2] > 0)) return error_at(file, args.Mark(), fmt::format("{} for '{}': q must be above 0", d.dist, name), hint);
    return d;
  }

  static Value draw(const Draw& d, Rng& rng) {
    auto quant = [&](double v) { return d.dist[0] == 'q' ? std::nearbyint(v / d.p[2]) * d.p[2] : v; };
    if (d.dist == "choice") {
      size_t k = static_cast<size_t>(rng.uniform() * static_cast<double>(d.choices.size()));
      return d.choices[std::min(k, d.choices.size() - 1)];
    }
    if (d.dist == "pvalues") {
      double u = rng.uniform();
      for (size_t k = 0; k < d.cumulative.size(); ++k)
        if (u < d.cumulative[k]) return d.choices[k];
      return d.choices.back();
    }
    if (d.dist == "uniform" || d.dist == "quniform") return Value::floating(quant(d.p[0] + (d.p[1] - d.p[0]) * rng.uniform()));
    if (d.dist == "loguniform" || d.dist == "qloguniform") {
      double a = std::log(d.p[0]), b = std::log(d.p[1]);
      return Value::floating(quant(std::exp(a + (b - a) * rng.uniform())));
    }
    if (d.dist == "normal" || d.dist == "qnormal") return Value::floating(quant(d.p[0] + d.p[1] * rng.normal()));
    return Value::floating(quant(std::exp(d.p[0] + d.p[1] * rng.normal())));  // (q)lognormal
  }

  // `sample: {n: N, seed: S, name: {distribution: params}, ...}`: N combinations drawn at random.
  Result<std::unique_ptr<Node>> sample(const YAML::Node& val, Loc where) {
    const std::string hint = "e.g. `sample: {n: 20, seed: 1, lr: {loguniform: [1.0e-5, 0.1]}}`";
    if (!val.IsMap()) return error_at(file, val.Mark(), fmt::format("'sample' takes a mapping, got {}", type_word(val)), hint);
    uint64_t n = 0;
    std::optional<uint64_t> seed;
    std::vector<Draw> draws;
    for (const auto& kv : val) {
      const std::string k = kv.first.Scalar();
      if (k == "n" || k == "seed") {
        Value v = kv.second.IsScalar() ? spec::scalar_value(kv.second) : Value();
        if (v.kind() != Value::Kind::Int || v.as_int() < (k == "n" ? 1 : 0) || (k == "n" && v.as_int() > 10000000))
          return error_at(file, kv.second.Mark(), fmt::format("sample '{}' must be a whole number{}, got '{}'", k,
                                                              k == "n" ? " from 1" : " from 0", v.str()),
                          hint);
        if (k == "n") n = static_cast<uint64_t>(v.as_int());
        else seed = static_cast<uint64_t>(v.as_int());
        continue;
      }
      auto d = distribution(k, loc_of(kv.first), kv.second);
      if (!d) return d.error();
      draws.push_back(std::move(d.value()));
    }
    if (n == 0) return error_at(file, val.Mark(), "sample has no 'n' (how many draws)", hint);
    if (draws.empty()) return error_at(file, val.Mark(), "sample draws no variable", hint);
    if (!seed) {  // drawn now, and said, so that the run can be repeated
      std::random_device rd;
      seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
      drawn_seeds.emplace_back(where, *seed);
      warnings.push_back({where, fmt::format("sample has no seed: drew seed {} (write `seed: {}` to draw the same "
                                             "tasks again; the tasks keep their values in the run store)",
                                             *seed, *seed)});
    }
    Rng rng{*seed};
    std::vector<std::vector<Value>> columns(draws.size());
    for (uint64_t i = 0; i < n; ++i)
      for (size_t v = 0; v < draws.size(); ++v) columns[v].push_back(draw(draws[v], rng));
    auto z = std::make_unique<Zip>();
    for (size_t v = 0; v < draws.size(); ++v) {
      if (const auto* ov = override_for(draws[v].name)) {  // --set replaces a sampled variable
        overridden_seen.insert(draws[v].name);
        std::vector<Value> col;
        for (uint64_t i = 0; i < n; ++i) col.push_back((*ov)[i % ov->size()]);
        z->kids.push_back(std::make_unique<Leaf>(slot(draws[v].name, draws[v].loc), std::move(col)));
        continue;
      }
      int sl = slot(draws[v].name, draws[v].loc);
      vars[static_cast<size_t>(sl)].source = fmt::format("sample {} n={} seed={}", draws[v].dist, n, *seed);
      z->kids.push_back(std::make_unique<Leaf>(sl, std::move(columns[v])));
    }
    z->finish();
    return std::unique_ptr<Node>(std::move(z));
  }

  static bool is_generator(const std::string& k) {
    return k == "values" || k == "range" || k == "linspace" || k == "logspace" || k == "geomspace";
  }

  // A generator's parameters: a mapping of `names`, or Polyaxon's compact string "a:b:c[:d]"
  // (the names in that order). `required` of them must be there; numbers only.
  Result<std::map<std::string, double>> generator_params(const std::string& gen, const YAML::Node& n,
                                                          const std::vector<std::string>& names, size_t required,
                                                          std::map<std::string, bool>* integral = nullptr,
                                                          std::map<std::string, int64_t>* ints = nullptr) {
    std::map<std::string, double> out;
    auto example = fmt::format("e.g. `{0}: {{{1}}}` or `{0}: {2}`", gen,
                               fmt::join(std::vector<std::string>(names.begin(), names.begin() + required), ": .., "),
                               gen == "range" ? "0:10:2" : gen == "linspace" ? "0.01:0.1:5" : "1:1000:4");
    // `v`: the parameter's node; or, from the compact form (`compact`), its text read as YAML.
    auto take = [&](const std::string& key, const YAML::Node& v, const std::string& text, bool compact) -> Result<void> {
      Value val = spec::Value::string(text);
      if (!compact) {
        val = spec::scalar_value(v);
      } else {
        try {
          YAML::Node part = YAML::Load(text);
          if (part.IsScalar()) val = spec::scalar_value(part);
        } catch (...) {
          // not YAML: stays text, refused below
        }
      }
      if (val.kind() == Value::Kind::Int) {
        out[key] = static_cast<double>(val.as_int());
        if (integral) (*integral)[key] = true;
        if (ints) (*ints)[key] = val.as_int();
      } else if (val.kind() == Value::Kind::Float && std::isfinite(val.as_float())) {
        out[key] = val.as_float();
        if (integral) (*integral)[key] = false;
      } else {
        return error_at(file, compact ? n.Mark() : v.Mark(), fmt::format("{} '{}' must be a number, got '{}'", gen, key, val.str()),
                        yaml11_number_hint(val).empty() ? example : yaml11_number_hint(val));
      }
      return {};
    };
    if (n.IsScalar()) {
      auto parts = util::split(n.Scalar(), ':');
      if (parts.size() < required || parts.size() > names.size())
        return error_at(file, n.Mark(), fmt::format("{} '{}' is not {}", gen, n.Scalar(), fmt::join(names, ":")), example);
      for (size_t i = 0; i < parts.size(); ++i) XRUN_TRY(take(names[i], n, util::trim(parts[i]), true));
    } else if (n.IsMap()) {
      for (const auto& kv : n) {
        const std::string k = kv.first.Scalar();
        if (std::find(names.begin(), names.end(), k) == names.end()) {
          std::string sg = util::suggest(k, names);
          return error_at(file, kv.first.Mark(), fmt::format("unknown key '{}' in {}", k, gen),
                          sg.empty() ? fmt::format("{} takes {}", gen, fmt::join(names, ", ")) : fmt::format("did you mean '{}'?", sg));
        }
        if (!kv.second.IsScalar())
          return error_at(file, kv.second.Mark(), fmt::format("{} '{}' must be a number, got {}", gen, k, type_word(kv.second)), example);
        XRUN_TRY(take(k, kv.second, "", false));
      }
      for (size_t i = 0; i < required; ++i)
        if (!out.count(names[i]))
          return error_at(file, n.Mark(), fmt::format("{} has no '{}'", gen, names[i]), example);
    } else {
      return error_at(file, n.Mark(), fmt::format("{} must be a mapping or a compact string, got {}", gen, type_word(n)), example);
    }
    return out;
  }

  // numpy.linspace(start, stop, num) (endpoint included), as numpy computes it.
  static std::vector<double> np_linspace(double start, double stop, int64_t num) {
    std::vector<double> y(static_cast<size_t>(num));
    const double div = static_cast<double>(num - 1), delta = stop - start;
    const double step = num > 1 ? delta / div : 0;
    for (int64_t i = 0; i < num; ++i) {
      double v = static_cast<double>(i);
      if (num > 1 && step == 0) v = v / div * delta;  // numpy: any_step_zero
      else if (num > 1) v = v * step;
      else v = v * delta;
      y[static_cast<size_t>(i)] = v + start;
    }
    if (num > 1) y.back() = stop;
    return y;
  }

  // Value generators (Polyaxon's names, numpy's semantics): values, range, linspace, logspace,
  // geomspace; each also in the compact string form.
  Result<std::unique_ptr<Node>> generator(const std::string& name, Loc kl, const std::string& gen, const YAML::Node& n) {
    if (gen == "values") {
      if (!n.IsSequence())
        return error_at(file, n.Mark(), fmt::format("values must be a list, got {}", type_word(n)), "e.g. `values: [1, 2, 3]`");
      return variable(name, kl, n);
    }
    if (gen == "range") {  // numpy.arange's semantics: the arange generator with Polyaxon's name
      std::map<std::string, bool> integral;
      std::map<std::string, int64_t> ints;
      auto p = generator_params(gen, n, {"start", "stop", "step"}, 3, &integral, &ints);
      if (!p) return p.error();
      if ((*p)["step"] == 0) return error_at(file, n.Mark(), fmt::format("range step for '{}' is 0", name), "use a non-zero step");
      // Handed to the arange core as YAML 1.1 numbers: whole numbers exactly, floats with 17
      // significant digits (exact) and always a dot and a signed exponent.
      std::vector<std::string> parts;
      for (const char* k : {"start", "stop", "step"}) {
        std::string t;
        if (integral[k]) {
          t = fmt::format("{}", ints[k]);
        } else {
          t = fmt::format("{:.17g}", (*p)[k]);
          auto e = t.find('e');
          if (t.find_first_of(".ni") == std::string::npos) t.insert(e == std::string::npos ? t.size() : e, ".0");
        }
        parts.push_back(fmt::format("{}: {}", k, t));
      }
      YAML::Node m = YAML::Load(fmt::format("{{{}}}", fmt::join(parts, ", ")));
      auto r = arange(name, m, kl);
      if (r) vars[static_cast<size_t>(slot(name, kl))].source = "range";
      if (!r) {  // located at the generator, not at the node built for it
        Error e = r.error();
        e.line = n.Mark().line + 1;
        e.col = n.Mark().column + 1;
        e.file = file;
        return e;
      }
      return r;
    }
    const bool lin = gen == "linspace", log = gen == "logspace";
    std::map<std::string, bool> integral;
    auto p = log ? generator_params(gen, n, {"start", "stop", "num", "base"}, 3, &integral)
                 : generator_params(gen, n, {"start", "stop", "num"}, 3, &integral);
    if (!p) return p.error();
    double start = (*p)["start"], stop = (*p)["stop"], numf = (*p)["num"];
    if (!integral["num"] || numf < 1 || numf > 10000000)
      return error_at(file, n.Mark(), fmt::format("{} num for '{}' must be a whole number from 1, got {}", gen, name,
                                                  spec::py_float_repr(numf)),
                      "num is how many values, endpoints included");
    const int64_t num = static_cast<int64_t>(numf);
    std::vector<double> ys;
    if (lin) {
      ys = np_linspace(start, stop, num);
    } else if (log) {
      double base = p->count("base") ? (*p)["base"] : 10.0;
      if (!(base > 0)) return error_at(file, n.Mark(), fmt::format("logspace base for '{}' must be positive", name));
      for (double y : np_linspace(start, stop, num)) ys.push_back(std::pow(base, y));
    } else {  // geomspace
      if (start == 0 || stop == 0)
        return error_at(file, n.Mark(), fmt::format("geomspace for '{}' cannot include zero", name),
                        "start and stop are the first and last values, both non-zero and of one sign");
      if ((start < 0) != (stop < 0))
        return error_at(file, n.Mark(), fmt::format("geomspace for '{}' goes from {} to {}: the signs differ", name,
                                                    spec::py_float_repr(start), spec::py_float_repr(stop)),
                        "start and stop must be of one sign");
      double sign = start < 0 ? -1.0 : 1.0;
      double a = start * sign, b = stop * sign;
      for (double y : np_linspace(std::log10(a), std::log10(b), num)) ys.push_back(std::pow(10.0, y));
      ys.front() = a;
      if (num > 1) ys.back() = b;
      for (double& y : ys) y *= sign;
    }
    std::vector<Value> vals;
    vals.reserve(ys.size());
    for (double y : ys) {
      if (!std::isfinite(y))
        return error_at(file, n.Mark(), fmt::format("{} for '{}' gives a value that is not finite", gen, name));
      vals.push_back(Value::floating(y));
    }
    if (const auto* ov = override_for(name)) {
      overridden_seen.insert(name);
      return std::unique_ptr<Node>(std::make_unique<Leaf>(slot(name, kl), *ov));
    }
    int sl = slot(name, kl);
    vars[static_cast<size_t>(sl)].source = gen;
    return std::unique_ptr<Node>(std::make_unique<Leaf>(sl, std::move(vals)));
  }

  Result<std::unique_ptr<Node>> mapping_value(const std::string& name, Loc kl, const YAML::Node& map) {
    if (map.size() == 1 && map.begin()->first.Scalar() == "arange") return arange(name, map.begin()->second, kl);
    if (map.size() == 1 && is_generator(map.begin()->first.Scalar()))
      return generator(name, kl, map.begin()->first.Scalar(), map.begin()->second);
    bool has_arange = false;
    std::vector<std::string> plain;
    for (const auto& kv : map) {
      const std::string key = kv.first.Scalar();
      if (key == "arange") has_arange = true;
      else if (!is_keyword(key)) plain.push_back("'" + key + "'");
    }
    if (map.size() == 0)
      return error_at(file, map.Mark(), fmt::format("variable '{}' is an empty mapping", name),
                      "give a value, a list of values or `arange:`");
    if (!has_arange || !plain.empty()) {
      std::string sg;
      for (const auto& kv : map)
        if (sg.empty() && kv.first.Scalar() != "arange") {
          std::string s = util::suggest(kv.first.Scalar(), {"arange"});
          if (!s.empty()) sg = fmt::format(" (did you mean 'arange'?)");
        }
      warnings.push_back({loc_of(map),
                          fmt::format("variable '{}' holds a mapping{}: {}, as experi does{}", name,
                                      has_arange ? "" : " without `arange`",
                                      plain.empty() ? "its keys are expanded in its place"
                                                    : fmt::format("{} become{} variable{} of {} own", fmt::join(plain, ", "),
                                                                  plain.size() == 1 ? "s a" : "", plain.size() == 1 ? "" : "s",
                                                                  plain.size() == 1 ? "its" : "their"),
                                      sg)});
    }
    return group(map, Parent{name, kl});
  }

  Result<std::unique_ptr<Node>> zip(const YAML::Node& map, const Parent& parent, Loc where) {
    auto kids = entries(map, parent);
    if (!kids) return kids.error();
    auto z = std::make_unique<Zip>();
    z->kids = std::move(kids->nodes);
    z->finish();
    zip_warning(*z, where);
    return std::unique_ptr<Node>(std::move(z));
  }

  void zip_warning(const Zip& z, Loc loc) {
    std::vector<uint64_t> lens;
    for (const auto& k : z.kids) lens.push_back(k->count);
    if (std::adjacent_find(lens.begin(), lens.end(), std::not_equal_to<>()) != lens.end())
      warnings.push_back({loc, fmt::format("zip inputs differ in length ({}); it stops at the shortest ({})",
                                           fmt::join(lens, ", "), z.count)});
  }

  Result<std::unique_ptr<Node>> group(const YAML::Node& map, const Parent& parent = {}) {
    auto kids = entries(map, parent);
    if (!kids) return kids.error();
    auto p = std::make_unique<Product>();
    p->kids = std::move(kids->nodes);
    p->finish();
    return std::unique_ptr<Node>(std::move(p));
  }

  Result<std::unique_ptr<Node>> chain(const YAML::Node& seq, const Parent& parent = {}) {
    auto c = std::make_unique<Chain>();
    for (const auto& m : seq) {
      if (!m.IsMap())
        return error_at(file, m.Mark(), fmt::format("each item of a chain must be a mapping of variables, got {}", type_word(m)),
                        "write `- name: value` groups");
      auto r = group(m, parent);
      if (!r) return r.error();
      c->kids.push_back(std::move(r.value()));
    }
    c->finish();
    return std::unique_ptr<Node>(std::move(c));
  }
};

Sweep::Sweep() = default;
Sweep::~Sweep() = default;
Sweep::Sweep(Sweep&&) noexcept = default;
Sweep& Sweep::operator=(Sweep&&) noexcept = default;

Result<Sweep> Sweep::compile(const YAML::Node& variables, const std::string& file, const Overrides& overrides) {
  Builder b{file, overrides};
  std::unique_ptr<Node> root;
  if (!variables || variables.IsNull()) {
    auto p = std::make_unique<Product>();
    p->finish();
    root = std::move(p);
  } else if (variables.IsMap()) {
    auto r = b.group(variables);
    if (!r) return r.error();
    root = std::move(r.value());
  } else if (variables.IsSequence()) {
    if (variables.size() == 0)
      return error_at(file, variables.Mark(), "'variables' is an empty list", "remove it or add `name: [values]`");
    auto r = b.chain(variables);
    if (!r) return r.error();
    root = std::move(r.value());
  } else {
    return error_at(file, variables.Mark(), fmt::format("'variables' must be a mapping or a list of mappings, got {}", type_word(variables)),
                    "write `variables:` then indented `name: [values]` lines");
  }
  // Overrides of variables the file does not define become extra product factors.
  std::vector<std::unique_ptr<Node>> extra;
  std::vector<std::string> defined;
  for (const auto& v : b.vars) defined.push_back(v.name);
  for (const auto& [name, vals] : overrides) {
    if (b.overridden_seen.count(name)) continue;
    b.overridden_seen.insert(name);
    std::string sg = util::suggest(name, defined);
    b.warnings.push_back({Loc{}, fmt::format("--set {}: the file defines no variable '{}'; it is added as a new one{}",
                                             name, name, sg.empty() ? "" : fmt::format(" (did you mean '{}'?)", sg))});
    const auto* ov = b.override_for(name);
    extra.push_back(std::make_unique<Leaf>(b.slot(name, {}), *ov));
  }
  if (!extra.empty()) {
    auto p = std::make_unique<Product>();
    p->kids.push_back(std::move(root));
    for (auto& e : extra) p->kids.push_back(std::move(e));
    p->finish();
    root = std::move(p);
  }

  Sweep s;
  s.stable_ = b.stable;
  s.vars_ = std::move(b.vars);
  s.warnings_ = std::move(b.warnings);
  s.drawn_seeds_ = std::move(b.drawn_seeds);
  s.always_.assign(s.vars_.size(), false);
  for (int k : root->always) s.always_[static_cast<size_t>(k)] = true;
  // Value samples per variable, for static checks and the summary.
  std::vector<std::unordered_set<std::string>> distinct(s.vars_.size());
  std::vector<const Node*> stack{root.get()};
  std::function<void(const Node*)> visit = [&](const Node* n) {
    if (auto* l = dynamic_cast<const Leaf*>(n)) {
      auto& vi = s.vars_[static_cast<size_t>(l->slot)];
      for (const auto& v : l->values)
        if (distinct[static_cast<size_t>(l->slot)].insert(v.str()).second) vi.samples.push_back(v);
      vi.distinct = distinct[static_cast<size_t>(l->slot)].size();
    } else if (auto* a = dynamic_cast<const Arange*>(n)) {
      auto& vi = s.vars_[static_cast<size_t>(a->slot)];
      vi.samples.push_back(a->at(0));
      if (a->count > 1) vi.samples.push_back(a->at(a->count - 1));
      vi.distinct = sat_add(vi.distinct, a->count);
    } else if (auto* p = dynamic_cast<const Product*>(n)) {
      for (auto& k : p->kids) visit(k.get());
    } else if (auto* z = dynamic_cast<const Zip*>(n)) {
      for (auto& k : z->kids) visit(k.get());
    } else if (auto* c = dynamic_cast<const Chain*>(n)) {
      for (auto& k : c->kids) visit(k.get());
    } else if (auto* y = dynamic_cast<const Cycle*>(n)) {
      visit(y->kid.get());
    }
  };
  visit(root.get());
  s.root_ = std::move(root);
  s.current_.assign(s.vars_.size(), nullptr);
  return s;
}

int Sweep::slot_of(const std::string& name) const {
  for (size_t i = 0; i < vars_.size(); ++i)
    if (vars_[i].name == name) return static_cast<int>(i);
  return -1;
}

uint64_t Sweep::combinations() const { return root_ ? root_->count : 0; }
bool Sweep::always_set(int slot) const { return slot >= 0 && always_[static_cast<size_t>(slot)]; }

void Sweep::reset() {
  std::fill(current_.begin(), current_.end(), nullptr);
  if (root_) root_->reset();
}

bool Sweep::next() { return root_ && root_->next(current_); }

Result<std::pair<std::string, std::vector<Value>>> parse_override(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    return make_error(fmt::format("--set expects NAME=VALUE, got '{}'", text),
                      "e.g. --set lr=0.1 or --set seed=[1,2,3]");
  std::string name = text.substr(0, eq), value = text.substr(eq + 1);
  if (size_t bad = util::invalid_utf8_at(text); bad != std::string::npos)
    return make_error(fmt::format("--set {}: byte 0x{:02x} at position {} is not valid UTF-8", util::slug(name),
                                  static_cast<unsigned char>(text[bad]), bad + 1),
                      "give the value as UTF-8 text");
  if (!util::is_identifier(name) && name.find_first_of(" \t{}[]:") != std::string::npos)
    return make_error(fmt::format("--set: '{}' is not a variable name", name), "e.g. --set lr=0.1");
  std::vector<Value> values;
  try {
    YAML::Node n = YAML::Load(value);
    if (n.IsSequence()) {
      // As in the file: nested lists are flattened.
      std::function<Result<void>(const YAML::Node&)> add = [&](const YAML::Node& seq) -> Result<void> {
        for (const auto& c : seq) {
          if (c.IsSequence()) {
            XRUN_TRY(add(c));
          } else if (!c.IsScalar() && !c.IsNull()) {
            return make_error(fmt::format("--set {}: list items must be values or lists, not mappings", name),
                              "e.g. --set seed=[1,2,3]");
          } else {
            values.push_back(spec::scalar_value(c));
          }
        }
        return {};
      };
      XRUN_TRY(add(n));
    } else if (n.IsScalar() || n.IsNull()) {
      values.push_back(value.empty() ? Value::string("") : spec::scalar_value(n));
    } else {
      return make_error(fmt::format("--set {}: the value must be a scalar or a [list]", name));
    }
  } catch (const YAML::Exception& e) {
    return make_error(fmt::format("--set {}: the value '{}' is not valid YAML: {}", name, value, e.msg),
                      "write a scalar (--set lr=0.1), a flow list (--set seed=[1,2,3]) or quote the text "
                      "(--set 'msg=\"a: b\"')");
  }
  if (values.empty())
    return make_error(fmt::format("--set {}: the list of values is empty", name), "give at least one value");
  return std::make_pair(name, std::move(values));
}

}  // namespace xrun::vars
