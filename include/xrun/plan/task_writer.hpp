// `xrun plan --json`'s task objects, streamed: byte for byte what nlohmann's compact dump of
// TaskRef::to_json() gives ({"index":0,"commands":[...],"variables":{...},"creates":null,
// "requires":null}), without a JSON tree per task. The fixed keys are dumped once; each value is
// dumped on its own by nlohmann's serializer, or taken from a memo by address when the sweep's
// values keep their addresses; strings with nothing to escape are copied as they are. The
// output goes to the stream in blocks of about 1 MiB.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "xrun/plan/expander.hpp"
#include "xrun/util/pointer_memo.hpp"

namespace xrun::plan {

class TaskWriter {
 public:
  // `stable_values`: every Value a task points to keeps its address and content for the
  // writer's life (vars::Sweep::stable_values()), so its JSON text may be remembered.
  TaskWriter(std::ostream& os, bool stable_values);
  // One task, after a ", " unless it is the first.
  void add(const TaskRef& task);
  // Hand what is buffered to the stream.
  void flush();

 private:
  void append(std::string_view s);
  void string(std::string_view s);
  void value(const Value& v);
  void dump(const json& j);
  std::ostream& os_;
  bool stable_;
  bool first_ = true;
  fmt::memory_buffer buf_;
  nlohmann::detail::serializer<json> ser_;  // writes into buf_
  json scratch_ = "";               // a string value reused for escaping
  util::PointerMemo values_{12};    // Value* -> its JSON text
  util::PointerMemo keys_{8};       // variable name* -> `"name":`
  std::string index_, commands_, variables_, creates_, requires_;  // `{"index":`, `,"commands":[`, ...
};

// A TaskWriter on a thread of its own, for tasks whose values keep their addresses
// (vars::Sweep::stable_values()): add() copies a task's strings into a batch whose buffers are
// reused, full batches go to the writing thread, so one core expands while the other writes.
class ThreadedTaskWriter {
 public:
  explicit ThreadedTaskWriter(std::ostream& os);
  ~ThreadedTaskWriter();
  void add(const TaskRef& task);
  // Wait until every task is written and flushed; rethrows what the writer threw.
  void finish();

 private:
  struct Batch;
  void write_batches();
  std::unique_ptr<Batch> take_free();
  TaskWriter writer_;
  std::unique_ptr<Batch> current_;
  std::mutex m_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<Batch>> full_, free_;
  bool done_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace xrun::plan
