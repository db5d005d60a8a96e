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

CACHE=${FATE_BUILDER_CACHE:-/var/cache/fate-builder}
RUN_DIR=$CACHE/run
# Whichever generation provision-engine.sh started last (see ENGINE there).
DOCKERD=$(cat "$RUN_DIR/dockerd.exe" 2>/dev/null || true)
DOCKERD=${DOCKERD:-$CACHE/engines/current/root/usr/sbin/dockerd}
ENGINE_ROOT=${DOCKERD%/usr/sbin/dockerd}
REGISTRY_BIN=/usr/bin/docker-registry
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

log() { printf '[stop-engine] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }

# Wait for a provisioning run in progress rather than stopping a half-started
# engine; stopping is the way out of a wedged state, so after a minute go on.
# provision-engine.sh calls us with its lock held when it switches generations.
if [ -d "$CACHE" ] && [ -z "${FATE_BUILDER_LOCK_HELD:-}" ]; then
  exec 9>"$CACHE/.provision.lock"
  if ! flock -n 9; then
    log "waiting for a provision-engine.sh run to finish (lock $CACHE/.provision.lock)"
    flock -w 60 9 || log "lock still held after 60s; stopping anyway"
  fi
fi

# pid from a pidfile, only if alive and running the expected executable.
live_pid() {
  local pidfile=$1 exe=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$exe" ] || return 1
  printf '%s\n' "$pid"
}

# stop NAME PID TIMEOUT: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 timeout=$3
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq $((timeout * 10))); do
    kill -0 "$pid" 2>/dev/null || { log "$name stopped"; return 0; }
    sleep 0.1
  done
  log "$name did not exit within ${timeout}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "$name (pid $pid) is still alive"
  return 1
}

rc=0
if pid=$(live_pid "$RUN_DIR/registry.pid" "$REGISTRY_BIN"); then
  stop_pid registry "$pid" 15 || rc=1
else
  log "registry: not running (no live pid in $RUN_DIR/registry.pid)"
fi
rm -f "$RUN_DIR/registry.pid"

# Read before stopping dockerd: dockerd removes the file on a clean shutdown.
containerd_pid=""
if [ -f "$MANAGED_CONTAINERD_PIDFILE" ]; then
  containerd_pid=$(cat "$MANAGED_CONTAINERD_PIDFILE" 2>/dev/null || true)
fi
if pid=$(live_pid "$RUN_DIR/dockerd.pid" "$DOCKERD"); then
  # dockerd waits for containers to stop (up to 10s each) before it exits.
  stop_pid dockerd "$pid" 60 || rc=1
  if [[ "$containerd_pid" =~ ^[0-9]+$ ]] && kill -0 "$containerd_pid" 2>/dev/null \
      && case "$(readlink "/proc/$containerd_pid/exe" 2>/dev/null || true)" in
           /usr/bin/containerd|"$ENGINE_ROOT"/usr/bin/containerd) true ;; *) false ;; esac \
      && tr '\0' ' ' <"/proc/$containerd_pid/cmdline" | grep -q '/var/run/docker/containerd/containerd.toml'; then
    stop_pid "containerd (managed by our dockerd)" "$containerd_pid" 15 || rc=1
  fi
else
  log "dockerd: not running (no live pid in $RUN_DIR/dockerd.pid)"
fi
rm -f "$RUN_DIR/dockerd.pid" "$RUN_DIR/engine.env" "$RUN_DIR/engine.name"

# Report anything of ours that survived (e.g. a wedged containerd-shim).
left=""
for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null || true)
  case "$exe" in
    "$CACHE"/engines/*) left="$left ${p#/proc/}($exe)" ;;
    /usr/bin/containerd|/usr/bin/containerd-shim*)
      if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q '/var/run/docker/containerd'; then
        left="$left ${p#/proc/}($exe)"
      fi ;;
  esac
done
if [ -n "$left" ]; then
  log "still running after stop:$left"
  rc=1
fi

if [ "$PURGE" = 1 ]; then
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
fi

[ "$rc" = 0 ] && log "nothing left running"
exit "$rc"
