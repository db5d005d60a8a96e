#!/usr/bin/env bash
# The declared minimums, proven: a fresh venv gets exactly the lowest version that
# pyproject.toml allows of every dependency (runtime and test extras; `pkg>=X` becomes
# `pkg==X`), then runs every test that needs no daemon (unit tests and the contract tests
# against `docker buildx bake --print`), plus ruff and mypy at their floors.
# PYTHON picks the interpreter (default python3; requires-python's floor is a good choice).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Read with the interpreter under test; tomllib is 3.11+, so the lines are parsed plainly:
# the floors are every `"name>=version"` in [project] dependencies and the test extra.
floors="$("$python" - "$root/pyproject.toml" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
deps = re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M).group(1)
test = re.search(r"^test = \[(.*?)\]", text, re.M).group(1)
found = re.findall(r'"([A-Za-z0-9_.-]+)>=([0-9][^",;<]*)"', deps + test)
if not found:
    sys.exit("no floors found in pyproject.toml")
print(" ".join(f"{name}=={version}" for name, version in found))
EOF
)"
echo "floors ($("$python" --version)): $floors"
"$python" -m venv "$work/venv"
pip="$work/venv/bin/pip --quiet --disable-pip-version-check"
# shellcheck disable=SC2086  # the floors are one word each
$pip install $floors
$pip install --no-deps -e "$root"
# What pip made of it, so a log shows the versions the tests really ran against.
"$work/venv/bin/pip" freeze --exclude-editable | grep -iE "^($(echo "$floors" | sed 's/==[^ ]*//g; s/ /|/g'))==" || true

cd "$root"
"$work/venv/bin/pytest" -q -p no:cacheprovider -m "not engine and not real"
"$work/venv/bin/ruff" check --no-cache generator tests benchmarks testsupport
"$work/venv/bin/mypy" --strict --no-incremental generator
"$work/venv/bin/mypy" --no-incremental testsupport
