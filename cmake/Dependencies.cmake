# All dependencies come from Debian 12 packages. A missing one stops configure with the
# apt package that provides it.
function(xrun_require pkg apt)
  find_package(${pkg} CONFIG QUIET)
  if(NOT ${pkg}_FOUND)
    message(FATAL_ERROR "xrun: dependency ${pkg} not found. Install it with: sudo apt-get install ${apt}")
  endif()
  message(STATUS "xrun: ${pkg} ${${pkg}_VERSION} from ${${pkg}_DIR}")
endfunction()

xrun_require(yaml-cpp libyaml-cpp-dev)
xrun_require(CLI11 libcli11-dev)
xrun_require(fmt libfmt-dev)
xrun_require(spdlog libspdlog-dev)
xrun_require(nlohmann_json nlohmann-json3-dev)
if(XRUN_BUILD_TESTS)
  xrun_require(Catch2 catch2)
  list(APPEND CMAKE_MODULE_PATH "${Catch2_DIR}")  # Catch.cmake: catch_discover_tests
endif()

# xxHash (XXH3, for task keys): Debian's libxxhash-dev ships a pkg-config file, no CMake config.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(XXHASH QUIET IMPORTED_TARGET libxxhash)
endif()
if(NOT TARGET PkgConfig::XXHASH)
  message(FATAL_ERROR "xrun: dependency libxxhash not found. Install it with: sudo apt-get install libxxhash-dev pkg-config")
endif()
message(STATUS "xrun: libxxhash ${XXHASH_VERSION}")

# yaml-cpp 0.7 on Debian exports the plain target `yaml-cpp` only.
if(NOT TARGET yaml-cpp::yaml-cpp)
  add_library(yaml-cpp::yaml-cpp INTERFACE IMPORTED)
  set_target_properties(yaml-cpp::yaml-cpp PROPERTIES INTERFACE_LINK_LIBRARIES yaml-cpp)
endif()
