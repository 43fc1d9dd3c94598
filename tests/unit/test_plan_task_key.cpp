// plan::task_key (src/plan/task_key.cpp): a task's content key.
#include <catch2/catch.hpp>

#include "xrun/plan/task_key.hpp"

using namespace xrun;

namespace {
plan::KeyInputs sample() {
  plan::KeyInputs in;
  in.stage = "train";
  in.commands = {"python train.py --lr 0.1 --seed 3", "echo done"};
  in.variables = {{"lr", "0.1"}, {"seed", "3"}};
  in.workdir = "/home/u/study";
  in.setup = {"source venv/bin/activate"};
  return in;
}
}  // namespace

TEST_CASE("task key: golden values (a change here changes every stored task's identity)", "[plan][task_key]") {
  CHECK(plan::task_key(sample()) == "b4f5cc42b05c28221c0aed40d6ca7579");
  // The encoding of empty inputs, hashed by xxHash's own tool, gives the same:
  // printf 'xrun task key 1\nS 0:\nC 1:0\nV 1:0\nW 0:\nU 1:0\nI 0:\n' | xxhsum -H2 -
  CHECK(plan::task_key(plan::KeyInputs{}) == "201858eab61646a9a81359c4d5c7ac8a");
  auto docker = sample();
  docker.image = "python:3.11";
  CHECK(plan::task_key(docker) == "ece89dc8d55c5e51ccfee9f8622d6232");
}

TEST_CASE("task key: 32 hex digits, the same for the same work whatever the order of its variables",
          "[plan][task_key]") {
  auto a = sample();
  auto k = plan::task_key(a);
  CHECK(k.size() == 32);
  CHECK(k.find_first_not_of("0123456789abcdef") == std::string::npos);
  std::swap(a.variables[0], a.variables[1]);
  CHECK(plan::task_key(a) == k);
}

TEST_CASE("task key: every input counts, and fields never run into each other", "[plan][task_key]") {
  const auto k = plan::task_key(sample());
  auto changed = [&](auto&& edit) {
    auto in = sample();
    edit(in);
    return plan::task_key(in) != k;
  };
  CHECK(changed([](plan::KeyInputs& in) { in.stage = "train2"; }));
  CHECK(changed([](plan::KeyInputs& in) { in.commands[0] += " "; }));
  CHECK(changed([](plan::KeyInputs& in) { std::swap(in.commands[0], in.commands[1]); }));
  CHECK(changed([](plan::KeyInputs& in) { in.variables[0].second = "0.10"; }));  // as plan.json stores it
  CHECK(changed([](plan::KeyInputs& in) { in.variables[0].second = "\"0.1\""; }));  // a string, not a number
  CHECK(changed([](plan::KeyInputs& in) { in.variables[0].first = "LR"; }));
  CHECK(changed([](plan::KeyInputs& in) { in.workdir += "/x"; }));
  CHECK(changed([](plan::KeyInputs& in) { in.setup.clear(); }));
  CHECK(changed([](plan::KeyInputs& in) { in.image = "ubuntu"; }));
  // The same bytes split differently between fields are different work.
  CHECK(changed([](plan::KeyInputs& in) { in.commands = {"python train.py --lr 0.1 --seed 3\necho done"}; }));
  CHECK(changed([](plan::KeyInputs& in) {
    in.commands[0] = "python train.py --lr 0.1 --seed 3echo done";
    in.commands.pop_back();
  }));
  CHECK(changed([](plan::KeyInputs& in) {
    in.variables = {{"lr0.1", ""}, {"seed", "3"}};
  }));
  CHECK(changed([](plan::KeyInputs& in) {
    in.setup = {"source", "venv/bin/activate"};
  }));
}

TEST_CASE("task key: one KeyContext for many tasks gives task_key's key for each", "[plan][task_key]") {
  // Names in changing orders, changing sets (of the same lengths too), none at all, and back.
  std::vector<std::vector<std::pair<std::string, std::string>>> varsets{
      {{"lr", "0.1"}, {"seed", "3"}}, {{"lr", "0.2"}, {"seed", "4"}}, {{"seed", "4"}, {"lr", "0.2"}},
      {{"lx", "0.2"}, {"seed", "4"}}, {},  {{"a", "\"x\""}}, {{"lr", "0.1"}, {"seed", "3"}}};
  auto in = sample();
  plan::KeyContext ctx(plan::KeyStage{in.stage, in.workdir, in.setup, in.image});
  for (const auto& vs : varsets) {
    in.variables = vs;
    std::vector<std::pair<std::string_view, std::string_view>> views(vs.begin(), vs.end());
    CHECK(ctx.key(in.commands, views) == plan::task_key(in));
  }
  // (the first and the last are the same task)
  in.variables = varsets.front();
  CHECK(plan::task_key(in) == "b4f5cc42b05c28221c0aed40d6ca7579");
}
