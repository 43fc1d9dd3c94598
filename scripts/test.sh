#!/usr/bin/env bash
# Builds xrun with its tests and runs all of them: unit, CLI end to end, conformance, the Slurm
# tests against a real single-node cluster started by scripts/slurm-cluster.sh, and the Docker
# tests against a real dockerd started by scripts/containers.sh.
# Installs what it needs from Debian packages (sudo when not root).
# `scripts/test.sh --coverage`: instead, the unit tests' line coverage of the engines' parts
# (scripts/coverage.sh; not part of CI).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--coverage" ]; then exec scripts/coverage.sh; fi
scripts/deps.sh parallel libfaketime
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
if [ -x scripts/containers.sh ]; then
  # The Docker tests read XRUN_DOCKER_UNAVAILABLE and report SKIPPED with it when no engine could
  # be started; in CI the engine must start. Podman is tried too; its case is SKIPPED without it.
  if ! CONTAINER_ENGINE=docker scripts/containers.sh > /tmp/xrun-docker-setup.log 2>&1; then
    export XRUN_DOCKER_UNAVAILABLE="no container engine could be started: $(tail -1 /tmp/xrun-docker-setup.log)"
    echo "test.sh: $XRUN_DOCKER_UNAVAILABLE" >&2
    [ "${CI:-}" = "true" ] && { cat /tmp/xrun-docker-setup.log >&2; exit 1; }
  fi
  CONTAINER_ENGINE=podman scripts/containers.sh > /tmp/xrun-podman-setup.log 2>&1 ||
    echo "test.sh: podman could not be set up (its test is SKIPPED): $(tail -1 /tmp/xrun-podman-setup.log)" >&2
fi
cd build
ctest -j2 --output-on-failure --timeout 900
