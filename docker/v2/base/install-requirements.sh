#!/bin/sh
# install-requirements FILE...: `pip install -r` each of FATE's requirement files, adapted.
#
# * The file's own `--extra-index-url` (FATE 2.x: PyTorch's CPU index) is replaced by
#   PIP_EXTRA_INDEX_URL when that is set (a mirror, from the `network` secret), so pip never
#   reaches upstream behind a mirror; pip reads PIP_INDEX_URL etc. from the environment.
# * On arm64 the `+cpu` local version of a torch pin is dropped: PyTorch publishes aarch64
#   CPU wheels without it (torch==2.3.1+cpu has no aarch64 wheel, torch==2.3.1 has).
# ADAPT_ONLY=DIR writes the adapted files to DIR and installs nothing (the offline tests).
set -eu
arch=${TARGETARCH:-$(uname -m)}
out=${ADAPT_ONLY:-$(mktemp -d)}
mkdir -p "$out"
i=0
set --  "$@" --
for f; do
    [ "$f" = -- ] && break
    i=$((i + 1))
    dest="$out/$i-$(basename "$f")"
    cp "$f" "$dest"
    if [ -n "${PIP_EXTRA_INDEX_URL:-}" ]; then
        sed -i "s#^--extra-index-url .*#--extra-index-url ${PIP_EXTRA_INDEX_URL}#" "$dest"
    fi
    case "$arch" in
        arm64|aarch64) sed -i -E 's/^(torch[a-z_-]*==[^+ ]+)\+cpu/\1/' "$dest" ;;
    esac
    set -- "$@" -r "$dest"
done
while [ "$1" != -- ]; do shift; done
shift
if [ -n "${ADAPT_ONLY:-}" ]; then
    exit 0
fi
pip install "$@"
rm -rf "$out"
