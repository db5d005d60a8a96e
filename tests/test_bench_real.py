"""bench-real's sequential strategy is the bake file's own definition, one `docker buildx build` at a time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import real
from testsupport import scrubbed_environ
from testsupport.constants import ROOT
from testsupport.real_fate import extract


def test_the_table_gives_the_sequential_time_over_fate_builders_and_the_images_that_changed() -> None:
    found = [real.Round("fate-builder", "cold", 100.0, []), real.Round("sequential", "cold", 150.0, []),
             real.Round("fate-builder", "warm", 4.0, []), real.Round("sequential", "warm", 6.0, []),
             real.Round("fate-builder", "incremental", 10.0, ["127.0.0.1:5000/fbbench/fateflow:2.1.1-bench"]),
             real.Round("sequential", "incremental", 30.0, [])]
    rows = real.table(found).splitlines()[2:]
    assert rows[0] == "| cold | 100 s | 150 s | 1.50 x | none |"
    assert rows[2] == "| incremental | 10 s | 30 s | 3.00 x | fateflow |"


def test_each_sequential_build_has_its_targets_arguments_contexts_and_secrets_and_the_loaded_parent(
        buildx: object, tmp_path: Path) -> None:
    fate_dir = tmp_path / "FATE"
    fate_dir.mkdir()
    extract(real.TAG, fate_dir)
    real._write_env(tmp_path, fate_dir)
    printed = subprocess.run([sys.executable, "-m", "generator", "bake", *real.TARGETS, "--print"], cwd=tmp_path,
                             capture_output=True, text=True, env=scrubbed_environ({"PYTHONPATH": str(ROOT)}))
    targets = json.loads(printed.stdout)["target"]
    commands = real.build_commands(tmp_path)
    assert [c[-1] for c in commands] == [targets[name]["context"] for name in real.IMAGES]
    for name, argv in zip(real.IMAGES, commands):
        t = targets[name]
        assert {a.removeprefix("--build-arg=") for a in argv if a.startswith("--build-arg=")} == \
               {f"{k}={v}" for k, v in t["args"].items()}
        assert f"--tag={t['tags'][0]}" in argv and "--load" in argv
        assert sum(a.startswith("--secret=id=") for a in argv) == len(t["secret"])
    fateflow = commands[real.IMAGES.index("fateflow")]
    parent = targets["base-image"]["tags"][0]
    assert f"--build-context={parent}=docker-image://{parent}" in fateflow
    assert f"--build-context=fate-python={fate_dir / 'python'}" in fateflow
    assert "FATE_BUILDER_NETWORK" in real.plan_env(tmp_path)
