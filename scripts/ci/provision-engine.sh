#!/usr/bin/env bash
# provision-engine.sh - bring up a real Docker engine for fate-builder's tests.
#
# Why this exists: the tests run `docker buildx bake` for real, including
# multi-platform (amd64 + arm64) builds, `--load` of multi-platform images and
# `--push` to a registry, on machines that cannot pull any image from a container
# registry.  So everything comes from Debian's package archive, one job per script
# under engine/ (the shared pieces are in lib/):
#
#   engine/system-packages.sh  containerd, runc, QEMU, docker-registry, ... from the machine's Debian
#   engine/engine-files.sh     the generation's dockerd + buildx, unpacked privately, versions recorded
#   engine/busybox.sh          busybox-static for amd64 and arm64 (the test images' only content)
#   engine/binfmt.sh           the qemu binfmt handler with the F flag (arm64 RUN steps)
#   engine/dockerd.sh          dockerd with the containerd image store, one generation at a time
#   engine/registry.sh         a registry on 127.0.0.1:5000
#
# Generations (ENGINE=...): oldest = Debian trixie's docker.io + docker-buildx with the
# machine's containerd (the oldest engine fate-builder supports); current = Debian sid's
# docker.io + docker-buildx + containerd (what users install today).  sid moves on: the
# versions actually unpacked are recorded per package and printed below, and kept in
# engine.env as FATE_BUILDER_ENGINE_PACKAGES.
#
# Idempotent: every job checks first, so a second run with everything up only reports.
# Servers are started with setsid, bound to loopback/unix sockets only, and have
# pidfiles so that stop-engine.sh can stop exactly them.
#
# Env overrides: ENGINE (oldest | current, default current), FATE_BUILDER_CACHE,
# FATE_BUILDER_REGISTRY_ADDR, FATE_BUILDER_DEBIAN_MIRROR, FATE_BUILDER_ENGINE_SUITE
# (the Debian suite to take the engine from; default by ENGINE).
#
# Tests detect the engine by sourcing "$FATE_BUILDER_CACHE/run/engine.env", which this
# script writes when all is up.
set -euo pipefail
START_TIME=${EPOCHREALTIME:-$(date +%s)}
HERE=$(dirname "$0")
# shellcheck source=scripts/ci/lib/common.sh
. "$HERE/lib/common.sh"
# shellcheck source=scripts/ci/lib/apt.sh
. "$HERE/lib/apt.sh"
engine_paths
require_root "installs packages, mounts binfmt_misc, starts dockerd"
host_facts
case "$ENGINE" in oldest) DEFAULT_SUITE=trixie ;; current) DEFAULT_SUITE=sid ;; esac
export ENGINE ENGINE_SUITE=${FATE_BUILDER_ENGINE_SUITE:-$DEFAULT_SUITE} PROVISION_RUN_ID=$$
export DOCKER_HOST=unix://$DOCKER_SOCK
unset DOCKER_CONTEXT

mkdir -p "$RUN_DIR"
take_lock 900 die
rm -f "$RUN_DIR/newly-installed" "$RUN_DIR/private-downloads"

for job in system-packages engine-files busybox binfmt dockerd registry; do
  SCRIPT_TAG=provision-engine "$HERE/engine/$job.sh"
done

docker buildx version >/dev/null 2>&1 || die "'docker buildx' does not work (plugin $BUILDX)"
PLATFORMS=$(docker buildx inspect default 2>/dev/null | sed -n 's/^Platforms:[[:space:]]*//p' | head -n1)
grep -q "$EMU_PLATFORM" <<<"$PLATFORMS" || die "default builder does not offer $EMU_PLATFORM (platforms: ${PLATFORMS:-none})"

SERVER_VERSION=$(docker version -f '{{.Server.Version}}' 2>/dev/null || true)
BUILDX_VERSION=$(docker buildx version 2>/dev/null | awk '{print $2}')
PACKAGES=$(engine_versions)
cat >"$RUN_DIR/engine.env" <<ENV
# Written by provision-engine.sh when the engine was last confirmed up.
FATE_BUILDER_ENGINE=$ENGINE
FATE_BUILDER_ENGINE_SUITE=$ENGINE_SUITE
FATE_BUILDER_ENGINE_PACKAGES="${PACKAGES%  }"
FATE_BUILDER_SERVER_VERSION=$SERVER_VERSION
FATE_BUILDER_BUILDX_VERSION=$BUILDX_VERSION
DOCKER_HOST=unix://$DOCKER_SOCK
FATE_BUILDER_REGISTRY=$REGISTRY_ADDR
FATE_BUILDER_BUSYBOX_DIR=$BUSYBOX_DIR
FATE_BUILDER_BUSYBOX_AMD64=$BUSYBOX_DIR/amd64/busybox
FATE_BUILDER_BUSYBOX_ARM64=$BUSYBOX_DIR/arm64/busybox
ENV

BINFMT_ENTRY=/proc/sys/fs/binfmt_misc/qemu-$EMU
NEWLY=$(cat "$RUN_DIR/newly-installed" 2>/dev/null || true)
cat <<EOF
fate-builder engine is up
  generation:      $ENGINE (Debian $ENGINE_SUITE: ${PACKAGES%  })
  docker server:   $SERVER_VERSION (socket $DOCKER_SOCK, client $(docker version -f '{{.Client.Version}}' 2>/dev/null))
  buildx:          $(docker buildx version 2>/dev/null)
  storage:         $(docker info -f '{{.Driver}} {{.DriverStatus}}' 2>/dev/null)
  builder:         default, platforms: $PLATFORMS
  binfmt:          qemu-$EMU $(grep -m1 '^flags:' "$BINFMT_ENTRY") ($(head -n1 "$BINFMT_ENTRY"))
  registry:        $REGISTRY_URL
  busybox amd64:   $BUSYBOX_DIR/amd64/busybox
  busybox arm64:   $BUSYBOX_DIR/arm64/busybox
  env file:        $RUN_DIR/engine.env
  newly installed: ${NEWLY:-nothing} $( [ -f "$RUN_DIR/private-downloads" ] && echo "(+ private downloads)")
  elapsed:         $(awk -v a="$START_TIME" -v b="${EPOCHREALTIME:-$(date +%s)}" 'BEGIN { printf "%.1f", b - a }')s
EOF
