#include <catch2/catch.hpp>

#include <sstream>

#include "xrun/run/report.hpp"
#include "xrun/run/task_key.hpp"
#include "xrun/util/fs.hpp"

using namespace xrun;
using store::State;
using json = nlohmann::ordered_json;

namespace {

plan::Task task(size_t id, size_t index, std::vector<std::string> commands,
                std::vector<std::pair<std::string, plan::Value>> vars) {
  plan::Task t;
  t.id = id;
  t.index = index;
  t.commands = std::move(commands);
  t.variables = std::move(vars);
  return t;
}

// The task objects as nlohmann's generic serializer writes them (what status --json wrote
// before its task objects were written directly).
std::string reference_tasks(const store::Experiment& exp, const plan::Plan& p,
                            const std::vector<store::TaskStatus>& tasks, const std::set<State>& only) {
  auto opt = [](bool has, const auto& v) { return has ? json(v) : json(nullptr); };
  std::string out;
  for (const auto& st : tasks) {
    if (!only.empty() && !only.count(st.state)) continue;
    const auto& t = p.stages[st.stage].tasks[st.index];
    json vars = json::object();
    for (const auto& [name, v] : t.variables) vars[name] = v.to_json();
    double dur = st.start > 0 && st.end > 0 ? st.end - st.start : -1;
    json j{{"id", st.id},
           {"stage", p.stages[st.stage].name},
           {"index", st.index},
           {"state", store::to_string(st.state)},
           {"reason", opt(!st.reason.empty(), st.reason)},
           {"exit_code", opt(st.exit_code.has_value(), st.exit_code.value_or(0))},
           {"signal", opt(st.signal.has_value(), st.signal.value_or(0))},
           {"attempt", st.attempt},
           {"host", opt(!st.host.empty(), st.host)},
           {"pid", opt(st.pid > 0, st.pid)},
           {"start", opt(st.start > 0, st.start)},
           {"end", opt(st.end > 0, st.end)},
           {"duration", opt(dur >= 0, dur)},
           {"scheduler", opt(!st.backend_state.empty(), st.backend_state)},
           {"variables", vars},
           {"commands", t.commands},
           {"key", run::task_key(json::object(), p, st.stage, t)},
           {"stdout", exp.task_dir(st.id) + "/stdout"},
           {"stderr", exp.task_dir(st.id) + "/stderr"},
           {"metrics", run::last_metrics(-1, st.id)}};
    if (st.id == 3) j["metrics"] = json{{"acc", 0.5}, {"s", "x\"y\u00e9"}};
    if (!out.empty()) out += ", ";
    out += j.dump();
  }
  return out;
}

}  // namespace

TEST_CASE("status --json writes each task as nlohmann's serializer would, escapes included", "[run][report]") {
  util::TempDir tmp;
  // A store path that needs escaping: quote, backslash, a tab, non-ASCII.
  for (std::string dir : {tmp.path() + "/plain", tmp.path() + "/st\"o\\re \t caf\xc3\xa9"}) {
    CAPTURE(dir);
    REQUIRE(util::make_dirs(dir + "/tasks/3").ok());
    REQUIRE(util::atomic_write(dir + "/tasks/3/metrics.jsonl", "{\"acc\": 0.1}\n{\"acc\": 0.5, \"s\": \"x\\\"y\\u00e9\"}\n").ok());
    store::Experiment exp("e-1", dir);
    plan::Plan p;
    p.name = "p";
    p.stages.resize(2);
    p.stages[0].name = "pre\"p";
    p.stages[1].name = "sweep \xe2\x82\xac";
    using V = plan::Value;
    p.stages[0].tasks.push_back(task(0, 0, {"echo \"hi\" \\ \x01\x1f\x7f", ""}, {}));
    p.stages[1].tasks.push_back(task(1, 0, {"true # caf\xc3\xa9"}, {{"x", V::integer(-3)}, {"s", V::string("a\"b\n")}}));
    p.stages[1].tasks.push_back(task(2, 1, {"printf '%s\\n' \"$x\""}, {{"x", V::floating(0.1)}, {"s", V::null()}}));
    // A task whose variables differ from its stage's others (other names, other order).
    p.stages[1].tasks.push_back(task(3, 2, {}, {{"s", V::list({V::integer(1), V::string("\t")})}, {"y", V::boolean(true)}}));
    p.stages[1].tasks.push_back(task(4, 3, {"x"}, {{"x", V::integer(4)}, {"s", V::string("")}}));
    std::vector<store::TaskStatus> tasks(5);
    for (size_t i = 0; i < 5; ++i) {
      tasks[i].id = i;
      tasks[i].stage = i == 0 ? 0 : 1;
      tasks[i].index = i == 0 ? 0 : i - 1;
    }
    tasks[0].state = State::Succeeded;
    tasks[0].exit_code = 0;
    tasks[0].start = 1700000000.123456;
    tasks[0].end = 1700000001.5;
    tasks[0].attempt = 1;
    tasks[0].host = "n\"1";
    tasks[0].pid = 4242;
    tasks[1].state = State::Failed;
    tasks[1].reason = "killed by signal 9 \xe2\x80\x94 \"oom\"\n";
    tasks[1].signal = 9;
    tasks[1].exit_code = -1;
    tasks[1].start = 5;
    tasks[1].end = 5.25;
    tasks[1].attempt = 2;
    tasks[2].state = State::Pending;
    tasks[2].backend_state = "PENDING (Priority)";
    tasks[3].state = State::Lost;
    tasks[3].reason = "Slurm job 1_3 left the queue; log: \\x";
    tasks[4].state = State::Skipped;
    tasks[4].reason = "its dependency can never be satisfied";
    for (std::set<State> only : {std::set<State>{}, std::set<State>{State::Failed, State::Lost}, std::set<State>{State::Running}}) {
      std::ostringstream os;
      run::TaskFilter keep;
      if (!only.empty()) keep = [&](const store::TaskStatus& t) { return only.count(t.state) > 0; };
      run::write_status_json(os, exp, json::object(), p, tasks, keep);
      std::string text = os.str();
      auto at = text.find(", \"tasks\": [");
      REQUIRE(at != std::string::npos);
      CHECK(text.substr(at + 12) == reference_tasks(exp, p, tasks, only) + "]}\n");
      json doc = json::parse(text);
      CHECK(doc["dir"] == dir);
      CHECK(doc["tasks"].size() == (only.empty() ? 5 : only.count(State::Failed) ? 2 : 0));
    }
  }
}

TEST_CASE("status --json of a store path that is not valid UTF-8 fails as nlohmann's dump does", "[run][report]") {
  util::TempDir tmp;
  store::Experiment exp("e-1", tmp.path() + "/bad\xff");
  plan::Plan p;
  p.name = "p";
  p.stages.resize(1);
  p.stages[0].name = "s";
  p.stages[0].tasks.push_back(task(0, 0, {"true"}, {}));
  std::vector<store::TaskStatus> tasks(1);
  std::ostringstream os;
  CHECK_THROWS_AS(run::write_status_json(os, exp, json::object(), p, tasks, {}), json::type_error);
}
