#!/usr/bin/env bash
# Builds xrun with its tests and runs all of them: unit, CLI end to end, conformance, and the
# Slurm tests against a real single-node cluster started by scripts/slurm-cluster.sh.
# Installs what it needs from Debian packages (sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh parallel
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DXRUN_BUILD_TESTS=ON >/dev/null
cmake --build build -j2
if [ -x scripts/slurm-cluster.sh ]; then
  # The Slurm tests read XRUN_SLURM_UNAVAILABLE and report SKIPPED with it when no cluster
  # could be started (no root, no apt); in CI the cluster must start.
  if ! scripts/slurm-cluster.sh start > /tmp/xrun-slurm-setup.log 2>&1; then
    export XRUN_SLURM_UNAVAILABLE="the Slurm test cluster did not start: $(tail -1 /tmp/xrun-slurm-setup.log)"
    echo "test.sh: $XRUN_SLURM_UNAVAILABLE" >&2
    [ "${CI:-}" = "true" ] && { cat /tmp/xrun-slurm-setup.log >&2; exit 1; }
  fi
fi
cd build
ctest -j2 --output-on-failure --timeout 900
