#!/bin/sh
# adapt-requirements.sh ARCH FILE: make FATE's requirements.txt installable on ARCH, in place.
#
# FATE pins x86-only wheels. On arm64 (as FATE-Builder 1.11 did for its arm64 base image):
#   tensorflow-cpu==X      -> tensorflow-aarch64==X
#   torch==X+cpu           -> torch==X          (same for torchvision)
#   ipcl-python==X         -> commented out     (Intel Paillier is x86-only)
# amd64 installs the file unchanged. POSIX sh + sed only, so it also runs under busybox.
set -eu

arch=${1:?usage: adapt-requirements.sh ARCH FILE}
file=${2:?usage: adapt-requirements.sh ARCH FILE}
[ -f "$file" ] || { echo "adapt-requirements.sh: no such file: $file" >&2; exit 1; }

case "$arch" in
  amd64) ;;
  arm64)
    sed -i -E \
      -e 's/^tensorflow-cpu==/tensorflow-aarch64==/' \
      -e 's/^(torch|torchvision)==([^+[:space:]]+)\+cpu/\1==\2/' \
      -e 's/^(ipcl-python)/#\1/' \
      "$file"
    ;;
  *) echo "adapt-requirements.sh: unsupported architecture: $arch" >&2; exit 1 ;;
esac
