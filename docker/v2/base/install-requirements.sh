#!/bin/sh
# install-requirements [--each] FILE...: `pip install -r` FATE's requirement files, from adapted
# copies (named install-list-N.txt, never requirements*.txt):
# * when PIP_EXTRA_INDEX_URL is set (a mirror, from the `network` secret), the file's own
#   `--extra-index-url` line (FATE 2.x: PyTorch's CPU index) is dropped and pip takes the
#   variable from the environment, as it takes PIP_INDEX_URL; unset, the list is FATE's;
# * when PYG_FIND_LINKS is set, a `--find-links` line points there instead;
# * on arm64 the `+cpu` local version of a torch pin is dropped: PyTorch publishes aarch64
#   CPU wheels without it (torch==2.3.1+cpu has no aarch64 wheel, torch==2.3.1 has).
# By default one pip run resolves all the lists together. --each runs pip once per list, in
# order, as upstream's eggroll image does: FATE 2.2.0's eggroll/requirements.txt
# (lmdb==1.3.0, grpcio==1.59.3) and python/requirements-fate.txt (lmdb==1.4.1, grpcio==1.62.1)
# cannot be resolved together, and the later list's pins win.
# ADAPT_ONLY=DIR writes the copies to DIR and, in DIR/pip-runs.txt, the pip runs it would make
# (one line each: the copies' names), and installs nothing (the offline and PyPI tests).
set -eu
each=""
if [ "${1:-}" = --each ]; then
    each=1
    shift
fi
arch=${TARGETARCH:-$(uname -m)}
out=${ADAPT_ONLY:-$(mktemp -d)}
mkdir -p "$out"
: > "$out/pip-runs.txt"
i=0
for f in "$@"; do
    i=$((i + 1))
    copy="$out/install-list-$i.txt"
    sed -e "${PIP_EXTRA_INDEX_URL:+/^--extra-index-url/d}" \
        -e "${PYG_FIND_LINKS:+s#^--find-links .*#--find-links ${PYG_FIND_LINKS}#}" "$f" > "$copy"
    case "$arch" in
        arm64|aarch64) sed -i -E 's/^(torch[a-z_-]*==[^+ ]+)\+cpu/\1/' "$copy" ;;
    esac
    if [ -n "$each" ]; then
        echo "install-list-$i.txt" >> "$out/pip-runs.txt"
    else
        together="${together:+$together }install-list-$i.txt"
    fi
done
[ -z "${together:-}" ] || echo "$together" >> "$out/pip-runs.txt"
if [ -n "${ADAPT_ONLY:-}" ]; then
    exit 0
fi
while read -r run; do
    lists=""
    for name in $run; do
        lists="$lists -r $out/$name"
    done
    # shellcheck disable=SC2086 # the copies' paths have no spaces (mktemp, install-list-N.txt)
    pip install $lists
done < "$out/pip-runs.txt"
rm -rf "$out"
