#!/usr/bin/env bash
# The release workflow's inputs (.github/workflows/release.yml), checked and turned into the settings every
# job uses; written as `key=value` lines to $GITHUB_OUTPUT. The inputs arrive in the environment
# (INPUT_FATE_VERSION, INPUT_TARGETS, INPUT_REGISTRY, INPUT_NAMESPACE, INPUT_PLATFORMS), never expanded
# into a script by Actions. A malformed input stops the run before anything is written; the error names
# the rule, never echoes the input.
set -euo pipefail

fail() {
  echo "::error::$1"
  exit 1
}

version_re='^v?[0-9]+\.[0-9]+\.[0-9]+([.-][0-9A-Za-z]+)*$'
[[ "$INPUT_FATE_VERSION" =~ $version_re ]] || fail "fate_version must be a FATE release tag such as v2.2.0"
version="${INPUT_FATE_VERSION#v}"
# The catalog's release line, from the version: the plan job reads no FATE checkout.
case "$version" in
  1.*) line=1.x ;;
  2.*) line=2.x ;;
  *) fail "fate_version must be of FATE 1.x or 2.x" ;;
esac

targets="${INPUT_TARGETS//[[:space:]]/}"
target_re='^[a-z0-9][a-z0-9_-]*(,[a-z0-9][a-z0-9_-]*)*$'
[[ "$targets" =~ $target_re ]] || fail "targets must be comma-separated bake group or target names"

registry="${INPUT_REGISTRY,,}"
registry_re='^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?$'
[[ "$registry" =~ $registry_re ]] || fail "registry must be a host name, e.g. docker.io or ghcr.io"
namespace_re='^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$'
[[ "$INPUT_NAMESPACE" =~ $namespace_re ]] || fail "namespace must be a lowercase image path, e.g. federatedai"
case "$registry" in
  index.docker.io | registry-1.docker.io) registry=docker.io ;;
esac

platforms="${INPUT_PLATFORMS//[[:space:]]/}"
platforms_re='^(amd64|arm64)(,(amd64|arm64))?$'
[[ "$platforms" =~ $platforms_re ]] || fail "platforms must be amd64, arm64 or amd64,arm64"

# The prefix always names the registry (docker.io too): cosign and the attestation sign
# <registry>/<namespace>/<image>@<digest>, and GitHub's attestation wants the registry in the name.
{
  echo "version=$version"
  echo "ref=v$version"
  echo "line=$line"
  echo "tag=$version-release"
  echo "targets=$targets"
  echo "registry=$registry"
  echo "prefix=$registry/$INPUT_NAMESPACE"
  echo "platforms=$platforms"
} >>"$GITHUB_OUTPUT"
echo "Releasing $targets of FATE $version for $platforms as $registry/$INPUT_NAMESPACE/<image>:$version-release"
