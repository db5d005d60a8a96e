#!/usr/bin/env bash
# engine-files.sh - the engine generation's own binaries (dockerd, docker-proxy,
# buildx, containerd for `current`), fetched with the private apt state and unpacked
# with `dpkg-deb -x` into $CACHE/engines/$ENGINE/root, so the machine's apt/dpkg state
# and any system docker stay untouched.  Each package's Debian version is recorded in
# $CACHE/engines/$ENGINE/pkgs/<pkg>: Debian's sid moves on, so `current` is whatever
# sid had the day it was unpacked, and that record (printed by provision-engine.sh and
# kept in engine.env) is the truth, not a comment.  Then buildx is linked where the
# docker CLI looks for plugins.
set -euo pipefail
# shellcheck source=scripts/ci/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=scripts/ci/lib/apt.sh
. "$(dirname "$0")/../lib/apt.sh"
engine_paths
host_facts
case "$ENGINE" in
  oldest) ENGINE_PKGS=(docker.io docker-buildx) ;;
  current) ENGINE_PKGS=(docker.io docker-buildx containerd) ;;
esac
SUITE=${ENGINE_SUITE:?ENGINE_SUITE is set by provision-engine.sh}
PLUGIN_DIR=${DOCKER_CONFIG:-${HOME:-/root}/.docker}/cli-plugins

unpack() {
  local want=() p deb
  for p in "${ENGINE_PKGS[@]}"; do [ -f "$ENGINE_PKGS_DIR/$p" ] || want+=("$p"); done
  [ -x "$DOCKERD" ] && [ -x "$BUILDX" ] || want=("${ENGINE_PKGS[@]}")
  # The machine may already have a (newer) CLI; only bring ours when there is none.
  if ! command -v docker >/dev/null 2>&1 && ! [ -f "$ENGINE_PKGS_DIR/docker-cli" ]; then
    want+=(docker-cli)
  fi
  [ "${#want[@]}" -gt 0 ] || return 0
  log "fetching ${want[*]} from Debian $SUITE into $ENGINE_ROOT"
  private_download "$SUITE" "${want[@]/%/:$NATIVE_ARCH}"
  mkdir -p "$ENGINE_ROOT" "$ENGINE_PKGS_DIR"
  for p in "${want[@]}"; do
    deb=$(first_file "$APT_DIR/debs/${p}_"*"_$NATIVE_ARCH.deb") || die "downloaded $p .deb not found in $APT_DIR/debs"
    dpkg-deb -x "$deb" "$ENGINE_ROOT"
    dpkg-deb -f "$deb" Version >"$ENGINE_PKGS_DIR/$p"
    log "unpacked $p $(cat "$ENGINE_PKGS_DIR/$p") (Debian $SUITE)"
  done
  rm -f "$APT_DIR/debs"/*.deb
}

link_cli() {
  # docker.io links docker-init to tini-static next to it; ours comes from
  # the machine's tini package instead.
  if [ "$(readlink "$ENGINE_ROOT/usr/bin/docker-init" 2>/dev/null || true)" != /usr/bin/tini-static ]; then
    ln -sfn /usr/bin/tini-static "$ENGINE_ROOT/usr/bin/docker-init"
  fi
  [ -x "$DOCKERD" ] || die "dockerd missing at $DOCKERD after unpacking"
  [ -x "$ENGINE_ROOT/usr/sbin/docker-proxy" ] || die "docker-proxy missing in $ENGINE_ROOT/usr/sbin"
  command -v docker >/dev/null 2>&1 && return 0
  [ -x "$ENGINE_ROOT/usr/bin/docker" ] || die "no docker CLI on PATH and none unpacked"
  if [ -e /usr/local/bin/docker ] && ! [ -L /usr/local/bin/docker ]; then
    die "/usr/local/bin/docker exists but is not a working docker CLI"
  fi
  ln -sfn "$ENGINE_ROOT/usr/bin/docker" /usr/local/bin/docker
  log "linked docker CLI: /usr/local/bin/docker -> $ENGINE_ROOT/usr/bin/docker"
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

unpack
link_cli
link_plugin "$PLUGIN_DIR"
link_plugin /usr/local/lib/docker/cli-plugins
