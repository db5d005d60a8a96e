#!/usr/bin/env bash
# system-packages.sh - the packages the engine needs from the machine's own Debian
# (containerd, runc, QEMU, the registry, ...).  Writes what it installed to
# $RUN_DIR/newly-installed for provision-engine.sh's summary.
set -euo pipefail
# shellcheck source=scripts/ci/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
export DEBIAN_FRONTEND=noninteractive

# mmdebstrap makes the real builds' base-image stand-ins (scripts/real/python-image.sh).
SYSTEM_PKGS=(containerd runc iptables tini qemu-user-static binfmt-support docker-registry curl ca-certificates mmdebstrap)

missing=()
for p in "${SYSTEM_PKGS[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

log "installing from the machine's Debian: ${missing[*]}"
# Wait rather than fail when someone else's apt/dpkg run holds the lock.
apt-get -o DPkg::Lock::Timeout=300 update -q >"$RUN_DIR/apt.log" 2>&1 \
  || { show_log_tail "$RUN_DIR/apt.log"; die "apt-get update failed"; }
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" >>"$RUN_DIR/apt.log" 2>&1 || { show_log_tail "$RUN_DIR/apt.log"; die "apt-get install failed"; }
printf '%s\n' "${missing[*]}" >"$RUN_DIR/newly-installed"

# On a machine with systemd the package starts its own registry on :5000
# (all interfaces, stock config); ours must own that port on loopback.
if printf '%s\n' "${missing[@]}" | grep -qx docker-registry && [ -d /run/systemd/system ] \
    && systemctl is-active --quiet docker-registry 2>/dev/null; then
  log "disabling the docker-registry system service the package just started (it would hold port 5000)"
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
