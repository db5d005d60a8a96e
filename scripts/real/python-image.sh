#!/usr/bin/env bash
# python-image.sh VERSION... - the one stand-in of the real builds: python:<major.minor>-slim-bookworm, made here
# because this machine reaches no container registry. Debian bookworm minbase from Debian's archive (mmdebstrap)
# with the runtime libraries the official image installs, and the machine's own CPython build (pyenv's, built
# --enable-shared) under /usr/local as the official image lays it out; imported and pushed to the test registry as
# $REGISTRY/library/python:<v>-slim-bookworm, so a real bake pulls it through IMAGE_MIRROR=$REGISTRY.
# A version whose CPython build the machine lacks is an error naming it (the real tests fail on it with CI=true).
# The rootfs is kept under $CACHE/real/ and reused; the image is pushed again only when the registry lacks it.
set -euo pipefail
# shellcheck source=scripts/ci/lib/common.sh
. "$(dirname "$0")/../ci/lib/common.sh"
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
OUT=$CACHE/real
# The official python:*-slim-bookworm image's runtime packages (its Dockerfile's apt-get install plus what
# its CPython links: the libraries `ldd` finds for the interpreter and lib-dynload).
RUNTIME=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libuuid1,libbz2-1.0,liblzma5,zlib1g
RUNTIME=$RUNTIME,libncursesw6,libreadline8,libexpat1,libnsl2,libtirpc3,libgdbm6,libdb5.3,libcrypt1

registry_has() { curl -fsS --max-time 5 "http://$REGISTRY_ADDR/v2/library/python/manifests/$1" \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null 2>/dev/null; }

rootfs() {  # bookworm minbase with the runtime packages, once per machine
  local tar=$OUT/bookworm-python-runtime.tar part=$OUT/partial-bookworm.tar
  if [ ! -s "$tar" ]; then
    command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
    log "mmdebstrap bookworm minbase from $DEBIAN_MIRROR (set DEBIAN_MIRROR to change)"
    # shellcheck disable=SC2016 # $1 is the rootfs, expanded in mmdebstrap's hook, not here
    mmdebstrap --quiet --variant=minbase --include="$RUNTIME" --aptopt='Acquire::Retries "3"' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
      bookworm "$part" "$DEBIAN_MIRROR" || die "mmdebstrap failed: is $DEBIAN_MIRROR reachable? (DEBIAN_MIRROR)"
    mv "$part" "$tar"
  fi
  printf '%s\n' "$tar"
}

one() {  # VERSION: major.minor, the newest pyenv build of it
  local minor=$1 build tag dir
  build=$(find "$PYENV_ROOT/versions" -maxdepth 1 -name "$minor.*" -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
  [ -n "$build" ] || die "no CPython $minor build under $PYENV_ROOT/versions: the real builds need it (pyenv install $minor)"
  tag=$REGISTRY_ADDR/library/python:$minor-slim-bookworm
  if registry_has "$minor-slim-bookworm"; then log "$tag is in the registry"; return; fi
  dir=$(mktemp -d "$OUT/python-$minor.XXXX")
  tar -C "$dir" -xf "$(rootfs)"
  # pyenv's prefix holds the interpreter, its headers and libpython: the official image's /usr/local layout.
  cp -a "$PYENV_ROOT/versions/$build/." "$dir/usr/local/"
  rm -rf "$dir/usr/local/lib/python$minor/test" "$dir/usr/local/lib/python$minor"/lib-dynload/_tkinter*
  find "$dir/usr/local" -depth -name __pycache__ -exec rm -rf {} +
  ln -sf python3 "$dir/usr/local/bin/python"
  printf '/usr/local/lib\n' > "$dir/etc/ld.so.conf.d/usr-local.conf"
  chroot "$dir" /sbin/ldconfig
  chroot "$dir" /usr/local/bin/python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, venv' \
    || die "the copied CPython $build does not start inside bookworm"
  tar -C "$dir" --numeric-owner -cf - . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change "ENV PYTHON_VERSION=$build" --change 'CMD ["python3"]' \
    - "$tag" >/dev/null
  rm -rf "$dir"
  docker push --quiet "$tag" >/dev/null || die "docker push $tag failed: is the registry at $REGISTRY_ADDR up?"
  log "$tag: CPython $build on bookworm minbase"
}

require_root "chroot and the engine"
mkdir -p "$OUT"
[ "$#" -gt 0 ] || die "usage: python-image.sh VERSION... (e.g. 3.8 3.10)"
for v in "$@"; do one "$v"; done
