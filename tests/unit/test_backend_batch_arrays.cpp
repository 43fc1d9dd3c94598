// The batch engine's array planning: chunks, sparse resubmits, dialect fitting, dependencies.
#include <catch2/catch.hpp>

#include "xrun/backend/batch/arrays.hpp"
#include "xrun/backend/batch/pbs.hpp"
#include "xrun/backend/batch/slurm.hpp"
#include "xrun/plan/expander.hpp"

using namespace xrun;
using namespace xrun::backend::batch;
using Z = std::vector<size_t>;

namespace {
plan::Plan make(const std::string& yaml) {
  auto s = spec::parse_spec(yaml, "/tmp/exp.yml");
  REQUIRE(s.ok());
  auto e = plan::Expander::create(std::move(s.value()));
  REQUIRE(e.ok());
  auto p = e->materialize();
  REQUIRE(p.ok());
  return std::move(p.value());
}
std::set<size_t> all(const plan::Plan& p) {
  std::set<size_t> ids;
  for (const auto& st : p.stages)
    for (const auto& t : st.tasks) ids.insert(t.id);
  return ids;
}
// prep (1 task), sweep (5), report (1): a chain.
const char* kThree = "jobs:\n  - name: prep\n    command: echo prep\n  - name: sweep\n    command: echo {x}\n"
                     "  - name: report\n    command: echo report\nvariables:\n  x: [1, 2, 3, 4, 5]\n";
}  // namespace

TEST_CASE("batch arrays: one array per stage in the graph's order, chunked under the largest array", "[backend][batch]") {
  auto p = make(kThree);
  auto g = plan::StageGraph::of(p, false);
  auto arrays = plan_arrays(p, g, all(p), 2, "/d", "sbatch");
  REQUIRE(arrays.size() == 5);  // prep, sweep in 3 chunks, report
  CHECK(arrays[0].stage == 0);
  CHECK(arrays[1].indices == Z{0, 1});
  CHECK(arrays[2].indices == Z{0, 1});
  CHECK(arrays[3].indices == Z{0});
  CHECK(arrays[3].chunk == 2);
  CHECK(arrays[3].script_path == "/d/stage2-2.sbatch");
  // Ids follow the indices: no task map, task base + i.
  CHECK(arrays[2].tasks.empty());
  CHECK(arrays[2].task_of(1) == 4);
  CHECK(arrays[3].task_of(0) == 5);
  CHECK(arrays[4].task_of(0) == 6);
  CHECK(arrays[1].array() == "0-1");
}

TEST_CASE("batch arrays: a resume submits a sparse array of just the tasks to rerun", "[backend][batch]") {
  auto p = make(kThree);
  auto g = plan::StageGraph::of(p, false);
  auto arrays = plan_arrays(p, g, {2, 4, 5}, 1000, "/d", "sbatch");
  REQUIRE(arrays.size() == 1);
  CHECK(arrays[0].indices == Z{1, 3, 4});
  CHECK(arrays[0].array() == "1,3-4");
  CHECK(arrays[0].task_of(0) == 2);
  // Slurm takes index lists; PBS Pro does not: a range over a map of task ids instead.
  auto slurm = arrays;
  fit_to_dialect(slurm, SlurmDialect());
  CHECK(slurm[0].indices == Z{1, 3, 4});
  auto pro = arrays;
  fit_to_dialect(pro, PbsDialect(PbsDialect::Flavor::Pro));
  CHECK(pro[0].indices == Z{0, 1, 2});
  CHECK(pro[0].tasks == Z{2, 4, 5});
  CHECK(pro[0].task_of(2) == 5);
  // A one-element array is a plain job where the scheduler wants it (PBS), not on Slurm.
  auto one = plan_arrays(p, g, {3}, 1000, "/d", "pbs");
  auto one_slurm = one;
  fit_to_dialect(one_slurm, SlurmDialect());
  CHECK_FALSE(one_slurm[0].plain);
  fit_to_dialect(one, PbsDialect(PbsDialect::Flavor::Torque));
  CHECK(one[0].plain);
  CHECK(one[0].array().empty());
  CHECK(one[0].task_of(0) == 3);
}

TEST_CASE("batch arrays: ids that do not follow the indices (after a reload) carry a task map", "[backend][batch]") {
  plan::Plan p = make("command: echo {x}\nvariables:\n  x: [1, 2, 3]\n");
  p.stages[0].tasks[0].id = 7;
  p.stages[0].tasks[1].id = 3;
  p.stages[0].tasks[2].id = 9;
  REQUIRE(p.index_ids().ok());
  auto g = plan::StageGraph::of(p, false);
  auto arrays = plan_arrays(p, g, {7, 3, 9}, 1000, "/d", "sbatch");
  REQUIRE(arrays.size() == 1);
  CHECK(arrays[0].tasks == Z{7, 3, 9});
  CHECK(arrays[0].task_of(1) == 3);
}

TEST_CASE("batch arrays: whole-stage dependencies, and per-task ones element for element where they pair",
          "[backend][batch]") {
  auto p = make("jobs:\n  - name: a\n    command: echo a {x}\n"
                "  - name: b\n    command: echo b {x}\n    depends_on: [{stage: a, per_task: true}]\n"
                "  - name: c\n    command: echo c\n    depends_on: [a, b]\n"
                "variables:\n  x: [1, 2, 3]\n");
  auto g = plan::StageGraph::of(p, false);
  auto arrays = plan_arrays(p, g, all(p), 1000, "/d", "sbatch");
  REQUIRE(arrays.size() == 3);
  const std::vector<std::string> job_of{"10", "11", "12"};
  const std::map<size_t, std::vector<std::string>> ids{{0, {"10"}}, {1, {"11"}}};
  CHECK(paired_array(arrays[1], 0, arrays, g) == 0);
  std::set<std::string> notes;
  auto b = after_for(arrays[1], arrays, job_of, ids, g, p, SlurmDialect(), &notes);
  REQUIRE(b.size() == 1);
  CHECK(b[0].job == "10");
  CHECK(b[0].corresponding);  // aftercorr
  CHECK(notes.empty());
  auto c = after_for(arrays[2], arrays, job_of, ids, g, p, SlurmDialect(), &notes);
  REQUIRE(c.size() == 2);
  CHECK_FALSE(c[0].corresponding);
  CHECK(c[0].success);
  // PBS cannot chain elements: b waits for all of a, and says why.
  auto pbs = after_for(arrays[1], arrays, job_of, ids, g, p, PbsDialect(PbsDialect::Flavor::Pro), &notes);
  REQUIRE(pbs.size() == 1);
  CHECK_FALSE(pbs[0].corresponding);
  REQUIRE(notes.size() == 1);
  CHECK(notes.begin()->find("cannot chain array elements") != std::string::npos);
  // A resume of one task of a with all of b: the arrays no longer pair index for index.
  auto partial = plan_arrays(p, g, {1, 3, 4, 5}, 1000, "/d", "sbatch");
  CHECK(paired_array(partial[1], 0, partial, g) == std::string::npos);
}
