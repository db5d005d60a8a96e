# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are for the scripts that source this file
# apt.sh - a private apt state (own sources list, lists and cache per Debian suite)
# for downloading .debs of another suite without touching the machine's apt/dpkg
# state.  Sourced after common.sh, never run.
#
# Env overrides:
#   FATE_BUILDER_DEBIAN_MIRROR  Debian mirror URL (default: taken from /etc/apt)

# The machine's Debian and architectures; sets CODENAME, NATIVE_ARCH, FOREIGN_ARCH, EMU, EMU_PLATFORM.
host_facts() {
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
}

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

# private_apt SUITE: sets APT_DIR and APT_OPTS for that suite and refreshes its lists
# once per provisioning run (PROVISION_RUN_ID, set by provision-engine.sh).
private_apt() {
  local suite=$1 mirror keyring_opt=""
  APT_DIR=$CACHE/apt/$suite
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
  local stamp=$APT_DIR/.updated-by-${PROVISION_RUN_ID:-$$}
  [ -f "$stamp" ] && return 0
  mirror=${FATE_BUILDER_DEBIAN_MIRROR:-$(debian_mirror | head -n1)}
  [ -n "$mirror" ] || die "could not find a Debian mirror for '$CODENAME' in /etc/apt/sources.list{,.d/}; set FATE_BUILDER_DEBIAN_MIRROR"
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring_opt=" signed-by=/usr/share/keyrings/debian-archive-keyring.gpg"
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
  printf 'deb [arch=%s,%s%s] %s %s main\n' "$NATIVE_ARCH" "$FOREIGN_ARCH" "$keyring_opt" "$mirror" "$suite" >"$APT_DIR/sources.list"
  log "refreshing private apt lists ($suite, $NATIVE_ARCH+$FOREIGN_ARCH)"
  apt-get "${APT_OPTS[@]}" update -q >"$RUN_DIR/apt-private.log" 2>&1 \
    || { show_log_tail "$RUN_DIR/apt-private.log"; die "private apt-get update ($suite) failed"; }
  rm -f "$APT_DIR"/.updated-by-*
  touch "$stamp" "$RUN_DIR/private-downloads"
}

# First existing file among the (glob-expanded) arguments.
first_file() {
  local f
  for f in "$@"; do [ -f "$f" ] && { printf '%s\n' "$f"; return 0; }; done
  return 1
}

# private_download SUITE PKG[:ARCH]...: into $APT_DIR/debs (emptied first).
private_download() {
  private_apt "$1"
  shift
  rm -f "$APT_DIR/debs"/*.deb
  (cd "$APT_DIR/debs" && apt-get "${APT_OPTS[@]}" download -q "$@") >>"$RUN_DIR/apt-private.log" 2>&1 \
    || { show_log_tail "$RUN_DIR/apt-private.log"; die "apt-get download $* failed"; }
}
