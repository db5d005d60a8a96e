#!/usr/bin/env bash
# busybox.sh - busybox-static for amd64 and arm64 in $CACHE/busybox/<arch>/busybox:
# the tests build FROM-scratch images whose only content is busybox, since no base
# image can be pulled here.
set -euo pipefail
# shellcheck source=scripts/ci/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=scripts/ci/lib/apt.sh
. "$(dirname "$0")/../lib/apt.sh"
host_facts
SUITE=${ENGINE_SUITE:?ENGINE_SUITE is set by provision-engine.sh}

elf_machine() { od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' \n'; }
busybox_ok() {
  local f=$BUSYBOX_DIR/$1/busybox
  [ -x "$f" ] || return 1
  case "$1:$(elf_machine "$f")" in
    amd64:3e00|arm64:b700) return 0 ;;
    *) return 1 ;;
  esac
}

want=()
for a in amd64 arm64; do busybox_ok "$a" || want+=("$a"); done
[ "${#want[@]}" -gt 0 ] || exit 0
log "fetching busybox-static for ${want[*]}"
private_download "$SUITE" "${want[@]/#/busybox-static:}"
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
