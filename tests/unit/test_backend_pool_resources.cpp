// The pool's declared resources: taking, giving back, retaking after a restart, the variables.
#include <catch2/catch.hpp>

#include "xrun/backend/pool/resources.hpp"

using namespace xrun::backend::pool;
using V = std::vector<std::string>;

TEST_CASE("resources: the lowest free ids are taken, given back, and what does not fit waits", "[backend][pool]") {
  Resources r({{"gpu", {"0", "1", "2"}}, {"licence", {"0"}}});
  CHECK(r.fits({{"gpu", 2}}));
  CHECK_FALSE(r.fits({{"gpu", 4}}));
  CHECK_FALSE(r.fits({{"tpu", 1}}));  // not declared: never fits
  Held a = r.take({{"gpu", 2}, {"licence", 1}});
  CHECK(a.at("gpu") == std::vector<size_t>{0, 1});
  CHECK(a.at("licence") == std::vector<size_t>{0});
  CHECK_FALSE(r.fits({{"gpu", 2}}));
  CHECK_FALSE(r.fits({{"licence", 1}}));
  CHECK(r.fits({{"gpu", 1}}));
  Held b = r.take({{"gpu", 1}});
  CHECK(b.at("gpu") == std::vector<size_t>{2});
  r.give_back(a);
  CHECK(r.fits({{"gpu", 2}, {"licence", 1}}));
  CHECK(r.take({{"gpu", 1}}).at("gpu") == std::vector<size_t>{0});  // lowest free first
  CHECK(r.fits({}));  // no demand always fits
}

TEST_CASE("resources: the variables of what a task holds, and CUDA/ROCR devices for gpu", "[backend][pool]") {
  Resources r({{"gpu", {"3", "5"}}, {"scratch-disk", {"a", "b"}}});
  Held h = r.take({{"gpu", 2}, {"scratch-disk", 1}});
  CHECK(r.env(h) == V{"XRUN_RESOURCE_GPU=3,5", "CUDA_VISIBLE_DEVICES=3,5", "ROCR_VISIBLE_DEVICES=3,5",
                      "XRUN_RESOURCE_SCRATCH-DISK=a"});
  CHECK(r.env({}).empty());
}

TEST_CASE("resources: a restarted runner takes again what an adopted task was handed", "[backend][pool]") {
  Resources r({{"gpu", {"0", "1", "2"}}});
  Held h = r.retake("XRUN_SLOT=1 XRUN_RESOURCE_GPU=2,0 CUDA_VISIBLE_DEVICES=2,0");
  CHECK(h.at("gpu") == std::vector<size_t>{2, 0});
  CHECK(r.take({{"gpu", 1}}).at("gpu") == std::vector<size_t>{1});
  CHECK_FALSE(r.fits({{"gpu", 1}}));
  // Ids held already, unknown ids and unknown resources are left out.
  CHECK(r.retake("XRUN_RESOURCE_GPU=1,7 XRUN_RESOURCE_TPU=0 garbage").empty());
  r.give_back(h);
  CHECK(r.fits({{"gpu", 2}}));
}
