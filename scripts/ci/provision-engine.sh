#!/usr/bin/env bash
# provision-engine.sh - bring up a real Docker engine for fate-builder's tests.
#
# Why this exists: the project's tests run `docker buildx bake` for real,
# including multi-platform (amd64 + arm64) builds, `--load` of multi-platform
# images and `--push` to a registry.  That needs more than a stock Debian 12
# machine offers, and the machines we test on cannot pull any image from a
# container registry.  So everything here comes from Debian's package archive:
#
#   * Docker engine + buildx, in one of two generations (ENGINE=...):
#       oldest   Debian trixie: docker.io 26.1.5 + docker-buildx 0.13.1, with the
#                machine's own containerd (the oldest engine fate-builder supports)
#       current  Debian sid: docker.io 28.5.2 + docker-buildx 0.29.1 +
#                containerd 2.1.9 (what users install today)
#     Debian 12's docker.io (20.10) is too old for the containerd image store.
#     The packages come through `apt-get download` with a *private* apt state
#     (own sources list, lists dir and cache) and are unpacked with `dpkg-deb -x`
#     into a private dir per generation, so the machine's apt/dpkg state and any
#     system docker stay untouched, on Debian 12 and 13 alike.  Each generation
#     has its own data root: an engine never reads a store the other one wrote.
#     Only one runs at a time, on /var/run/docker.sock; asking for the other
#     generation stops the running one first.
#   * dockerd runs with the containerd snapshotter: without it Docker can
#     neither `--load` a multi-platform image nor export build cache.
#   * qemu-user-static: arm64 RUN steps need binfmt handlers with the F flag
#     (the interpreter is opened at registration time, so it works inside the
#     build's mount namespace).  There is usually no systemd here to register
#     them, so we do it ourselves and verify the kernel really has them.
#   * docker-registry: a real registry on 127.0.0.1:5000 for push tests.
#   * busybox-static for amd64 and arm64: tests build tiny FROM-scratch images
#     whose only content is busybox, since no base image can be pulled.
#
# Idempotent: every step checks first, so a second run with everything up only
# reports.  Servers are started with setsid, bound to loopback/unix sockets
# only, and have pidfiles so that stop-engine.sh can stop exactly them.
#
# Env overrides:
#   ENGINE                      oldest | current (default current)
#   FATE_BUILDER_CACHE          state/cache root (default /var/cache/fate-builder)
#   FATE_BUILDER_REGISTRY_ADDR  registry listen address (default 127.0.0.1:5000)
#   FATE_BUILDER_DEBIAN_MIRROR  Debian mirror URL (default: taken from /etc/apt)
#   FATE_BUILDER_ENGINE_SUITE   Debian suite to take the engine from (default: by ENGINE)
#
# Tests can detect the engine with `docker info` on unix:///var/run/docker.sock
# and `curl -fsS http://127.0.0.1:5000/v2/_catalog`, or source
# "$FATE_BUILDER_CACHE/run/engine.env" which this script writes when all is up.
set -euo pipefail

START_TIME=${EPOCHREALTIME:-$(date +%s)}
CACHE=${FATE_BUILDER_CACHE:-/var/cache/fate-builder}
ENGINE=${ENGINE:-current}
case "$ENGINE" in
  oldest) DEFAULT_SUITE=trixie; ENGINE_PKGS=(docker.io docker-buildx) ;;
  current) DEFAULT_SUITE=sid; ENGINE_PKGS=(docker.io docker-buildx containerd) ;;
  *) printf '[provision-engine] ERROR: ENGINE=%s: use ENGINE=oldest or ENGINE=current\n' "$ENGINE" >&2; exit 2 ;;
esac
ENGINE_DIR=$CACHE/engines/$ENGINE
DATA_ROOT=$CACHE/data/$ENGINE
ENGINE_ROOT=$ENGINE_DIR/root
BUSYBOX_DIR=$CACHE/busybox
RUN_DIR=$CACHE/run
REGISTRY_DIR=$CACHE/registry
REGISTRY_ADDR=${FATE_BUILDER_REGISTRY_ADDR:-127.0.0.1:5000}
REGISTRY_URL=http://$REGISTRY_ADDR
DOCKER_SOCK=/var/run/docker.sock
DOCKERD=$ENGINE_ROOT/usr/sbin/dockerd
BUILDX=$ENGINE_ROOT/usr/libexec/docker/cli-plugins/docker-buildx
PLUGIN_DIR=${DOCKER_CONFIG:-${HOME:-/root}/.docker}/cli-plugins
# The engine's own binaries (docker-proxy, docker-init) must come before the
# system ones; dockerd looks them up on PATH.
ENGINE_PATH=$ENGINE_ROOT/usr/sbin:$ENGINE_ROOT/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Callers (CI, sudo, cron) may come with a minimal PATH; the machine's docker
# CLI and the sbin tools must still be found.
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Our checks must talk to the daemon we manage, whatever the caller's env says.
export DOCKER_HOST=unix://$DOCKER_SOCK
unset DOCKER_CONTEXT
export DEBIAN_FRONTEND=noninteractive

log() { printf '[provision-engine] %s\n' "$*" >&2; }
die() { printf '[provision-engine] ERROR: %s\n' "$*" >&2; exit 1; }
show_log_tail() {
  [ -f "$1" ] || return 0
  printf -- '----- last lines of %s -----\n' "$1" >&2
  tail -n "${2:-40}" "$1" >&2 || true
  printf -- '-----\n' >&2
}

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, mounts binfmt_misc, starts dockerd)"
[ -r /etc/os-release ] || die "/etc/os-release missing: cannot tell which Debian this is"
# shellcheck disable=SC1091
. /etc/os-release
[ "${ID:-}" = debian ] || die "only Debian 12/13 are supported (found ID=${ID:-unknown})"
CODENAME=${VERSION_CODENAME:?VERSION_CODENAME missing from /etc/os-release}
NATIVE_ARCH=$(dpkg --print-architecture)
case "$NATIVE_ARCH" in
  amd64) FOREIGN_ARCH=arm64; EMU=aarch64; EMU_PLATFORM=linux/arm64 ;;
  arm64) FOREIGN_ARCH=amd64; EMU=x86_64; EMU_PLATFORM=linux/amd64 ;;
  *) die "unsupported host architecture $NATIVE_ARCH (need amd64 or arm64)" ;;
esac
ENGINE_SUITE=${FATE_BUILDER_ENGINE_SUITE:-$DEFAULT_SUITE}
# One private apt state per suite: the lists of one suite must not answer for another.
APT_DIR=$CACHE/apt/$ENGINE_SUITE

mkdir -p "$CACHE" "$RUN_DIR"
# Two provisioning runs at once would race on apt state and on starting dockerd.
exec 9>"$CACHE/.provision.lock"
if ! flock -n 9; then
  log "waiting for another provision-engine.sh run (lock $CACHE/.provision.lock)"
  flock -w 900 9 || die "another provision-engine.sh run still holds $CACHE/.provision.lock after 900s"
fi

# ---------------------------------------------------------------------------
# System packages from the machine's own Debian.
# ---------------------------------------------------------------------------
SYSTEM_PKGS=(containerd runc iptables tini qemu-user-static binfmt-support docker-registry curl ca-certificates)
APT_UPDATED=0
NEWLY_INSTALLED=""

missing_system_pkgs() {
  local p st
  for p in "${SYSTEM_PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || printf '%s\n' "$p"
  done
}

ensure_system_pkgs() {
  local missing
  missing=$(missing_system_pkgs)
  [ -n "$missing" ] || return 0
  log "installing from the machine's Debian: ${missing//$'\n'/ }"
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get -o DPkg::Lock::Timeout=300 update -q >"$RUN_DIR/apt.log" 2>&1 || { show_log_tail "$RUN_DIR/apt.log"; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  # shellcheck disable=SC2086
  # Wait rather than fail when someone else's apt/dpkg run holds the lock.
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    $missing >>"$RUN_DIR/apt.log" 2>&1 || { show_log_tail "$RUN_DIR/apt.log"; die "apt-get install failed"; }
  NEWLY_INSTALLED=${missing//$'\n'/ }
  # On a machine with systemd the package starts its own registry on :5000
  # (all interfaces, stock config); ours must own that port on loopback.
  if grep -qx docker-registry <<<"$missing" && [ -d /run/systemd/system ] \
      && systemctl is-active --quiet docker-registry 2>/dev/null; then
    log "disabling the docker-registry system service the package just started (it would hold port 5000)"
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

# ---------------------------------------------------------------------------
# Private apt state, used for the engine debs and the busybox debs.
# ---------------------------------------------------------------------------
# Prints the URI of the machine's apt source that serves "$CODENAME" itself
# (not -updates/-security), from deb822 .sources or one-line .list files.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v want="$CODENAME" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " ") && uris != "") {
          split(uris, u, " "); print u[1]; found = 1; exit
        }
        types = ""; suites = ""; uris = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { line = $0; key = tolower(line); sub(/:.*/, "", key); val = line; sub(/^[^:]*:[ \t]*/, "", val) }
      key == "types" { types = val }
      key == "uris" { uris = val }
      key == "suites" { suites = val }
      key == "enabled" { enabled = tolower(val) }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v want="$CODENAME" '$1 == "deb" && $3 == want { print $2 }'
  done
}

APT_PRIVATE_READY=0
APT_OPTS=()
private_apt_update() {
  [ "$APT_PRIVATE_READY" = 0 ] || return 0
  local mirror keyring_opt=""
  mirror=${FATE_BUILDER_DEBIAN_MIRROR:-$(debian_mirror | head -n1)}
  [ -n "$mirror" ] || die "could not find a Debian mirror for '$CODENAME' in /etc/apt/sources.list{,.d/}; set FATE_BUILDER_DEBIAN_MIRROR"
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring_opt=" signed-by=/usr/share/keyrings/debian-archive-keyring.gpg"
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
  printf 'deb [arch=%s,%s%s] %s %s main\n' "$NATIVE_ARCH" "$FOREIGN_ARCH" "$keyring_opt" "$mirror" "$ENGINE_SUITE" >"$APT_DIR/sources.list"
  APT_OPTS=(
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Architecture=$NATIVE_ARCH"
    -o "APT::Architectures::=$NATIVE_ARCH" -o "APT::Architectures::=$FOREIGN_ARCH"
    -o "APT::Sandbox::User=root"
  )
  log "refreshing private apt lists ($ENGINE_SUITE, $NATIVE_ARCH+$FOREIGN_ARCH)"
  apt-get "${APT_OPTS[@]}" update -q >"$RUN_DIR/apt-private.log" 2>&1 \
    || { show_log_tail "$RUN_DIR/apt-private.log"; die "private apt-get update ($ENGINE_SUITE) failed"; }
  APT_PRIVATE_READY=1
}

# First existing file among the (glob-expanded) arguments.
first_file() {
  local f
  for f in "$@"; do [ -f "$f" ] && { printf '%s\n' "$f"; return 0; }; done
  return 1
}

# Downloads "$@" (pkg or pkg:arch) into $APT_DIR/debs (emptied first).
private_download() {
  private_apt_update
  rm -f "$APT_DIR/debs"/*.deb
  (cd "$APT_DIR/debs" && apt-get "${APT_OPTS[@]}" download -q "$@") >>"$RUN_DIR/apt-private.log" 2>&1 \
    || { show_log_tail "$RUN_DIR/apt-private.log"; die "apt-get download $* failed"; }
}

# ---------------------------------------------------------------------------
# Engine binaries (dockerd, docker-proxy, buildx, maybe the docker CLI).
# ---------------------------------------------------------------------------
ensure_engine_files() {
  local want=() p deb
  for p in "${ENGINE_PKGS[@]}"; do
    [ -f "$ENGINE_DIR/pkgs/$p" ] || want+=("$p")
  done
  [ -x "$DOCKERD" ] && [ -x "$BUILDX" ] || want=("${ENGINE_PKGS[@]}")
  # The machine may already have a (newer) CLI; only bring ours when there is none.
  if ! command -v docker >/dev/null 2>&1 && ! [ -f "$ENGINE_DIR/pkgs/docker-cli" ]; then
    want+=(docker-cli)
  fi
  if [ "${#want[@]}" -gt 0 ]; then
    log "fetching ${want[*]} from Debian $ENGINE_SUITE into $ENGINE_ROOT"
    private_download "${want[@]/%/:$NATIVE_ARCH}"
    mkdir -p "$ENGINE_ROOT" "$ENGINE_DIR/pkgs"
    for p in "${want[@]}"; do
      deb=$(first_file "$APT_DIR/debs/${p}_"*"_$NATIVE_ARCH.deb") || die "downloaded $p .deb not found in $APT_DIR/debs"
      dpkg-deb -x "$deb" "$ENGINE_ROOT"
      dpkg-deb -f "$deb" Version >"$ENGINE_DIR/pkgs/$p"
    done
    rm -f "$APT_DIR/debs"/*.deb
  fi
  # docker.io links docker-init to tini-static next to it; ours comes from
  # the machine's tini package instead.
  if [ "$(readlink "$ENGINE_ROOT/usr/bin/docker-init" 2>/dev/null || true)" != /usr/bin/tini-static ]; then
    ln -sfn /usr/bin/tini-static "$ENGINE_ROOT/usr/bin/docker-init"
  fi
  [ -x "$DOCKERD" ] || die "dockerd missing at $DOCKERD after unpacking"
  [ -x "$ENGINE_ROOT/usr/sbin/docker-proxy" ] || die "docker-proxy missing in $ENGINE_ROOT/usr/sbin"
  if ! command -v docker >/dev/null 2>&1; then
    [ -x "$ENGINE_ROOT/usr/bin/docker" ] || die "no docker CLI on PATH and none unpacked"
    if [ -e /usr/local/bin/docker ] && ! [ -L /usr/local/bin/docker ]; then
      die "/usr/local/bin/docker exists but is not a working docker CLI"
    fi
    ln -sfn "$ENGINE_ROOT/usr/bin/docker" /usr/local/bin/docker
    hash -r
    log "linked docker CLI: /usr/local/bin/docker -> $ENGINE_ROOT/usr/bin/docker"
  fi
}

# A plugin in the per-user dir wins over system dirs; the system dir copy keeps
# buildx visible to callers that point DOCKER_CONFIG somewhere else.
link_plugin() {
  local dest=$1/docker-buildx
  mkdir -p "$1"
  if [ -e "$dest" ] && ! [ -L "$dest" ]; then
    log "leaving existing non-symlink $dest alone"
    return 0
  fi
  [ "$(readlink "$dest" 2>/dev/null || true)" = "$BUILDX" ] || ln -sfn "$BUILDX" "$dest"
}
ensure_buildx_plugin() {
  link_plugin "$PLUGIN_DIR"
  link_plugin /usr/local/lib/docker/cli-plugins
}

# ---------------------------------------------------------------------------
# busybox-static for both architectures (test fixtures).
# ---------------------------------------------------------------------------
elf_machine() { od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' \n'; }
busybox_ok() {
  local f=$BUSYBOX_DIR/$1/busybox
  [ -x "$f" ] || return 1
  case "$1:$(elf_machine "$f")" in
    amd64:3e00|arm64:b700) return 0 ;;
    *) return 1 ;;
  esac
}
ensure_busybox() {
  local want=() a deb tmp bin
  for a in amd64 arm64; do busybox_ok "$a" || want+=("$a"); done
  [ "${#want[@]}" -gt 0 ] || return 0
  log "fetching busybox-static for ${want[*]}"
  private_download "${want[@]/#/busybox-static:}"
  for a in "${want[@]}"; do
    deb=$(first_file "$APT_DIR/debs/busybox-static_"*"_$a.deb") || die "busybox-static .deb for $a not found"
    tmp=$(mktemp -d "$CACHE/.busybox.XXXXXX")
    dpkg-deb -x "$deb" "$tmp"
    bin=$tmp/usr/bin/busybox
    [ -f "$bin" ] || bin=$tmp/bin/busybox
    [ -f "$bin" ] || { rm -rf "$tmp"; die "no busybox binary inside $deb"; }
    mkdir -p "$BUSYBOX_DIR/$a"
    install -m 0755 "$bin" "$BUSYBOX_DIR/$a/busybox.new"
    mv -f "$BUSYBOX_DIR/$a/busybox.new" "$BUSYBOX_DIR/$a/busybox"
    dpkg-deb -f "$deb" Version >"$BUSYBOX_DIR/$a/VERSION"
    rm -rf "$tmp"
    busybox_ok "$a" || die "$BUSYBOX_DIR/$a/busybox is not an $a ELF binary"
  done
  rm -f "$APT_DIR/debs"/*.deb
}

# ---------------------------------------------------------------------------
# binfmt_misc handler for the foreign architecture.
# ---------------------------------------------------------------------------
BINFMT=/proc/sys/fs/binfmt_misc
binfmt_ok() {
  local e=$BINFMT/qemu-$EMU
  [ -f "$e" ] && [ "$(cat "$BINFMT/status" 2>/dev/null)" = enabled ] \
    && grep -qx enabled "$e" && grep -q '^flags:.*F' "$e"
}
ensure_binfmt() {
  local e=$BINFMT/qemu-$EMU conf line
  if ! [ -e "$BINFMT/register" ]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
      || die "cannot mount binfmt_misc at $BINFMT (needed to run $EMU_PLATFORM RUN steps)"
  fi
  [ "$(cat "$BINFMT/status")" = enabled ] || echo 1 >"$BINFMT/status"
  binfmt_ok && return 0
  # binfmt-support's way first (Debian 12); the systemd-binfmt snippet that
  # qemu ships is the fallback (Debian 13 ships only that).
  if command -v update-binfmts >/dev/null 2>&1 && [ -f "/usr/share/binfmts/qemu-$EMU" ]; then
    update-binfmts --enable "qemu-$EMU" >/dev/null 2>&1 || true
  fi
  if ! binfmt_ok; then
    # An entry without the F flag cannot be fixed in place.
    [ -e "$e" ] && echo -1 >"$e"
    conf=""
    for conf in "/etc/binfmt.d/qemu-$EMU.conf" "/usr/lib/binfmt.d/qemu-$EMU.conf"; do
      [ -f "$conf" ] && break
    done
    [ -f "$conf" ] || die "no binfmt definition for qemu-$EMU (is qemu-user-static installed?)"
    line=$(grep -m1 '^:' "$conf")
    case "${line##*:}" in *F*) ;; *) line="${line}F" ;; esac
    printf '%s' "$line" >"$BINFMT/register" || die "kernel refused binfmt registration: $line"
  fi
  binfmt_ok || die "binfmt handler qemu-$EMU is not registered with the F flag"
}

# ---------------------------------------------------------------------------
# Servers.
# ---------------------------------------------------------------------------
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
  for _ in $(seq 50); do [ -s "$pidfile" ] && return 0; sleep 0.1; done
  die "failed to launch $1"
}

docker_up() { docker info >/dev/null 2>&1; }
snapshotter_on() {
  docker info -f '{{.DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter'
}

DOCKERD_PIDFILE=$RUN_DIR/dockerd.pid
DOCKERD_LOG=$RUN_DIR/dockerd.log
# The generation whose dockerd we started last; another one running is stopped first.
switch_generation() {
  local running pid
  running=$(cat "$RUN_DIR/engine.name" 2>/dev/null || true)
  [ -n "$running" ] && [ "$running" != "$ENGINE" ] || return 0
  if pid=$(live_pid "$DOCKERD_PIDFILE" "$CACHE/engines/$running/root/usr/sbin/dockerd"); then
    log "the $running engine (dockerd pid $pid) is running; stopping it for the $ENGINE one"
    FATE_BUILDER_LOCK_HELD=1 "$(dirname "$0")/stop-engine.sh" || die "could not stop the $running engine"
  fi
  rm -f "$RUN_DIR/engine.name"
}

ensure_dockerd() {
  local pid
  switch_generation
  if pid=$(live_pid "$DOCKERD_PIDFILE" "$DOCKERD"); then
    for _ in $(seq 60); do docker_up && break; sleep 1; done
    docker_up || { show_log_tail "$DOCKERD_LOG"; die "our dockerd (pid $pid) is running but not answering on $DOCKER_SOCK; run stop-engine.sh and retry"; }
    snapshotter_on || die "our dockerd (pid $pid) is not using the containerd image store"
    log "dockerd already running (pid $pid)"
    return 0
  fi
  if docker_up; then
    log "WARNING: a Docker daemon not started by this script serves $DOCKER_SOCK (server $(docker version -f '{{.Server.Version}}' 2>/dev/null)); ENGINE=$ENGINE is not what is tested"
    snapshotter_on || die "a Docker daemon not started by this script serves $DOCKER_SOCK without the containerd image store (features.containerd-snapshotter); stop it first"
    log "using a Docker daemon not started by this script (it has the containerd image store)"
    return 0
  fi
  mkdir -p "$DATA_ROOT"
  cat >"$RUN_DIR/daemon.json" <<EOF
{
  "features": { "containerd-snapshotter": true },
  "ip": "127.0.0.1",
  "insecure-registries": ["$REGISTRY_ADDR"]
}
EOF
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
  for _ in $(seq 90); do
    docker_up && break
    kill -0 "$pid" 2>/dev/null || { show_log_tail "$DOCKERD_LOG"; die "dockerd exited during startup"; }
    sleep 1
  done
  docker_up || { show_log_tail "$DOCKERD_LOG"; die "dockerd did not answer on $DOCKER_SOCK within 90s"; }
  snapshotter_on || { show_log_tail "$DOCKERD_LOG"; die "dockerd started without the containerd image store"; }
}

REGISTRY_BIN=/usr/bin/docker-registry
REGISTRY_PIDFILE=$RUN_DIR/registry.pid
REGISTRY_LOG=$RUN_DIR/registry.log
registry_up() { curl -fsS --max-time 3 "$REGISTRY_URL/v2/_catalog" >/dev/null 2>&1; }
ensure_registry() {
  local pid
  if pid=$(live_pid "$REGISTRY_PIDFILE" "$REGISTRY_BIN"); then
    for _ in $(seq 30); do registry_up && break; sleep 1; done
    registry_up || { show_log_tail "$REGISTRY_LOG"; die "our registry (pid $pid) is running but $REGISTRY_URL/v2/_catalog fails"; }
    log "registry already running (pid $pid)"
    return 0
  fi
  if registry_up; then
    log "using a registry at $REGISTRY_URL not started by this script"
    return 0
  fi
  mkdir -p "$REGISTRY_DIR/data"
  cat >"$REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: fate-builder-registry
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY_ADDR
  secret: $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  log "starting registry on $REGISTRY_ADDR (log: $REGISTRY_LOG)"
  start_detached "$REGISTRY_PIDFILE" "$REGISTRY_LOG" "$REGISTRY_BIN" serve "$REGISTRY_DIR/config.yml"
  pid=$(cat "$REGISTRY_PIDFILE")
  for _ in $(seq 60); do
    registry_up && break
    kill -0 "$pid" 2>/dev/null || { show_log_tail "$REGISTRY_LOG"; die "docker-registry exited during startup (is $REGISTRY_ADDR taken?)"; }
    sleep 0.5
  done
  registry_up || { show_log_tail "$REGISTRY_LOG"; die "registry did not answer $REGISTRY_URL/v2/_catalog within 30s"; }
}

# ---------------------------------------------------------------------------
ensure_system_pkgs
ensure_engine_files
ensure_buildx_plugin
ensure_busybox
ensure_binfmt     # before dockerd, so BuildKit sees the emulator from the start
ensure_dockerd
ensure_registry

docker buildx version >/dev/null 2>&1 || die "'docker buildx' does not work (plugin at $PLUGIN_DIR/docker-buildx)"
PLATFORMS=$(docker buildx inspect default 2>/dev/null | sed -n 's/^Platforms:[[:space:]]*//p' | head -n1)
grep -q "$EMU_PLATFORM" <<<"$PLATFORMS" || die "default builder does not offer $EMU_PLATFORM (platforms: ${PLATFORMS:-none})"

SERVER_VERSION=$(docker version -f '{{.Server.Version}}' 2>/dev/null || true)
BUILDX_VERSION=$(docker buildx version 2>/dev/null | awk '{print $2}')
cat >"$RUN_DIR/engine.env" <<EOF
# Written by provision-engine.sh when the engine was last confirmed up.
FATE_BUILDER_ENGINE=$ENGINE
FATE_BUILDER_SERVER_VERSION=$SERVER_VERSION
FATE_BUILDER_BUILDX_VERSION=$BUILDX_VERSION
DOCKER_HOST=unix://$DOCKER_SOCK
FATE_BUILDER_REGISTRY=$REGISTRY_ADDR
FATE_BUILDER_BUSYBOX_DIR=$BUSYBOX_DIR
FATE_BUILDER_BUSYBOX_AMD64=$BUSYBOX_DIR/amd64/busybox
FATE_BUILDER_BUSYBOX_ARM64=$BUSYBOX_DIR/arm64/busybox
EOF

# shellcheck disable=SC2016
cat <<EOF
fate-builder engine is up
  generation:      $ENGINE (Debian $ENGINE_SUITE: $(cd "$ENGINE_DIR/pkgs" && for p in *; do printf '%s %s  ' "$p" "$(cat "$p")"; done))
  docker server:   $(docker version -f '{{.Server.Version}}' 2>/dev/null) (socket $DOCKER_SOCK, client $(docker version -f '{{.Client.Version}}' 2>/dev/null))
  buildx:          $(docker buildx version 2>/dev/null)
  storage:         $(docker info -f '{{.Driver}} {{.DriverStatus}}' 2>/dev/null)
  builder:         default, platforms: $PLATFORMS
  binfmt:          qemu-$EMU $(grep -m1 '^flags:' "$BINFMT/qemu-$EMU") ($(head -n1 "$BINFMT/qemu-$EMU"))
  registry:        $REGISTRY_URL
  busybox dir:     $BUSYBOX_DIR
  busybox amd64:   $BUSYBOX_DIR/amd64/busybox
  busybox arm64:   $BUSYBOX_DIR/arm64/busybox
  env file:        $RUN_DIR/engine.env
  newly installed: ${NEWLY_INSTALLED:-nothing} $( [ "$APT_PRIVATE_READY" = 1 ] && echo "(+ private downloads)")
  elapsed:         $(awk -v a="$START_TIME" -v b="${EPOCHREALTIME:-$(date +%s)}" 'BEGIN { printf "%.1f", b - a }')s
EOF
