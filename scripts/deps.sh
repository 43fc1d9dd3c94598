#!/usr/bin/env bash
# Installs xrun's build dependencies from Debian 12 packages (sudo when not root).
# Usage: scripts/deps.sh [extra apt packages...]
set -euo pipefail
pkgs="cmake g++ make pkg-config libyaml-cpp-dev libcli11-dev libfmt-dev libspdlog-dev nlohmann-json3-dev catch2 libxxhash-dev $*"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install:$missing" >&2; exit 1; }
  SUDO="sudo"
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >/tmp/xrun-apt.log 2>&1; then
  $SUDO apt-get update -q >>/tmp/xrun-apt.log 2>&1 || true
  $SUDO apt-get install -y -q --no-install-recommends $missing >>/tmp/xrun-apt.log 2>&1 \
    || { tail -20 /tmp/xrun-apt.log >&2; echo "deps.sh: apt-get install failed (log: /tmp/xrun-apt.log)" >&2; exit 1; }
fi
