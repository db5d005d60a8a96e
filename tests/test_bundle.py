"""Pushing, saving and loading the built images, without an engine."""

from __future__ import annotations

import pytest

from generator import bundle
from generator.engine import EngineError

from .conftest import ALL_OFF, plan_of


@pytest.mark.parametrize(("message", "transient"), [
    ("cannot push r/a:1: unexpected status from HEAD request to http://r/v2/a/manifests/1: 500 Internal Server Error",
     True),
    ("cannot push r/a:1: received unexpected HTTP status: 503 Service Unavailable", True),
    ("cannot push r/a:1: unauthorized: authentication required", False),
    ("cannot push r/a:1: unexpected status from PUT request to http://r/v2/a/manifests/1: 413 Request Entity Too Large",
     False),
])
def test_only_a_registry_server_error_is_worth_another_push(message, transient):
    assert bundle.registry_server_error(message) is transient


class _Pushes:
    """An engine whose pushes fail with the given messages first, then succeed."""

    def __init__(self, *failures: str):
        self.failures = list(failures)
        self.pushed: list[str] = []

    def image_exists(self, reference: str) -> bool:
        return True

    def push(self, reference: str) -> None:
        if self.failures:
            raise EngineError(self.failures.pop(0), 1)
        self.pushed.append(reference)


def test_a_push_is_tried_again_after_a_registry_server_error_and_said_so():
    engine = _Pushes("cannot push x: unexpected status from HEAD request to http://r: 500 Internal Server Error")
    said: list[str] = []
    plan = plan_of(**{**ALL_OFF, "Build_FUM": "1"})
    bundle.push(engine, plan, said.append, sleep=lambda s: None)  # type: ignore[arg-type]
    assert engine.pushed == bundle.tagged_references(plan)
    assert any("server error; pushing again (2/3)" in line for line in said)


def test_a_refused_push_or_a_lasting_server_error_fails_with_the_registrys_words():
    plan = plan_of(**{**ALL_OFF, "Build_FUM": "1"})
    with pytest.raises(EngineError, match="unauthorized"):
        bundle.push(_Pushes("cannot push x: unauthorized"), plan, lambda s: None,  # type: ignore[arg-type]
                   sleep=lambda s: None)
    lasting = _Pushes(*["cannot push x: 500 Internal Server Error"] * 3)
    with pytest.raises(EngineError, match="500"):
        bundle.push(lasting, plan, lambda s: None, sleep=lambda s: None)  # type: ignore[arg-type]
