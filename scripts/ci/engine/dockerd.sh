#!/usr/bin/env bash
# dockerd.sh - the generation's dockerd on /var/run/docker.sock, with the containerd
# image store (without it Docker can neither `--load` a multi-platform image nor
# export build cache) and its own data root, so an engine never reads a store the
# other generation wrote.  Only one runs at a time: another generation that is running
# is stopped first.
set -euo pipefail
# shellcheck source=scripts/ci/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
engine_paths
# Our checks must talk to the daemon we manage, whatever the caller's env says.
export DOCKER_HOST=unix://$DOCKER_SOCK
unset DOCKER_CONTEXT
# The engine's own binaries (docker-proxy, docker-init) must come before the
# system ones; dockerd looks them up on PATH.
ENGINE_PATH=$ENGINE_ROOT/usr/sbin:$ENGINE_ROOT/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

docker_up() { docker info >/dev/null 2>&1; }
snapshotter_on() { docker info -f '{{.DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter'; }

switch_generation() {
  local running
  running=$(cat "$RUN_DIR/engine.name" 2>/dev/null || true)
  [ -n "$running" ] && [ "$running" != "$ENGINE" ] || return 0
  if pid=$(live_pid "$DOCKERD_PIDFILE" "$CACHE/engines/$running/root/usr/sbin/dockerd"); then
    log "the $running engine (dockerd pid $pid) is running; stopping it for the $ENGINE one"
    FATE_BUILDER_LOCK_HELD=1 "$(dirname "$0")/../stop-engine.sh" || die "could not stop the $running engine"
  fi
  rm -f "$RUN_DIR/engine.name"
}

already_up() {
  local pid=$1
  wait_until 60 1 "" docker_up \
    || { show_log_tail "$DOCKERD_LOG"; die "our dockerd (pid $pid) is running but not answering on $DOCKER_SOCK; run stop-engine.sh and retry"; }
  snapshotter_on || die "our dockerd (pid $pid) is not using the containerd image store"
  log "dockerd already running (pid $pid)"
}

foreign_daemon() {
  log "WARNING: a Docker daemon not started by this script serves $DOCKER_SOCK (server $(docker version -f '{{.Server.Version}}' 2>/dev/null)); ENGINE=$ENGINE is not what is tested"
  snapshotter_on || die "a Docker daemon not started by this script serves $DOCKER_SOCK without the containerd image store (features.containerd-snapshotter); stop it first"
  log "using a Docker daemon not started by this script (it has the containerd image store)"
}

start() {
  local pid rc=0
  mkdir -p "$DATA_ROOT"
  cat >"$RUN_DIR/daemon.json" <<JSON
{
  "features": { "containerd-snapshotter": true },
  "ip": "127.0.0.1",
  "insecure-registries": ["$REGISTRY_ADDR"]
}
JSON
  log "starting dockerd (log: $DOCKERD_LOG)"
  start_detached "$DOCKERD_PIDFILE" "$DOCKERD_LOG" \
    env PATH="$ENGINE_PATH" "$DOCKERD" \
      --config-file "$RUN_DIR/daemon.json" \
      --host "unix://$DOCKER_SOCK" \
      --data-root "$DATA_ROOT" \
      --pidfile "$RUN_DIR/dockerd.daemon.pid"
  pid=$(cat "$DOCKERD_PIDFILE")
  printf '%s\n' "$ENGINE" >"$RUN_DIR/engine.name"
  printf '%s\n' "$DOCKERD" >"$RUN_DIR/dockerd.exe"
  wait_until 90 1 "$pid" docker_up || rc=$?
  [ "$rc" != 2 ] || { show_log_tail "$DOCKERD_LOG"; die "dockerd exited during startup"; }
  [ "$rc" = 0 ] || { show_log_tail "$DOCKERD_LOG"; die "dockerd did not answer on $DOCKER_SOCK within 90s"; }
  snapshotter_on || { show_log_tail "$DOCKERD_LOG"; die "dockerd started without the containerd image store"; }
}

switch_generation
if pid=$(live_pid "$DOCKERD_PIDFILE" "$DOCKERD"); then
  already_up "$pid"
elif docker_up; then
  foreign_daemon
else
  start
fi
