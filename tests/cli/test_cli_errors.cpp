// Bad input gets a clear error, never a crash or a hang: many malformed files through the binary.
#include <catch2/catch.hpp>

#include <random>
#include <regex>

#include "support/support.hpp"

using namespace xrun;

namespace {

// Exit 2 with "FILE:LINE:COL: error: ..." and a hint.
void expect_user_error(const test::RunResult& r, const std::string& file, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.code == 2);
  std::regex located("(^|\n)" + std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                     R"(:\d+:\d+: error: .+)");
  CHECK(std::regex_search(r.err, located));
  CHECK(r.err.find("hint:") != std::string::npos);
  if (!needle.empty()) CHECK(r.err.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("malformed experiment files: exit 2 with a located message and a hint", "[cli][errors]") {
  struct Case {
    const char* text;
    const char* needle;
  };
  const Case cases[] = {
      {"comamnd: echo {x}\n", "did you mean 'command'"},
      {"command: echo {y}\nvariables:\n  x: [1]\n", "{y}"},
      {"command: echo {x\nvariables:\n  x: [1]\n", "unbalanced"},
      {"command: echo x}\n", "single '}'"},
      {"command: echo {}\n", "empty placeholder"},
      {"command: echo {name:.2f}\nvariables:\n  name: [bob]\n", "Unknown format code 'f'"},
      {"command: echo {n:04d}\nvariables:\n  n: [1.5]\n", "'d'"},
      {"command: echo {x:.}\nvariables:\n  x: 1\n", "precision"},
      {"command: echo {x}\nvariables:\n  product:\n    - x: 1\n", "'product' takes a mapping"},
      {"command: echo {x}\nvariables:\n  cycle:\n    x: [1]\n", "times"},
      {"command: echo {x}\nvariables:\n  cycle:\n    times: -1\n    x: [1]\n", "at least 1"},
      {"command: echo {x}\nvariables:\n  cycle:\n    times: two\n    x: [1]\n", "times"},
      {"command: echo {x}\nvariables:\n  x:\n    arange: {start: 1}\n", "stop"},
      {"command: echo {x}\nvariables:\n  x:\n    arange: {stop: 5, step: 0}\n", "step"},
      {"command: echo {x}\nvariables:\n  x:\n    arange: abc\n", "number"},
      {"command: echo {x}\nvariables:\n  x:\n    arange: 100000000000000000000000\n", "too large"},
      {"command: echo {x}\nvariables:\n  x:\n    arange: 1000000000000000000\n", "combinations"},
      {"command: echo {x}\nvariables:\n  x: []\n", "empty"},
      {"command: echo {x}\nvariables: 3\n", "variables"},
      {"command: echo {x}\nvariables:\n  chain: {x: 1}\n", "chain"},
      {"command: echo {x}\nvariables:\n  zip: 3\n", "zip"},
      {"command: echo {b}\nvariables:\n  chain:\n    - a: 1\n    - b: 2\n", "every combination"},
      {"command: [1, [2]]\n", "string"},
      {"command:\n", "empty"},
      {"command: []\n", "empty"},
      {"jobs: 3\n", "jobs"},
      {"jobs: []\n", "jobs"},
      {"jobs:\n  - echo\n", "mapping"},
      {"jobs:\n  - name: a\n", "no 'command'"},
      {"jobs:\n  - command: a\n    on_failure: later\n", "on_failure"},
      {"jobs:\n  - command: a\n    name: x\n  - command: b\n    name: x\n", "two jobs"},
      {"command: a\njobs:\n  - command: b\n", "cannot both"},
      {"variables:\n  x: 1\n", "no 'command'"},
      {"command: a\nname: ''\n", "name"},
      {"command: a\nslurm: maybe\n", "True, False"},
      {"command: a\nlocal: [1]\n", "mapping"},
      {"command:\n  cmd: a\n  creates: [x]\n", "string"},
      {"command:\n  cmnd: a\n", "did you mean 'cmd'"},
      {"command: echo {x[a]}\nvariables:\n  x: 1\n", "index"},
      {"command: echo {x!z}\nvariables:\n  x: 1\n", "conversion"},
      {"- a\n- b\n", "mapping"},
      {"just a string\n", "mapping"},
      {"command: a\n  bad indent: b\n", "YAML"},
      {"command: a\nvariables: {x: [1, 2}\n", "YAML"},
      {"a: &x [*x]\ncommand: b\n", ""},
      {"command: a\nvariables:\n  x: *undefined\n", "YAML"},
      {"\t\tcommand: a\n", ""},
      {"# nothing but a comment\n", "no settings"},
      {"", "empty"},
      {"   \n\n", "empty"},
  };
  util::TempDir d;
  int k = 0;
  for (const auto& c : cases) {
    std::string name = "bad" + std::to_string(k++) + ".yml";
    auto f = test::write_file(d.path(), name, c.text);
    INFO("file: " << c.text);
    for (const char* cmd : {"plan", "check"}) expect_user_error(test::xrun({cmd, f}, {d.path(), {}, 10}), f, c.needle);
  }
}

TEST_CASE("missing files, directories and binary garbage are user errors", "[cli][errors]") {
  util::TempDir d;
  expect_user_error(test::xrun({"plan", d.path() + "/nope.yml"}), d.path() + "/nope.yml", "No such file");
  expect_user_error(test::xrun({"plan", d.path()}), d.path(), "directory");
  std::string bin("command: a\n\0\xff\xfe", 15);
  auto f = test::write_file(d.path(), "bin.yml", bin);
  expect_user_error(test::xrun({"plan", f}), f, "NUL");
  auto utf = test::write_file(d.path(), "utf.yml", "command: a\n\xff\xfe\xfd: b\n");
  auto r = test::xrun({"plan", utf}, {"", {}, 10});
  CHECK(r.code == 2);
}

TEST_CASE("deep nesting, alias bombs and huge numbers neither crash nor hang", "[cli][errors]") {
  util::TempDir d;
  std::vector<std::string> texts = {
      "command: a\nvariables:\n  x: " + std::string(100000, '[') + std::string(100000, ']') + "\n",
      "command: a\nvariables:\n  x: " + std::string(300, '[') + std::string(300, ']') + "\n",
      [] {
        std::string s = "command: echo {x}\nvariables:\n";
        std::string indent = "  ";
        for (int i = 0; i < 150; ++i) {
          s += indent + "product:\n";
          indent += "  ";
        }
        return s + indent + "x: 1\n";
      }(),
      "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\ncommand: x\n",
      "command: echo {x}\nvariables:\n  x: [" + std::string(5000, '9') + "]\n",
      "command: echo {x:999999999999}\nvariables:\n  x: 1\n",
      "command: echo {x}\nvariables:\n  x:\n    arange: {start: -9223372036854775808, stop: 9223372036854775807}\n",
      "command: echo {x}\nvariables:\n  x:\n    arange: {stop: 1.0e+300, step: 1.0e-300}\n",
      "command: echo {x}\nvariables:\n  cycle:\n    times: 99999999999999999999\n    x: [1]\n",
      "command: echo {a}{b}{c}{d}\nvariables:\n  a: {arange: 100000}\n  b: {arange: 100000}\n  c: {arange: 100000}\n  d: {arange: 100000}\n",
  };
  for (size_t i = 0; i < texts.size(); ++i) {
    auto f = test::write_file(d.path(), "deep" + std::to_string(i) + ".yml", texts[i]);
    INFO("case " << i);
    auto r = test::xrun({"check", f}, {"", {}, 20});
    CHECK_FALSE(r.timed_out);
    // One outcome each: the deep product nest and the 5,000-digit value are valid; the others
    // are located input errors (too deep, an alias bomb, a width or a range too large).
    const int expected = (i == 2 || i == 4) ? 0 : 2;
    CHECK(r.code == expected);
    if (expected == 2) CHECK(r.err.find("error:") != std::string::npos);
  }
}

TEST_CASE("generated garbage: truncations, byte flips and random bytes", "[cli][errors]") {
  util::TempDir d;
  const std::string base =
      "name: fuzz\njobs:\n  - command:\n      cmd: echo {a:.2f} {b} > {creates}\n      creates: out-{b}.txt\n"
      "  - command: ['echo {c}', 'echo \"{{literal}}\"']\n    on_failure: continue\nvariables:\n"
      "  a: [0.1, 2.5]\n  zip:\n    b: {arange: 3}\n    cycle:\n      times: 3\n      c: [x, y]\n"
      "  chain:\n    - d: 1\n    - d: 2\nslurm:\n  partition: debug\n";
  REQUIRE(test::xrun({"check", test::write_file(d.path(), "base.yml", base)}).code == 0);
  std::mt19937 rng(12345);
  std::vector<std::string> inputs;
  for (size_t cut = 1; cut < base.size(); cut += 7) inputs.push_back(base.substr(0, cut));
  for (int i = 0; i < 60; ++i) {
    std::string s = base;
    for (int flips = 0; flips < 3; ++flips) s[rng() % s.size()] = static_cast<char>("{}[]:-,'\"&*!|>%@`\n \t#?"[rng() % 22]);
    inputs.push_back(s);
  }
  for (int i = 0; i < 20; ++i) {
    std::string s(1 + rng() % 400, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng() % 256);
    inputs.push_back(s);
  }
  size_t errors = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto f = test::write_file(d.path(), "g" + std::to_string(i) + ".yml", inputs[i]);
    auto r = test::xrun({"plan", f, "--json"}, {"", {}, 10});
    INFO("input " << i << ": " << inputs[i]);
    REQUIRE_FALSE(r.timed_out);
    // One outcome per input: `plan` exits as `check` does on the same file (valid: 0; bad
    // input: 2 with a located message); never a crash, a runtime failure or a hang.
    auto c = test::xrun({"check", f}, {"", {}, 10});
    CHECK(r.code == c.code);
    CHECK(r.code == (c.code == 0 ? 0 : 2));
    if (r.code == 2) {
      ++errors;
      CHECK(r.err.find(f + ":") == 0);
      CHECK(r.err.find(": error: ") != std::string::npos);
    }
  }
  CHECK(errors > inputs.size() / 2);
}
