#!/bin/sh
# apache-download URL FILE: an Apache release from URL into FILE, checked against the SHA-512
# Apache publishes beside it (URL.sha512) in any of its formats: "HASH  name" (coreutils),
# "name: HA SH ..." over several lines (gpg --print-md) and "SHA512 (name) = hash" (BSD).
# Fails, and removes FILE, on a mismatch or a checksum it cannot read.
set -eu
url=$1 file=$2
curl -fsSL -o "${file}" "${url}"
expected=$(curl -fsSL "${url}.sha512" | tr -d '\r\n' | sed 's/^[^:=]*[:=]//' | tr -d ' \t' \
    | grep -oE '^[0-9A-Fa-f]{128}' | tr 'A-F' 'a-f') || true
if [ -z "${expected}" ] || ! echo "${expected}  ${file}" | sha512sum -c - >/dev/null 2>&1; then
    echo "apache-download: ${file} from ${url} does not match its SHA-512 (${url}.sha512)" >&2
    rm -f "${file}"
    exit 1
fi
