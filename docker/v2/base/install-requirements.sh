#!/bin/sh
# install-requirements FILE...: `pip install -r` each of FATE's requirement files, from adapted
# copies (named install-list-N.txt, never requirements*.txt):
# * when PIP_EXTRA_INDEX_URL is set (a mirror, from the `network` secret), the file's own
#   `--extra-index-url` line (FATE 2.x: PyTorch's CPU index) is dropped and pip takes the
#   variable from the environment, as it takes PIP_INDEX_URL; unset, the list is FATE's;
# * when PYG_FIND_LINKS is set, a `--find-links` line points there instead;
# * on arm64 the `+cpu` local version of a torch pin is dropped: PyTorch publishes aarch64
#   CPU wheels without it (torch==2.3.1+cpu has no aarch64 wheel, torch==2.3.1 has).
# ADAPT_ONLY=DIR writes the copies to DIR and installs nothing (the offline tests).
set -eu
arch=${TARGETARCH:-$(uname -m)}
out=${ADAPT_ONLY:-$(mktemp -d)}
mkdir -p "$out"
i=0
lists=""
for f in "$@"; do
    i=$((i + 1))
    copy="$out/install-list-$i.txt"
    sed -e "${PIP_EXTRA_INDEX_URL:+/^--extra-index-url/d}" \
        -e "${PYG_FIND_LINKS:+s#^--find-links .*#--find-links ${PYG_FIND_LINKS}#}" "$f" > "$copy"
    case "$arch" in
        arm64|aarch64) sed -i -E 's/^(torch[a-z_-]*==[^+ ]+)\+cpu/\1/' "$copy" ;;
    esac
    lists="$lists -r $copy"
done
if [ -n "${ADAPT_ONLY:-}" ]; then
    exit 0
fi
# shellcheck disable=SC2086 # the copies' paths have no spaces (mktemp, install-list-N.txt)
pip install $lists
rm -rf "$out"
