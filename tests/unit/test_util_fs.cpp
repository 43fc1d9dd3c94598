#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <map>

#include "support/support.hpp"
#include "xrun/util/fs.hpp"

using namespace xrun;

TEST_CASE("for_each_entry lists a directory with each entry's type, and stops when asked", "[util]") {
  util::TempDir tmp;
  REQUIRE(util::make_dirs(tmp.path() + "/sub").ok());
  test::write_file(tmp.path(), "file", "x");
  REQUIRE(::symlink("file", (tmp.path() + "/link").c_str()) == 0);
  for (int k = 0; k < 300; ++k) test::write_file(tmp.path(), "many-" + std::to_string(k), "");  // over one read
  util::Fd fd(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.valid());
  std::map<std::string, unsigned char> seen;
  CHECK(util::for_each_entry(fd.get(), [&](std::string_view n, unsigned char t) {
    seen[std::string(n)] = t;
    return true;
  }));
  CHECK(seen.size() == 303);  // no "." or ".."
  CHECK_FALSE(seen.count("."));
  for (auto [name, type] : std::map<std::string, unsigned char>{{"sub", DT_DIR}, {"file", DT_REG}, {"link", DT_LNK}})
    CHECK((seen.at(name) == type || seen.at(name) == DT_UNKNOWN));
  util::Fd again(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int calls = 0;
  CHECK(util::for_each_entry(again.get(), [&](std::string_view, unsigned char) { return ++calls < 2; }));
  CHECK(calls == 2);
  CHECK_FALSE(util::for_each_entry(-1, [](std::string_view, unsigned char) { return true; }));
}

TEST_CASE("a record is read whole with one read when small, and whole when large", "[util]") {
  util::TempDir tmp;
  util::Fd dir(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  test::write_file(tmp.path(), "small", "state=RUNNING\nwritten=1\n");
  std::string big(10000, 'b');
  test::write_file(tmp.path(), "big", big);
  test::write_file(tmp.path(), "exact", std::string(4096, 'e'));
  CHECK(util::try_read_record_beneath(dir.get(), "small") == std::optional<std::string>("state=RUNNING\nwritten=1\n"));
  CHECK(util::try_read_record_beneath(dir.get(), "big") == std::optional<std::string>(big));
  CHECK(util::try_read_record_beneath(dir.get(), "exact") == std::optional<std::string>(std::string(4096, 'e')));
  CHECK_FALSE(util::try_read_record_beneath(dir.get(), "missing"));
}
