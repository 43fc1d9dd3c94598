// The bulk record of tasks an interrupted runner never started (store/unstarted.cpp).
#include <catch2/catch.hpp>

#include "xrun/store/unstarted.hpp"

using xrun::store::Unstarted;

TEST_CASE("the bulk record of unstarted tasks: ranges, reasons, removal, damage", "[store][unstarted]") {
  Unstarted u;
  u.add({9, 3, 4, 5, 5, 7, 100000, 99999}, "interrupted by SIGINT before it started");
  auto text = u.format();
  CHECK(text.find("interrupted by SIGINT before it started\t3-5,7,9,99999-100000\n") != std::string::npos);
  auto back = Unstarted::parse(text);
  CHECK(back.format() == text);
  CHECK(back.damaged() == 0);
  CHECK(back.count() == 7);
  for (size_t id : {3, 4, 5, 7, 9, 99999, 100000}) CHECK(back.reason_of(id) != nullptr);
  for (size_t id : {0, 2, 6, 8, 10, 99998, 100001}) CHECK(back.reason_of(id) == nullptr);
  // A later record's reason wins for the ids it names.
  back.add({7, 8}, "interrupted by SIGTERM\tbefore it started");  // (a tab in a reason is written as a space)
  auto again = Unstarted::parse(back.format());
  CHECK(*again.reason_of(7) == "interrupted by SIGTERM before it started");
  CHECK(*again.reason_of(3) == "interrupted by SIGINT before it started");
  // Removal splits ranges; a record left empty goes.
  CHECK(again.remove({4, 7, 8, 99999, 100000}));
  CHECK_FALSE(again.remove({4, 42}));
  CHECK(again.reason_of(4) == nullptr);
  CHECK(again.reason_of(3) != nullptr);
  CHECK(again.reason_of(5) != nullptr);
  CHECK(again.reason_of(7) == nullptr);
  CHECK(again.reason_of(8) == nullptr);
  CHECK(again.format().find("3,5,9\n") != std::string::npos);
  CHECK(again.remove({3, 5, 9}));
  CHECK(again.empty());
  // Damaged lines are skipped and counted: no tab, bad or unordered ranges, a line cut short.
  auto d = Unstarted::parse("# header\nno tab here\nr\t5-3\nr\t1,x\nr\t4,2\nr\t1-2,4\nr\t7");
  CHECK(d.damaged() == 5);
  CHECK(d.reason_of(2) != nullptr);
  CHECK(d.reason_of(7) == nullptr);
}
