#include "xrun/plan/task_writer.hpp"

#include <cstdint>

namespace xrun::plan {

void write_value(util::JsonWriter& w, const Value& v) {
  if (v.kind() == Value::Kind::String) return w.string(v.text());
  w.value(v.to_json());
}

TaskWriter::TaskWriter(std::ostream& os, bool stable_values, KeyContext* keys)
    : w_(os), stable_(stable_values), key_ctx_(keys) {
  auto key = [](const char* k) { return json(k).dump() + ":"; };
  index_ = "{" + key("index");
  commands_ = "," + key("commands") + "[";
  variables_ = "]," + key("variables") + "{";
  creates_ = "}," + key("creates");
  requires_ = "," + key("requires");
  workdir_ = "," + key("workdir");
}

void TaskWriter::value(const Value& v) {
  if (!stable_ || v.kind() == Value::Kind::String) return write_value(w_, v);
  if (const std::string* hit = values_.find(&v)) return w_.raw(*hit);
  size_t at = w_.buffered().size();
  w_.value(v.to_json());
  values_.put(&v, nullptr, w_.buffered().substr(at));
}

void TaskWriter::add(const TaskRef& t) {
  if (!first_) w_.raw(", ");
  first_ = false;
  w_.raw(index_);
  w_.unsigned_integer(t.index);
  w_.raw(commands_);
  for (size_t i = 0; i < t.commands.size(); ++i) {
    if (i) w_.raw(',');
    w_.string(t.commands[i]);
  }
  w_.raw(variables_);
  bool first_var = true;
  value_at_.clear();
  for (const auto& [name, v] : t.variables) {
    if (!first_var) w_.raw(',');
    first_var = false;
    const std::string* key = keys_.find(name);
    w_.raw(key ? *key : keys_.put(name, nullptr, json(*name).dump() + ":"));
    size_t at = w_.buffered().size();
    value(*v);
    value_at_.emplace_back(at, w_.buffered().size());
  }
  w_.raw(creates_);
  if (t.creates) w_.string(*t.creates);
  else w_.raw("null");
  w_.raw(requires_);
  if (t.requires_) w_.string(*t.requires_);
  else w_.raw("null");
  if (t.workdir) {
    w_.raw(workdir_);
    w_.string(*t.workdir);
  }
  if (key_ctx_) {  // from the values' text as just written (the buffer is not flushed within a task)
    const std::string& buf = w_.buffered();
    // The names are the sweep's strings, which keep their addresses: the same addresses in the
    // same order are the same names.
    bool same_names = keyed_ && key_names_.size() == t.variables.size();
    for (size_t i = 0; same_names && i < t.variables.size(); ++i) same_names = key_names_[i] == t.variables[i].first;
    if (!same_names) {
      key_names_.clear();
      for (const auto& kv : t.variables) key_names_.push_back(kv.first);
    }
    char text[] = ",\"key\":\"................................\"}";  // the key's 32 digits go at the dots
    if (same_names) {
      key_ctx_->key_same_names(t.commands, buf.data(), value_at_, text + 8);
    } else {
      key_vars_.clear();
      for (size_t i = 0; i < t.variables.size(); ++i)
        key_vars_.emplace_back(*t.variables[i].first, std::string_view(buf.data() + value_at_[i].first,
                                                                        value_at_[i].second - value_at_[i].first));
      key_ctx_->key(t.commands, key_vars_, text + 8);
      keyed_ = true;
    }
    w_.raw(std::string_view(text, sizeof text - 1));
  } else {
    w_.raw('}');
  }
  w_.maybe_flush();
}

void TaskWriter::flush() { w_.flush(); }

// Tasks copied flat: their strings back to back, and per task where its pieces are.
struct ThreadedTaskWriter::Batch {
  struct Item {
    size_t index;
    size_t commands;  // how many strings of `ends` are commands
    bool creates, requires_, workdir;
    size_t variables;
  };
  static constexpr size_t kTasks = 4096;
  std::vector<Item> items;
  std::string bytes;
  std::vector<size_t> ends;  // where each string ends in `bytes`
  std::vector<std::pair<const std::string*, const Value*>> variables;
  void clear() {
    items.clear();
    bytes.clear();
    ends.clear();
    variables.clear();
  }
  void push(const std::string& s) {
    bytes += s;
    ends.push_back(bytes.size());
  }
};

ThreadedTaskWriter::ThreadedTaskWriter(std::ostream& os, KeyContext* keys) : writer_(os, true, keys) {
  for (int i = 0; i < 4; ++i) free_.push_back(std::make_unique<Batch>());
  current_ = take_free();
  thread_ = std::thread([this] { write_batches(); });
}

ThreadedTaskWriter::~ThreadedTaskWriter() {
  try {
    finish();
  } catch (...) {  // finish() was not called: the caller has left with an error of its own
  }
}

std::unique_ptr<ThreadedTaskWriter::Batch> ThreadedTaskWriter::take_free() {
  std::unique_lock<std::mutex> l(m_);
  changed_.wait(l, [&] { return !free_.empty(); });
  auto b = std::move(free_.front());
  free_.pop_front();
  return b;
}

void ThreadedTaskWriter::add(const TaskRef& t) {
  Batch& b = *current_;
  for (const auto& c : t.commands) b.push(c);
  if (t.creates) b.push(*t.creates);
  if (t.requires_) b.push(*t.requires_);
  if (t.workdir) b.push(*t.workdir);
  b.variables.insert(b.variables.end(), t.variables.begin(), t.variables.end());
  b.items.push_back({t.index, t.commands.size(), t.creates != nullptr, t.requires_ != nullptr, t.workdir != nullptr,
                     t.variables.size()});
  if (b.items.size() < Batch::kTasks) return;
  {
    std::lock_guard<std::mutex> l(m_);
    full_.push_back(std::move(current_));
  }
  changed_.notify_all();
  current_ = take_free();
}

void ThreadedTaskWriter::write_batches() {
  std::vector<std::string> commands;
  std::string creates, requires_, workdir;
  std::vector<std::pair<const std::string*, const Value*>> variables;
  for (;;) {
    std::unique_ptr<Batch> b;
    {
      std::unique_lock<std::mutex> l(m_);
      changed_.wait(l, [&] { return !full_.empty() || done_; });
      if (full_.empty()) return;
      b = std::move(full_.front());
      full_.pop_front();
    }
    if (!error_) {  // after an error, batches are only handed back
      try {
        size_t str = 0, var = 0;
        auto next = [&](std::string& out) {
          size_t begin = str ? b->ends[str - 1] : 0;
          out.assign(b->bytes, begin, b->ends[str++] - begin);
        };
        for (const auto& it : b->items) {
          commands.resize(it.commands);
          for (auto& c : commands) next(c);
          if (it.creates) next(creates);
          if (it.requires_) next(requires_);
          if (it.workdir) next(workdir);
          variables.assign(b->variables.begin() + static_cast<long>(var),
                           b->variables.begin() + static_cast<long>(var + it.variables));
          var += it.variables;
          writer_.add(TaskRef{it.index, commands, it.creates ? &creates : nullptr, it.requires_ ? &requires_ : nullptr,
                              variables, it.workdir ? &workdir : nullptr});
        }
      } catch (...) {
        error_ = std::current_exception();
      }
    }
    b->clear();
    {
      std::lock_guard<std::mutex> l(m_);
      free_.push_back(std::move(b));
    }
    changed_.notify_all();
  }
}

void ThreadedTaskWriter::finish() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(m_);
    if (!current_->items.empty()) full_.push_back(std::move(current_));
    done_ = true;
  }
  changed_.notify_all();
  thread_.join();
  if (error_) std::rethrow_exception(error_);
  writer_.flush();
}

}  // namespace xrun::plan
