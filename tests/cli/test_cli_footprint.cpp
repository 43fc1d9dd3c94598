// The footprint of a finished experiment (issue 13): its tasks are folded into the index of
// finished tasks, and status, logs, resume, cancel, gc and rm answer as they did when every
// task kept its own files.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "support/env.hpp"
#include "xrun/util/fs.hpp"

using namespace xrun;
using test::Env;
using test::first_line;

namespace {

size_t inodes(const std::string& dir) {
  size_t n = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir); it != std::filesystem::recursive_directory_iterator();
       ++it)
    ++n;
  return n + 1;
}

// 60 tasks: every third prints on stdout, every fifth on stderr, i % 7 == 1 fails (until
// `fixed` exists).
std::string sweep(Env& e) {
  return e.file("exp.yml",
                "command: |\n"
                "  if [ $(({i} % 3)) -eq 0 ]; then echo out {i}; fi\n"
                "  if [ $(({i} % 5)) -eq 0 ]; then echo err {i} >&2; fi\n"
                "  test $(({i} % 7)) -ne 1 || test -e " +
                    e.path("fixed") +
                    "\n"
                    "variables:\n  i:\n    arange: 60\n");
}

}  // namespace

TEST_CASE("a finished experiment keeps at most 3 inodes per task and reads the same", "[cli][footprint]") {
  Env e;
  auto r = e.x({"run", sweep(e), "-j", "2", "-q"});
  CHECK(r.code == 1);
  std::string id = first_line(r.out);
  const std::string dir = e.exp_dir(id);
  INFO(dir);
  CHECK(inodes(dir) <= 3 * 60);
  CHECK(util::exists(dir + "/index"));
  // Nothing of task 2 is kept (no output), task 3 keeps its stdout only.
  CHECK_FALSE(util::exists(dir + "/tasks/2"));
  CHECK(util::list_dir(dir + "/tasks/3") == std::vector<std::string>{"stdout"});

  auto s = e.status(id);
  CHECK(s["counts"]["SUCCEEDED"] == 51);
  CHECK(s["counts"]["FAILED"] == 9);
  CHECK(s["tasks"][8]["state"] == "FAILED");
  CHECK(s["tasks"][8]["exit_code"] == 1);
  CHECK(s["tasks"][8]["attempt"] == 1);
  CHECK(s["tasks"][3]["stdout"] == dir + "/tasks/3/stdout");
  CHECK(e.x({"status", id}).out.find("FAILED") != std::string::npos);
  CHECK(e.x({"list", "--json"}).out.find("\"FAILED\": 9") != std::string::npos);

  // Logs: output as written; an output that stayed empty is empty, as it was.
  CHECK(e.x({"logs", id, "3"}).out == "out 3\n");
  CHECK(e.x({"logs", id, "5", "--stderr"}).out == "err 5\n");
  for (const char* t : {"2", "8"}) {
    auto l = e.x({"logs", id, t});
    CHECK(l.code == 0);
    CHECK(l.out.empty());
    CHECK(l.err.empty());
  }
  CHECK(e.x({"logs", id, "8", "--tail", "3"}).out.empty());
  CHECK(e.x({"logs", id, "15", "-e", "-n", "1"}).out == "err 15\n");
  auto failed = e.x({"logs", id, "--failed"});
  CHECK(failed.out.find("== task 8 (main/8) FAILED") != std::string::npos);
  CHECK(e.x({"logs", id, "3", "--attempt", "1"}).out == "out 3\n");
  CHECK(e.x({"logs", id, "3", "--attempt", "2"}).code != 0);

  // Nothing is left to cancel; the states stay.
  e.x({"cancel", id});
  CHECK(e.status(id)["counts"]["FAILED"] == 9);

  // Resume reruns only the failed tasks, as a second attempt; the first attempt's logs stay.
  e.file("fixed", "");
  auto again = e.x({"resume", id, "-q"});
  INFO(again.err);
  CHECK(again.code == 0);
  s = e.status(id);
  CHECK(s["counts"]["SUCCEEDED"] == 60);
  CHECK(s["tasks"][8]["attempt"] == 2);
  CHECK(s["tasks"][9]["attempt"] == 1);
  CHECK(s["tasks"][15]["attempt"] == 2);
  CHECK(e.x({"logs", id, "15", "--stderr", "--attempt", "1"}).out == "err 15\n");
  CHECK(e.x({"logs", id, "15", "--stderr"}).out == "err 15\n");
  auto first = e.x({"logs", id, "8", "--attempt", "1"});
  CHECK(first.code == 0);
  CHECK(first.out.empty());
  CHECK(inodes(dir) <= 3 * 60);
  CHECK(e.x({"resume", id}).err.find("nothing to resume") != std::string::npos);

  // gc and rm remove it whole.
  CHECK(e.x({"gc", "--older-than", "0s", "--keep-failed"}).code == 0);
  CHECK_FALSE(util::exists(dir));
  auto other = first_line(e.x({"run", sweep(e), "-q"}).out);
  CHECK(e.x({"rm", other}).code == 0);
  CHECK_FALSE(util::exists(e.exp_dir(other)));
}

TEST_CASE("a reader folds what a dead runner left, and a damaged index is survived", "[cli][footprint]") {
  Env e;
  auto f = e.file("exp.yml", "command: echo {i}\nvariables:\n  i: [1, 2, 3]\n");
  std::string id = first_line(e.x({"run", f, "-q"}).out);
  const std::string dir = e.exp_dir(id);
  // As a runner killed before it folded leaves it: no index (nor its mark), every task's own files.
  ::unlink((dir + "/index").c_str());
  ::unlink((dir + "/indexed").c_str());
  for (int t = 0; t < 3; ++t) {
    test::write_file(dir + "/tasks/" + std::to_string(t), "started",
                     "state=RUNNING\nhost=h\npid=1\nwrapper=1\nstart=1\nattempt=1\nwritten=1\n");
    test::write_file(dir + "/tasks/" + std::to_string(t), "status",
                     "state=SUCCEEDED\nexit=0\nsignal=0\nhost=h\npid=1\nwrapper=1\nstart=1\nend=2\nattempt=1\nwritten=1\n");
    test::write_file(dir + "/tasks/" + std::to_string(t), "stderr", "");
  }
  CHECK(e.status(id)["counts"]["SUCCEEDED"] == 3);
  CHECK(util::exists(dir + "/index"));  // folded by that read
  CHECK(util::list_dir(dir + "/tasks/0") == std::vector<std::string>{"stdout"});
  CHECK(e.status(id)["counts"]["SUCCEEDED"] == 3);
  // Garbage in the index: the experiment is damaged (issue 37: before, its tasks read as never
  // started and resume ran them again); resume refuses. Removing the index and its mark, as the
  // hint says, makes them read as never run: resume runs them again.
  test::write_file(dir, "index", "\x01\x02 not an index\n");
  auto s = e.x({"status", id, "--json"});
  CHECK(s.code == 1);
  CHECK(s.err.find("damaged") != std::string::npos);
  CHECK(e.x({"resume", id, "-q"}).code == 1);
  ::unlink((dir + "/index").c_str());
  ::unlink((dir + "/indexed").c_str());
  CHECK(e.status(id)["counts"]["PENDING"] == 3);
  CHECK(e.x({"resume", id, "-q"}).code == 0);
  CHECK(e.status(id)["counts"]["SUCCEEDED"] == 3);
  CHECK(e.x({"logs", id, "2"}).out == "3\n");
}
