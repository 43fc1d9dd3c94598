#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine: install the dependencies, build (Release) to
# build/xrun, and run examples/quickstart.yml on the local pool.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DXRUN_BUILD_TESTS=OFF >/dev/null
cmake --build build -j2 --target xrun
build/xrun run examples/quickstart.yml
build/xrun logs latest report/0
