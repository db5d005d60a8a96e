#!/usr/bin/env bash
# The installed tool, not the checkout: build the wheel, install it (not editable) into a
# fresh venv, and run render, check, plan, bake --print and doctor from a folder outside
# the checkout. Catches a template or Dockerfile that does not ship in the package.
# Needs python3 and, for `bake --print`, the docker CLI with buildx (no daemon).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
# From a copy of the files git knows (not ignored ones): a stale build/ or a stray file
# in the checkout must not make the wheel look complete.
mkdir "$work/src"
git -C "$root" ls-files -z --cached --others --exclude-standard | (cd "$root" && xargs -0 cp --parents -t "$work/src")
"$work/venv/bin/pip" wheel --no-deps --disable-pip-version-check -w "$work/dist" "$work/src" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
wheel="$(ls "$work"/dist/*.whl)"
"$python" -m venv "$work/clean"
"$work/clean/bin/pip" install --quiet --disable-pip-version-check "$wheel"
fb="$work/clean/bin/fate-builder"

# A FATE checkout as far as render and bake --print read one, and a project folder that is
# not the checkout: the Dockerfiles must come from the package.
mkdir -p "$work/FATE" "$work/project"
printf 'FATE=1.11.2\n' >"$work/FATE/fate.env"
cd "$work/project"
# shellcheck disable=SC2016  # ${version} is for fate-builder to expand
printf 'FATE_DIR=%s\nTAG=${version}-release\n' "$work/FATE" >.env

"$fb" render
grep -q 'target "fateflow"' docker-bake.hcl
dockers="$("$work/clean/bin/python" -c 'import generator, pathlib; print(pathlib.Path(generator.__file__).parent / "docker")')"
grep -q "default = \"$dockers\"" docker-bake.hcl ||
  { echo "wheel-check: DOCKER_DIR of the installed render is not the packaged $dockers" >&2; exit 1; }
test -f "$dockers/base/basic/Dockerfile"
"$fb" check
"$fb" plan >/dev/null
"$fb" plan --format json >/dev/null
"$fb" bake --print fateflow >bake.json
grep -q '1.11.2-release' bake.json
# doctor's verdict depends on the machine's engine; it must answer in lines, not a traceback.
"$fb" doctor >doctor.out 2>&1 || true
if grep -q Traceback doctor.out; then cat doctor.out >&2; exit 1; fi
echo "wheel-check: $(basename "$wheel") installed in a fresh venv; render, check, plan, bake --print and doctor work from $work/project"
