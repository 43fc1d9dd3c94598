#!/usr/bin/env bash
# The pool and batch engines' parts as the unit tests alone reach them (issue 39): builds the
# unit tests with gcov instrumentation in build-coverage/, runs them (no process of xrun's own,
# no scheduler), and prints lcov's line coverage of each part. Not run by CI.
# Usage: scripts/test.sh --coverage (or scripts/coverage.sh). Target: the scheduler, slots and
# deadlines at 80% or more of their lines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh lcov
cmake -S . -B build-coverage -DCMAKE_BUILD_TYPE=Debug -DXRUN_BUILD_TESTS=ON \
  -DCMAKE_CXX_FLAGS="--coverage -O0" -DCMAKE_EXE_LINKER_FLAGS=--coverage >/dev/null
cmake --build build-coverage -j2 --target xrun_unit_tests
lcov --quiet --zerocounters --directory build-coverage
build-coverage/tests/xrun_unit_tests "[backend]" > build-coverage/unit.log 2>&1 || { tail -20 build-coverage/unit.log; exit 1; }
lcov --quiet --capture --directory build-coverage --output-file build-coverage/all.info 2>/dev/null
parts=(src/backend/pool/resources.cpp src/backend/pool/deadlines.cpp src/backend/pool/progress_line.cpp
       src/backend/batch/arrays.cpp src/backend/pool/engine.cpp)
lcov --quiet --extract build-coverage/all.info "${parts[@]/#/$PWD/}" --output-file build-coverage/parts.info 2>/dev/null
echo "coverage: line coverage of the engines' parts by the unit tests ([backend]) alone"
lcov --list build-coverage/parts.info
