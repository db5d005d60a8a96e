#!/usr/bin/env bash
# stop-engine.sh - stop the servers that provision-engine.sh started.
#
# Why by pidfile only: the machine is shared (other sessions, a system docker,
# other registries may be running), so we stop exactly the processes our
# pidfiles name, after checking that each pid still runs the binary we
# started (a recycled pid must never be killed).  dockerd stops the containerd
# it manages itself; that containerd is only signalled here if it outlives it.
#
# Installed packages, unpacked binaries, busybox fixtures, binfmt handlers and
# registry data are left in place so the next provision-engine.sh run is fast.
# `--purge` additionally removes everything under $FATE_BUILDER_CACHE and the
# buildx/docker symlinks pointing into it (packages installed with apt stay).
set -euo pipefail
# shellcheck source=scripts/ci/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
SCRIPT_TAG=stop-engine

# Whichever generation provision-engine.sh started last.
DOCKERD=$(cat "$RUN_DIR/dockerd.exe" 2>/dev/null || true)
DOCKERD=${DOCKERD:-$CACHE/engines/current/root/usr/sbin/dockerd}
ENGINE_ROOT=${DOCKERD%/usr/sbin/dockerd}
# Where dockerd (default exec-root) keeps the pid of the containerd it manages.
MANAGED_CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid
PURGE=0

for arg in "$@"; do
  case "$arg" in
    --purge) PURGE=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }

# Wait for a provisioning run in progress rather than stopping a half-started
# engine; stopping is the way out of a wedged state, so after a minute go on.
# provision-engine.sh's dockerd job calls us with its lock held when it switches generations.
if [ -d "$CACHE" ] && [ -z "${FATE_BUILDER_LOCK_HELD:-}" ]; then
  take_lock 60 log
fi

# A containerd that dockerd started and that outlived it (checked by exe and config).
managed_containerd_alive() {
  local pid=$1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  case "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" in
    /usr/bin/containerd|"$ENGINE_ROOT"/usr/bin/containerd) ;;
    *) return 1 ;;
  esac
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q '/var/run/docker/containerd/containerd.toml'
}

# Anything of ours that survived (e.g. a wedged containerd-shim).
survivors() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null || true)
    case "$exe" in
      "$CACHE"/engines/*) printf ' %s(%s)' "${p#/proc/}" "$exe" ;;
      /usr/bin/containerd|/usr/bin/containerd-shim*)
        if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q '/var/run/docker/containerd'; then
          printf ' %s(%s)' "${p#/proc/}" "$exe"
        fi ;;
    esac
  done
}

purge() {
  local link
  for link in "${DOCKER_CONFIG:-${HOME:-/root}/.docker}/cli-plugins/docker-buildx" \
              /usr/local/lib/docker/cli-plugins/docker-buildx /usr/local/bin/docker; do
    case "$(readlink "$link" 2>/dev/null || true)" in
      "$CACHE"/engines/*) rm -f "$link"; log "removed $link" ;;
    esac
  done
  if [ -d "$CACHE" ]; then
    rm -rf "$CACHE"
    log "removed $CACHE"
  fi
}

rc=0
if pid=$(live_pid "$REGISTRY_PIDFILE" "$REGISTRY_BIN"); then
  stop_pid registry "$pid" 15 || rc=1
else
  log "registry: not running (no live pid in $REGISTRY_PIDFILE)"
fi
rm -f "$REGISTRY_PIDFILE"

# Read before stopping dockerd: dockerd removes the file on a clean shutdown.
containerd_pid=$(cat "$MANAGED_CONTAINERD_PIDFILE" 2>/dev/null || true)
if pid=$(live_pid "$DOCKERD_PIDFILE" "$DOCKERD"); then
  # dockerd waits for containers to stop (up to 10s each) before it exits.
  stop_pid dockerd "$pid" 60 || rc=1
  if managed_containerd_alive "$containerd_pid"; then
    stop_pid "containerd (managed by our dockerd)" "$containerd_pid" 15 || rc=1
  fi
else
  log "dockerd: not running (no live pid in $DOCKERD_PIDFILE)"
fi
rm -f "$DOCKERD_PIDFILE" "$RUN_DIR/engine.env" "$RUN_DIR/engine.name"

left=$(survivors)
if [ -n "$left" ]; then
  log "still running after stop:$left"
  rc=1
fi
[ "$PURGE" = 1 ] && purge
[ "$rc" = 0 ] && log "nothing left running"
exit "$rc"
