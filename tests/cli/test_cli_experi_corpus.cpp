// experi's own files (examples, test data, the YAML of its tests and docs: tests/experi/, made by
// tests/tools/gen_experi_cases.py from experi's code) expand through xrun to the same tasks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/support.hpp"
#include "xrun/util/text.hpp"

using namespace xrun;
namespace fs = std::filesystem;

TEST_CASE("experi's examples, test files and docs expand to experi's tasks", "[cli][experi]") {
  size_t n = 0, refused = 0;
  for (const auto& c : fs::directory_iterator(test::source_dir() + "/tests/experi")) {
    if (!fs::exists(c.path() / "expected.json")) continue;
    ++n;
    INFO("case " << c.path().filename().string());
    auto want = nlohmann::json::parse(test::read((c.path() / "expected.json").string()));
    auto r = test::xrun({"plan", (c.path() / "experiment.yml").string(), "--json"});
    if (want.contains("error")) {
      ++refused;
      CHECK(r.code == 2);
      continue;
    }
    INFO(r.err);
    REQUIRE(r.code == 0);
    auto got = nlohmann::json::parse(r.out);
    REQUIRE(got["stages"].size() == want["stages"].size());
    for (size_t s = 0; s < want["stages"].size(); ++s) {
      std::vector<std::string> g, w = want["stages"][s].get<std::vector<std::string>>();
      for (const auto& t : got["stages"][s]["tasks"]) {
        std::string joined;
        // Whitespace at the ends of a command changes nothing that runs (experi strips it).
        for (const auto& cmd : t["commands"])
          joined += (joined.empty() ? "" : " && ") + util::trim(cmd.get<std::string>());
        g.push_back(joined);
      }
      // Same tasks; the order may differ (xrun nests keys in document order, by design).
      std::sort(g.begin(), g.end());
      std::sort(w.begin(), w.end());
      CHECK(g == w);
    }
  }
  CHECK(n >= 50);
  CHECK(refused >= 3);
}
