#!/usr/bin/env bash
# scripts/containers.sh - idempotent local container engine + tiny local image, no registry needed.
# Tested: Debian 12 firecracker VM (no systemd, cgroup v1 hybrid, no CAP_SYS_RESOURCE), root.
#   CONTAINER_ENGINE=docker (default): docker.io 20.10.24 from apt; dockerd started by hand
#       (--iptables=false --bridge=none, cgroupfs, overlay2 or vfs), socket /var/run/docker.sock,
#       PID recorded in /run/docker-local/dockerd.owned.pid (stop-containers.sh stops only that).
#   CONTAINER_ENGINE=podman: podman 4.3.1 + runc from apt (daemonless); needs the
#       containers.conf drop-in written below (crun fails on this host's hybrid cgroups,
#       and the default rlimits cannot be raised here).
# Then builds IMAGE (default xrun-test:latest) from busybox-static with '<engine> import' and
# proves '<engine> run --rm IMAGE /bin/sh -c "echo ok"' prints ok. Re-running is a no-op.
set -euo pipefail
ENGINE=${CONTAINER_ENGINE:-docker}
IMAGE=${XRUN_TEST_IMAGE:-xrun-test:latest}
RUN_DIR=/run/docker-local
LOG=/var/log/docker-local.log
SOCK=/var/run/docker.sock

log() { echo "[containers.sh] $*"; }
die() { echo "[containers.sh] ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
[ "$(id -u)" = 0 ] || die "must run as root"

apt_install() {  # apt_install PKG... (only if a package is missing)
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  local t0; t0=$(now); log "apt-get install ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/containers.sh-apt.log 2>&1; then
    apt-get update -q >>/tmp/containers.sh-apt.log 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/containers.sh-apt.log 2>&1 \
      || { tail -20 /tmp/containers.sh-apt.log >&2; die "apt-get install ${missing[*]} failed"; }
  fi
  log "apt install took $(secs "$t0" "$(now)") s"
}

make_rootfs_tar() {  # prints path of a tarball holding a busybox-static rootfs
  local d; d=$(mktemp -d /tmp/xrun-rootfs.XXXXXX)
  mkdir -p "$d/root/bin" "$d/root/etc" "$d/root/tmp" "$d/root/proc" "$d/root/sys" "$d/root/dev" "$d/root/root"
  chmod 1777 "$d/root/tmp"
  cp /bin/busybox "$d/root/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$d/root/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$d/root/etc/passwd"
  echo 'root:x:0:' > "$d/root/etc/group"
  tar -C "$d/root" -cf "$d/rootfs.tar" .
  echo "$d/rootfs.tar"
}

alive() {  # alive NAME PIDFILE
  local f=$2 pid; [ -s "$f" ] || return 1; pid=$(tr -dc 0-9 < "$f")
  [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$1" ] && echo "$pid"
}

case "$ENGINE" in
docker)
  apt_install docker.io busybox-static      # (apt removes podman-docker if present: they conflict)
  # NB: this host also has a standalone docker CLI in /usr/local/bin (28.x); it talks to this daemon fine.
  DOCKER="docker"; command -v docker >/dev/null || DOCKER=/usr/bin/docker
  mkdir -p "$RUN_DIR"
  if $DOCKER -H "unix://$SOCK" info >/dev/null 2>&1; then
    alive dockerd "$RUN_DIR/dockerd.owned.pid" >/dev/null && log "dockerd (ours) already running" \
      || log "a docker daemon not started by this script answers on $SOCK - using it"
  else
    pgrep -x dockerd >/dev/null && die "a dockerd is running (pid $(pgrep -x dockerd | tr '\n' ' ')) but $SOCK does not answer"
    # stale socket or dangling symlink (podman-docker leaves /run/docker.sock -> /run/podman/podman.sock)
    if [ -e "$SOCK" ] || [ -L "$SOCK" ]; then rm -f "$SOCK"; fi
    t0=$(now); started=0
    for drv in ${DOCKER_STORAGE_DRIVER:-overlay2 vfs}; do
      rm -f "$RUN_DIR/dockerd.pid"
      setsid dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver="$drv" \
        --exec-opt native.cgroupdriver=cgroupfs --pidfile "$RUN_DIR/dockerd.pid" \
        -H "unix://$SOCK" >>"$LOG" 2>&1 </dev/null &
      pid=$!
      for _ in $(seq 150); do
        $DOCKER -H "unix://$SOCK" info >/dev/null 2>&1 && { started=1; break; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      [ $started = 1 ] && break
      log "dockerd with storage driver $drv failed; see $LOG"; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    done
    [ $started = 1 ] || die "dockerd could not be started; tail of $LOG: $(tail -5 "$LOG")"
    alive dockerd "$RUN_DIR/dockerd.pid" >/dev/null && pid=$(cat "$RUN_DIR/dockerd.pid")
    echo "$pid" > "$RUN_DIR/dockerd.owned.pid"
    log "dockerd started (pid $pid, storage $drv) in $(secs "$t0" "$(now)") s"
  fi
  export DOCKER_HOST="unix://$SOCK"
  if ! $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then
    tar=$(make_rootfs_tar)
    $DOCKER import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' "$tar" "$IMAGE" >/dev/null
    rm -rf "$(dirname "$tar")"; log "imported $IMAGE"
  fi
  out=$($DOCKER run --rm --pull=never "$IMAGE" /bin/sh -c 'echo ok')
  set +e; $DOCKER run --rm --pull=never "$IMAGE" /bin/sh -c 'exit 7'; rc=$?; set -e
  ;;
podman)
  apt_install podman runc busybox-static
  mkdir -p /etc/containers/containers.conf.d
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
  conf="[containers]
# podman's default rlimits (nofile=1048576, nproc=4194304) cannot be set without CAP_SYS_RESOURCE
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=32768:32768\"]
netns = \"none\"
[engine]
# crun 1.8.1 refuses this host's hybrid cgroups ('cgroups in hybrid mode not supported'); runc works
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\""
  f=/etc/containers/containers.conf.d/50-local-sandbox.conf
  [ -f "$f" ] && [ "$(cat "$f")" = "$conf" ] || { printf '%s\n' "$conf" > "$f"; log "wrote $f"; }
  if ! podman image exists "$IMAGE"; then
    tar=$(make_rootfs_tar)
    podman import -q --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' "$tar" "$IMAGE" >/dev/null
    rm -rf "$(dirname "$tar")"; log "imported $IMAGE"
  fi
  out=$(podman run --rm --pull=never "$IMAGE" /bin/sh -c 'echo ok')
  set +e; podman run --rm --pull=never "$IMAGE" /bin/sh -c 'exit 7'; rc=$?; set -e
  ;;
*) die "CONTAINER_ENGINE must be docker or podman" ;;
esac

[ "$out" = ok ] || die "'$ENGINE run --rm $IMAGE /bin/sh -c \"echo ok\"' printed '$out'"
[ "$rc" = 7 ] || die "exit code not propagated by $ENGINE run (got $rc, want 7)"
echo "$out"
log "$ENGINE run --rm $IMAGE works (output ok, exit codes propagated)"
