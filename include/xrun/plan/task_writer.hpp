// `xrun plan --json`'s task objects, streamed: byte for byte what nlohmann's compact dump of
// TaskRef::to_json() gives ({"index":0,"commands":[...],"variables":{...},"creates":null,
// "requires":null}, then "workdir" when the task has one, then "key" when given a KeyContext), without a JSON tree per task. The fixed keys are dumped once; each value is
// written by util::JsonWriter, or taken from a memo by address when the sweep's values keep
// their addresses.
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

#include <nlohmann/json.hpp>

#include "xrun/plan/expander.hpp"
#include "xrun/plan/task_key.hpp"
#include "xrun/util/json_writer.hpp"
#include "xrun/util/pointer_memo.hpp"

namespace xrun::plan {

// A variable's value as nlohmann's compact dump of Value::to_json() writes it.
void write_value(util::JsonWriter& w, const Value& v);

class TaskWriter {
 public:
  // `stable_values`: every Value a task points to keeps its address and content for the
  // writer's life (vars::Sweep::stable_values()), so its JSON text may be remembered.
  // `keys`: each task's content key is written last ("key"), made by this stage's context.
  TaskWriter(std::ostream& os, bool stable_values, KeyContext* keys = nullptr);
  // One task, after a ", " unless it is the first.
  void add(const TaskRef& task);
  // Hand what is buffered to the stream.
  void flush();

 private:
  void value(const Value& v);
  util::JsonWriter w_;
  bool stable_;
  bool first_ = true;
  util::PointerMemo values_{12};    // Value* -> its JSON text
  util::PointerMemo keys_{8};       // variable name* -> `"name":`
  std::string index_, commands_, variables_, creates_, requires_, workdir_;  // `{"index":`, `,"commands":[`, ...
  KeyContext* key_ctx_;
  std::vector<std::pair<size_t, size_t>> value_at_;  // where each variable's value is in the buffer
  std::vector<std::pair<std::string_view, std::string_view>> key_vars_;
  std::vector<const std::string*> key_names_;  // the last keyed task's names
  bool keyed_ = false;                         // key_names_ holds them
};

// A TaskWriter on a thread of its own, for tasks whose values keep their addresses
// (vars::Sweep::stable_values()): add() copies a task's strings into a batch whose buffers are
// reused, full batches go to the writing thread, so one core expands while the other writes.
class ThreadedTaskWriter {
 public:
  explicit ThreadedTaskWriter(std::ostream& os, KeyContext* keys = nullptr);
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
