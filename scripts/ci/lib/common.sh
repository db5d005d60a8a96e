# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are for the scripts that source this file
# common.sh - what every engine script shares: where things live, logging, and
# servers started detached and stopped by their own pid.  Sourced, never run.
#
# Env overrides:
#   ENGINE                      oldest | current (default current)
#   FATE_BUILDER_CACHE          state/cache root (default /var/cache/fate-builder)
#   FATE_BUILDER_REGISTRY_ADDR  registry listen address (default 127.0.0.1:5000)

SCRIPT_TAG=${SCRIPT_TAG:-$(basename "$0" .sh)}
CACHE=${FATE_BUILDER_CACHE:-/var/cache/fate-builder}
ENGINE=${ENGINE:-current}
RUN_DIR=$CACHE/run
BUSYBOX_DIR=$CACHE/busybox
REGISTRY_DIR=$CACHE/registry
REGISTRY_ADDR=${FATE_BUILDER_REGISTRY_ADDR:-127.0.0.1:5000}
REGISTRY_URL=http://$REGISTRY_ADDR
REGISTRY_BIN=/usr/bin/docker-registry
DOCKER_SOCK=/var/run/docker.sock
DOCKERD_PIDFILE=$RUN_DIR/dockerd.pid
DOCKERD_LOG=$RUN_DIR/dockerd.log
REGISTRY_PIDFILE=$RUN_DIR/registry.pid
REGISTRY_LOG=$RUN_DIR/registry.log
PROVISION_LOCK=$CACHE/.provision.lock

# Callers (CI, sudo, cron) may come with a minimal PATH; the machine's docker
# CLI and the sbin tools must still be found.
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

log() { printf '[%s] %s\n' "$SCRIPT_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$SCRIPT_TAG" "$*" >&2; exit 1; }
show_log_tail() {
  [ -f "$1" ] || return 0
  printf -- '----- last lines of %s -----\n' "$1" >&2
  tail -n "${2:-40}" "$1" >&2 || true
  printf -- '-----\n' >&2
}

require_root() { [ "$(id -u)" = 0 ] || die "must run as root ($*)"; }

# The generation's own paths; ENGINE must be oldest or current.
engine_paths() {
  case "$ENGINE" in
    oldest|current) ;;
    *) printf '[%s] ERROR: ENGINE=%s: use ENGINE=oldest or ENGINE=current\n' "$SCRIPT_TAG" "$ENGINE" >&2; exit 2 ;;
  esac
  ENGINE_DIR=$CACHE/engines/$ENGINE
  ENGINE_ROOT=$ENGINE_DIR/root
  DATA_ROOT=$CACHE/data/$ENGINE
  DOCKERD=$ENGINE_ROOT/usr/sbin/dockerd
  BUILDX=$ENGINE_ROOT/usr/libexec/docker/cli-plugins/docker-buildx
  # What was unpacked, package by package (one file each, holding its Debian version).
  ENGINE_PKGS_DIR=$ENGINE_DIR/pkgs
}

# "pkg version" pairs of what the generation unpacked, on one line.
engine_versions() {
  local p
  [ -d "$ENGINE_PKGS_DIR" ] || return 0
  for p in "$ENGINE_PKGS_DIR"/*; do
    [ -f "$p" ] && printf '%s %s  ' "${p##*/}" "$(cat "$p")"
  done
}

# pid from a pidfile, only if that process is alive and runs the expected exe
# (so a recycled pid is never mistaken for ours).
live_pid() {
  local pidfile=$1 exe=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$exe" ] || return 1
  printf '%s\n' "$pid"
}

# wait_until TRIES SLEEP PID CMD...: run CMD until it succeeds; fail early if PID
# (when not empty) has exited.  Returns 0 as soon as CMD succeeds.
wait_until() {
  local tries=$1 pause=$2 pid=$3
  shift 3
  for _ in $(seq "$tries"); do
    "$@" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
    sleep "$pause"
  done
  "$@"
}

# Starts "$@" detached in its own session; the wrapper writes its own pid and
# then execs, so the pidfile holds the server's pid.
start_detached() {
  local pidfile=$1 logfile=$2
  shift 2
  [ -f "$logfile" ] && mv -f "$logfile" "$logfile.prev"
  rm -f "$pidfile"
  # A server inheriting an open lock fd (ours is 9; a caller's `flock FILE cmd`
  # passes its own) would hold that lock for as long as it runs.
  # shellcheck disable=SC2016  # $$ and $@ are for the inner sh
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >"$logfile" 2>&1 \
    3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  wait_until 50 0.1 "" test -s "$pidfile" || die "failed to launch $1"
}

# stop_pid NAME PID TIMEOUT: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 timeout=$3
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  if wait_until $((timeout * 10)) 0.1 "" pid_gone "$pid"; then log "$name stopped"; return 0; fi
  log "$name did not exit within ${timeout}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_until 50 0.1 "" pid_gone "$pid" && return 0
  log "$name (pid $pid) is still alive"
  return 1
}
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# Takes the provisioning lock on fd 9 (two runs at once would race on apt state and
# on starting dockerd); waits up to $1 seconds, then runs $2 (die or log).
take_lock() {
  local timeout=$1 on_timeout=$2
  mkdir -p "$CACHE"
  exec 9>"$PROVISION_LOCK"
  flock -n 9 && return 0
  log "waiting for another engine script (lock $PROVISION_LOCK)"
  flock -w "$timeout" 9 || "$on_timeout" "the lock $PROVISION_LOCK is still held after ${timeout}s"
}
