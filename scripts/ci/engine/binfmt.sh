#!/usr/bin/env bash
# binfmt.sh - the binfmt_misc handler for the foreign architecture, with the F flag:
# arm64 RUN steps run under qemu-user-static, and the interpreter has to be opened at
# registration time so that it works inside the build's mount namespace.  There is
# usually no systemd here to register it, so this does it and checks that the kernel
# really has it.  Run before dockerd, so BuildKit sees the emulator from the start.
set -euo pipefail
# shellcheck source=scripts/ci/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=scripts/ci/lib/apt.sh
. "$(dirname "$0")/../lib/apt.sh"
host_facts

BINFMT=/proc/sys/fs/binfmt_misc
ENTRY=$BINFMT/qemu-$EMU
binfmt_ok() {
  [ -f "$ENTRY" ] && [ "$(cat "$BINFMT/status" 2>/dev/null)" = enabled ] \
    && grep -qx enabled "$ENTRY" && grep -q '^flags:.*F' "$ENTRY"
}

# From qemu's systemd-binfmt snippet, with the F flag added.
register_from_snippet() {
  local conf="" line
  # An entry without the F flag cannot be fixed in place.
  [ -e "$ENTRY" ] && echo -1 >"$ENTRY"
  for conf in "/etc/binfmt.d/qemu-$EMU.conf" "/usr/lib/binfmt.d/qemu-$EMU.conf"; do
    [ -f "$conf" ] && break
  done
  [ -f "$conf" ] || die "no binfmt definition for qemu-$EMU (is qemu-user-static installed?)"
  line=$(grep -m1 '^:' "$conf")
  case "${line##*:}" in *F*) ;; *) line="${line}F" ;; esac
  printf '%s' "$line" >"$BINFMT/register" || die "kernel refused binfmt registration: $line"
}

if ! [ -e "$BINFMT/register" ]; then
  mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
    || die "cannot mount binfmt_misc at $BINFMT (needed to run $EMU_PLATFORM RUN steps)"
fi
[ "$(cat "$BINFMT/status")" = enabled ] || echo 1 >"$BINFMT/status"
binfmt_ok && exit 0
# binfmt-support's way first (Debian 12); the systemd-binfmt snippet that qemu ships
# is the fallback (Debian 13 ships only that).
if command -v update-binfmts >/dev/null 2>&1 && [ -f "/usr/share/binfmts/qemu-$EMU" ]; then
  update-binfmts --enable "qemu-$EMU" >/dev/null 2>&1 || true
fi
binfmt_ok || register_from_snippet
binfmt_ok || die "binfmt handler qemu-$EMU is not registered with the F flag"
