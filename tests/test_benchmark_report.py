"""The benchmark's pure parts: how the remote-cache runs are judged, and how kept results are merged."""

from __future__ import annotations

import pytest

from benchmarks import publish, report
from benchmarks.engine import BenchError
from benchmarks.remote import schedule_floor


def _data(nothing_rebuilt: list[list[str]], exact: bool = True, scale: float = 0.5) -> dict:
    def run(rebuilt: list[str]) -> dict:
        return {"pipeline": {"cold": {"seconds": 22.0, "rebuilt": []},
                             "nothing_changed": {"seconds": 9.0, "rebuilt": rebuilt},
                             "one_file_changed": {"seconds": 12.0, "rebuilt": ["fateflow"], "exact": exact}},
                "one graph": {"cold": {"seconds": 20.0, "rebuilt": []},
                              "nothing_changed": {"seconds": 8.0, "rebuilt": ["fateflow", "eggroll"]}}}

    return {"meta": {"scale_s_per_minute": scale, "prune": True, "started": "2026-12-01T13:00:00+00:00", "note": "",
                     "load_avg_1m_start": 1.0, "load_avg_1m_end": 2.0},
            "selections": {},
            "remote": {"images": ["base-image", "fateflow", "eggroll"], "expected": ["fateflow"],
                       "schedule": {}, "floor_s": {"pipeline": 17.0, "one graph": 16.0},
                       "runs": [run(r) for r in nothing_rebuilt]}}


def _met(summary: dict, target: str) -> bool:
    return next(t["met"] for t in summary["targets"] if t["target"] == target)


def test_a_fresh_builder_meets_its_target_only_when_no_run_rebuilt_an_image():
    assert _met(report.summarize(_data([[], []])), "remote_nothing_changed")
    assert not _met(report.summarize(_data([[], ["fateflow"]])), "remote_nothing_changed")


def test_the_cold_cost_is_judged_measured_and_projected_to_real_build_times():
    summary = report.summarize(_data([[]]))
    assert summary["remote"]["cold_vs_one_graph"]["median"] == pytest.approx(1.1)
    # 17 s and 16 s of work at 120 x, plus the 5 s and 4 s measured beyond it
    assert summary["remote"]["projection"]["ratio"] == pytest.approx((17 * 120 + 5) / (16 * 120 + 4), abs=1e-3)
    assert _met(summary, "remote_cold_projected") and _met(summary, "remote_cold_vs_one_graph")


def test_a_change_that_rebuilds_other_images_than_fateflows_is_shown_as_missed():
    data = _data([[]], exact=False)
    data["meta"]["machine"] = {"engine": "28.5.2", "buildx": "v0.29.1", "cores": 2}
    data["summary"] = report.summarize(data)
    rows = report.markdown([data]).splitlines()
    assert any("**not** the 1 fateflow images" in row and row.endswith("| **no** |") for row in rows)


def test_merging_keeps_the_parts_a_run_did_not_measure_and_names_the_new_part():
    kept = {**_data([[]]), "render": {"runs": 15}}
    kept["remote"] = None
    merged = publish.merged(kept, _data([["x"]]))
    assert merged["render"] == {"runs": 15}
    assert merged["remote"]["runs"][0]["pipeline"]["nothing_changed"]["rebuilt"] == ["x"]
    assert merged["meta"]["parts"]["remote"]["started"] == "2026-12-01T13:00:00+00:00"


def test_merging_refuses_a_run_at_another_work_scale():
    with pytest.raises(BenchError, match="--scale"):
        publish.merged(_data([[]]), _data([[]], scale=0.05))


def test_a_schedule_floor_is_the_work_along_its_longest_chain_of_waits():
    schedule = {"base": [], "a": ["base"], "b": ["base", "a"], "c": ["base"]}
    assert schedule_floor(schedule, {"base": 10, "a": 2, "b": 3, "c": 4}) == 15


def test_the_readme_gets_the_headline_table_and_the_benchmark_page_the_table_with_its_notes(tmp_path):
    full, headline = "- header line\n\n| table |\n\n- a note\n", "| table |\n"
    readme, page, other = tmp_path / "README.md", tmp_path / "bench.md", tmp_path / "other.md"
    readme.write_text(f"intro\n{report.HEADLINE_START}\nold\n{report.HEADLINE_END}\noutro\n", encoding="utf-8")
    page.write_text(f"intro\n{report.START}\nold\n{report.END}\n", encoding="utf-8")
    other.write_text("no markers\n", encoding="utf-8")
    assert publish.update_readme(readme, full, headline) and publish.update_readme(page, full, headline)
    assert readme.read_text() == f"intro\n{report.HEADLINE_START}\n{headline}{report.HEADLINE_END}\noutro\n"
    assert page.read_text() == f"intro\n{report.START}\n{full}{report.END}\n"
    assert not publish.update_readme(other, full, headline)
    assert other.read_text() == "no markers\n"


def test_the_headline_is_the_tables_rows_without_the_header_lines_or_notes():
    data = _data([[]])
    data["summary"] = report.summarize(data)
    data["meta"]["machine"] = {"engine": "28.5.2", "buildx": "v0.29.1", "cores": 2}
    full, headline = report.markdown([data]), report.headline([data])
    assert headline.startswith(report.TABLE_HEAD[0]) and "Measured" not in headline
    assert set(headline.splitlines()) <= set(full.splitlines())
    assert len(headline.splitlines()) > len(report.TABLE_HEAD)
