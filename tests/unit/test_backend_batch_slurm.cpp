#include <catch2/catch.hpp>

#include <algorithm>

#include "xrun/backend/batch/slurm.hpp"
#include "xrun/backend/pool/engine.hpp"
#include "xrun/spec/options.hpp"

using namespace xrun;
using namespace xrun::backend;
using namespace xrun::backend::batch;

namespace {
// As the backend reads them: `slurm:` merged (general names) with an empty `scheduler:`.
Result<Settings> slurm_settings(const nlohmann::ordered_json& section) {
  nlohmann::ordered_json sections{{"slurm", section}};
  return SlurmDialect().settings(spec::merge_options(sections, "slurm"));
}
}  // namespace

TEST_CASE("array specs compress and parse back", "[backend][slurm]") {
  CHECK(array_spec({0, 1, 2, 3}) == "0-3");
  CHECK(array_spec({3, 17, 42}) == "3,17,42");
  CHECK(array_spec({0, 1, 5, 7, 8, 9}) == "0-1,5,7-9");
  CHECK(array_spec({4}) == "4");
  CHECK(*parse_array_spec("2-5%2") == std::vector<size_t>{2, 3, 4, 5});
  CHECK(*parse_array_spec("1,3") == std::vector<size_t>{1, 3});
  CHECK(*parse_array_spec("0-6:3") == std::vector<size_t>{0, 3, 6});
  for (const char* bad : {"", "a", "3-1", "1,,2", "1-"}) CHECK_FALSE(parse_array_spec(bad));
}

TEST_CASE("squeue lines: array records, elements and plain jobs", "[backend][slurm]") {
  auto recs = parse_squeue(
      "1_[2-5%2]|PENDING|JobArrayTaskLimit\n2_[0-2]|PENDING|Dependency\n1_0|RUNNING|None\n"
      "4_[1,3]|CANCELLED|DependencyNeverSatisfied\n9|COMPLETED|None\ngarbage\n");
  REQUIRE(recs.size() == 5);  // "garbage" has no fields; it is skipped
  CHECK(recs[0].job == "1");
  CHECK(recs[0].indices == std::vector<size_t>{2, 3, 4, 5});
  CHECK(recs[0].reason == "JobArrayTaskLimit");
  CHECK(recs[2].indices == std::vector<size_t>{0});
  CHECK(recs[2].state == "RUNNING");
  CHECK(recs[3].reason == "DependencyNeverSatisfied");
  CHECK(recs[4].job == "9");
  CHECK(recs[4].indices.empty());
}

TEST_CASE("an index list squeue abbreviated, or cannot read, still means the job is there", "[backend][slurm]") {
  auto recs = parse_squeue("123_[2,9,22,...]|PENDING|Priority\n124_[x-y]|PENDING|None\n");
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].job == "123");
  CHECK(recs[0].indices.empty());  // stands for the whole job: its elements are pending, not gone
  CHECK(recs[0].state == "PENDING");
  CHECK(recs[1].job == "124");
}

TEST_CASE("the slurm option signal always reaches the batch shell (B:), which passes it on - a signal the wrapper would die of is "
          "an input error", "[backend][slurm]") {
  auto sig = [](const char* v) { return batch_signal(v); };
  CHECK(sig("B:USR1@300")->value == "B:USR1@300");
  CHECK_FALSE(sig("B:USR1@300")->added);
  CHECK(sig("USR1@300")->value == "B:USR1@300");
  CHECK(sig("USR1@300")->added);
  CHECK(sig("R:SIGUSR2@60")->value == "RB:SIGUSR2@60");
  CHECK(sig("br:10")->value == "BR:10");
  CHECK(sig("TERM")->value == "B:TERM");
  CHECK(sig("12@5")->value == "B:12@5");
  for (const char* bad : {"B:KILL@60", "STOP", "9@10", "B:USR3", "X:USR1", "BB:USR1", "B:USR1@soon", ":USR1", "B:"}) {
    INFO(bad);
    auto r = sig(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().hint.find("USR1") != std::string::npos);
  }
  // In the options: the directive as submitted, and a note saying what xrun changed.
  auto s = slurm_settings({{"signal", "USR1@120"}});
  REQUIRE(s);
  CHECK(std::find(s->directives.begin(), s->directives.end(), "--signal=B:USR1@120") != s->directives.end());
  REQUIRE(s->notes.size() == 1);
  CHECK(s->notes[0].find("'B:USR1@120'") != std::string::npos);
  auto as_given = slurm_settings({{"signal", "B:USR1@120"}});
  REQUIRE(as_given);
  CHECK(as_given->notes.empty());
  CHECK_FALSE(slurm_settings({{"signal", "KILL@120"}}));
}

TEST_CASE("the Slurm log of a purged job says TIMEOUT or CANCELLED, and an earlier run's lines do not count",
          "[backend][slurm]") {
  using EndedAs = store::SchedulerView::EndedAs;
  auto stamp = [](time_t t) {  // as slurmstepd writes it: the node's local time
    char buf[32];
    struct tm tm {};
    ::localtime_r(&t, &tm);
    ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return std::string(buf);
  };
  const time_t t = 1796670000;
  const std::string timeout = "slurmstepd: error: *** JOB 125 ON vm CANCELLED AT " + stamp(t) + " DUE TO TIME LIMIT ***\n";
  const std::string cancel = "slurmstepd: error: *** JOB 125 ON vm CANCELLED AT " + stamp(t) + " ***\n";
  SlurmDialect d;
  CHECK(d.ended_in_log(timeout, 0) == EndedAs::Timeout);
  CHECK(d.ended_in_log(timeout, t - 100) == EndedAs::Timeout);
  CHECK(d.ended_in_log(cancel, t - 100) == EndedAs::Cancelled);
  CHECK(d.ended_in_log("slurmstepd: error: *** JOB 125 ON vm CANCELLED AT " + stamp(t) + " DUE TO PREEMPTION ***\n", 0) ==
        EndedAs::Cancelled);
  CHECK(d.ended_in_log("slurmstepd: error: *** JOB 125 ON vm CANCELLED AT " + stamp(t) + " DUE TO NODE FAILURE ***\n", 0) ==
        EndedAs::Other);
  CHECK(d.ended_in_log("", 0) == EndedAs::Other);
  CHECK(d.ended_in_log("task said: CANCELLED AT noon\n", 0) == EndedAs::Other);  // not slurmstepd's line
  // A requeued job's log keeps the earlier run's line: older than this run's start, it does not count.
  CHECK(d.ended_in_log(timeout, t + 30) == EndedAs::Other);
  // The last line is the one that counts.
  CHECK(d.ended_in_log(timeout + cancel, 0) == EndedAs::Cancelled);
  // Killed for its memory.
  const std::string oom = "slurmstepd: error: Detected 1 oom_kill event in StepId=125.batch. Some of the step tasks have "
                          "been OOM Killed.\n";
  CHECK(d.ended_in_log(oom, 0) == EndedAs::OutOfMemory);
  CHECK(d.ended_in_log("slurmstepd: error: Detected 1 oom-kill event(s) in step 125.batch cgroup.\n", 0) ==
        EndedAs::OutOfMemory);
  CHECK(d.ended_in_log(oom + cancel, 0) == EndedAs::Cancelled);
  CHECK(d.ended_in_log("my task says: oom_kill event\n", 0) == EndedAs::Other);
  QueueEntry q;
  q.job = "125";
  q.state = "OUT_OF_MEMORY";
  CHECK(d.classify(q).ended_as == EndedAs::OutOfMemory);
}

TEST_CASE("MaxArraySize from scontrol show config", "[backend][slurm]") {
  CHECK(parse_max_array_size("AuthType = auth/munge\nMaxArraySize            = 10\nMaxJobCount = 1\n") == 10);
  CHECK(parse_max_array_size("nothing here") == 1001);
}

TEST_CASE("options map onto sbatch flags", "[backend][slurm]") {
  nlohmann::ordered_json o{{"name", "my run"},     {"nodes", "2"},       {"ncpus", "4"},      {"mem", "8G"},
                           {"gpus", "1"},          {"walltime", "1:00"}, {"account", "proj"}, {"partition", "gpu"},
                           {"qos", "high"},        {"email", "a@b.c"},   {"max_parallel", "5"},
                           {"setup", {"module load x"}}, {"exclusive", "True"}, {"requeue", "False"},
                           {"J", "x"},             {"cpus_per_gpu", "2"}, {"jobs", "8"}, {"poll_interval", "1"}};
  auto s = slurm_settings(o);
  REQUIRE(s.ok());
  auto has = [&](const std::string& d) { return std::find(s->directives.begin(), s->directives.end(), d) != s->directives.end(); };
  CHECK(s->job_name == "my-run");
  CHECK(has("--nodes=2"));
  CHECK(has("--cpus-per-task=4"));
  CHECK(has("--mem=8G"));
  CHECK(has("--gres=gpu:1"));
  CHECK(has("--time=1:00"));
  CHECK(has("--account=proj"));
  CHECK(has("--partition=gpu"));
  CHECK(has("--qos=high"));
  CHECK(has("--mail-user=a@b.c"));
  CHECK(has("--mail-type=END,FAIL"));
  CHECK(has("--exclusive"));
  CHECK(has("-J x"));
  CHECK(has("--cpus-per-gpu=2"));
  CHECK_FALSE(has("--requeue"));
  CHECK(s->max_parallel == 5);
  CHECK(s->poll == 1);
  for (const auto& d : s->directives) CHECK(d.find("jobs") == std::string::npos);  // local-only key
  CHECK_FALSE(slurm_settings({{"max_parallel", "0"}}).ok());
  CHECK_FALSE(slurm_settings({{"poll_interval", "fast"}}).ok());
  CHECK_FALSE(slurm_settings({{"partition", {{"a", "b"}}}}).ok());
}

TEST_CASE("local settings: jobs, walltime, grace", "[backend][local]") {
  RunOptions none;
  auto s = pool::settings({{"jobs", "3"}, {"walltime", "0:30"}, {"kill_grace", "2"}}, none);
  REQUIRE(s.ok());
  CHECK(s->jobs == 3);
  CHECK(s->walltime == 30);
  CHECK(s->kill_grace == 2);
  RunOptions j;
  j.jobs = 7;
  CHECK(pool::settings({{"jobs", "3"}}, j)->jobs == 7);  // -j wins
  CHECK_FALSE(pool::settings({{"jobs", "zero"}}, none).ok());
  CHECK_FALSE(pool::settings({{"walltime", "soon"}}, none).ok());
  CHECK_FALSE(pool::settings({{"kill_grace", "-1"}}, none).ok());
}

TEST_CASE("scheduler: and slurm: merge by meaning: one --time, the backend's section wins, setup from both",
          "[backend][slurm]") {
  auto sections = nlohmann::ordered_json::parse(R"({"scheduler": {"walltime": "1:00:00", "ncpus": 2, "setup": ["module load a"]},
                                                    "slurm": {"time": "2:00:00", "setup": "source b"}})");
  auto merged = xrun::spec::merge_options(sections, "slurm");
  CHECK(merged["walltime"] == "2:00:00");
  CHECK_FALSE(merged.contains("time"));
  CHECK(merged["cpus"] == 2);
  CHECK(merged["setup"] == nlohmann::ordered_json::parse(R"(["module load a", "source b"])"));
  auto s = SlurmDialect().settings(merged);
  REQUIRE(s.ok());
  size_t times = 0;
  for (const auto& d : s->directives) times += d.rfind("--time=", 0) == 0;
  CHECK(times == 1);
  CHECK(std::find(s->directives.begin(), s->directives.end(), "--time=2:00:00") != s->directives.end());
}

TEST_CASE("squeue lines read in place: blanks, extra fields, odd element ids", "[backend][slurm]") {
  auto recs = parse_squeue(
      "  7_3|PENDING|Priority  \r\n\n|PENDING|x\n8_12|RUNNING|None|extra\n9_1234567890|PENDING|Priority\n"
      "10_|PENDING|Priority\n11_4%2|PENDING|Priority\n12|PENDING\n");
  REQUIRE(recs.size() == 5);  // the line without a job id and the one with two fields are skipped
  CHECK(recs[0].job == "7");
  CHECK(recs[0].indices == std::vector<size_t>{3});
  CHECK(recs[0].reason == "Priority");
  CHECK(recs[1].indices == std::vector<size_t>{12});
  CHECK(recs[1].reason == "None");
  CHECK(recs[2].job == "9");
  CHECK(recs[2].indices.empty());  // more digits than an array index has: unreadable, the whole job
  CHECK(recs[3].indices.empty());
  CHECK(recs[4].indices == std::vector<size_t>{4});  // `%` limit dropped, as parse_array_spec does
}
