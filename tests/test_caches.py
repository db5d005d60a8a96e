"""The build cache kinds, one table (generator.caches): what config, doctor, render and the template read."""

from __future__ import annotations

import pytest

from generator import caches, doctor
from generator.errors import ConfigError
from generator.render import render

from .conftest import ALL_OFF, plan_of


def _written(row: caches.KindRow) -> str:
    return row.written.replace(":DIR", ":/tmp/fb-cache") if row.prefix else row.written


@pytest.mark.parametrize("row", caches.KINDS, ids=lambda r: r.kind)
def test_every_kind_parses_as_written_and_is_passed_to_bake_as_written(row):
    cache = caches.parse_cache(_written(row))
    assert cache.kind == row.kind and cache.setting == _written(row)
    assert cache.external == row.external


def test_an_unknown_kind_names_every_kind_allowed():
    with pytest.raises(ConfigError, match=r"^CACHE='s3': allowed are none, inline, registry, local:DIR, gha$"):
        caches.parse_cache("s3")
    with pytest.raises(ConfigError):
        caches.parse_cache("local:")


@pytest.mark.parametrize("row", [r for r in caches.KINDS if r.external], ids=lambda r: r.kind)
def test_doctor_says_what_has_been_shown_of_every_external_kind(row, basic_sources):
    plan = plan_of(**{**basic_sources, "CACHE": _written(row)})
    (first, *_) = doctor.cache_checks(plan)
    assert row.evidence and first.detail.endswith(row.evidence)


def test_the_bake_files_cache_functions_test_every_kind_that_reads_or_writes_a_cache():
    text = render(plan_of(**{**ALL_OFF, "Build_Basic": "1"}))
    for row in caches.KINDS:
        branches = text.count(f"{row.hcl_test()} ? [")
        assert branches == (2 if row.cache_from else 0), row.kind
    assert f"# Build cache: {caches.spelled()}." in text
