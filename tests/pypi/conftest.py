"""The `pypi` tests reach PyPI for real: they run only when `-m` names them (make test-pypi).

They are deselected (not skipped) otherwise, so `make test-unit`'s `-m "not engine and not
buildx"` does not take them in, and a run that asks for them fails when PyPI does not answer.
"""

from __future__ import annotations

import pytest

from . import resolve


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "pypi" in (config.option.markexpr or ""):
        return
    chosen = [item for item in items if item.get_closest_marker("pypi") is None]
    if len(chosen) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
        items[:] = chosen


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if resolve.TIMINGS:
        terminalreporter.write_sep("-", "PyPI resolutions (wall time)")
        for line in resolve.timing_lines():
            terminalreporter.write_line(line)
