"""The benchmark's files: latest results, each engine generation's kept results, the README tables and the chart.

    .venv/bin/python -m benchmarks.publish --engines --readme README.md   # again, without running anything
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from . import report
from .chart import chart
from .engine import BenchError

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ENGINES = HERE / "engines"
CHART = HERE / "chart.png"


def with_chart(table: str, readme: Path, chart_path: Path) -> str:
    """The table and, under it, the chart, linked relative to the README it goes into."""
    return f"{table}\n![benchmark chart]({os.path.relpath(chart_path, Path(readme).resolve().parent)})\n"


def _replace(text: str, start: str, end: str, content: str) -> str | None:
    if start not in text or end not in text:
        return None
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}{end}{tail}"


def update_readme(path: Path, table: str, headline: str | None = None) -> bool:
    """Write `table` between the bench markers and `headline` (default: `table`) between the headline markers,
    whichever of the two the file has; False when it has neither."""
    text = Path(path).read_text(encoding="utf-8")
    new = text
    for start, end, content in ((report.START, report.END, table),
                                (report.HEADLINE_START, report.HEADLINE_END, headline or table)):
        new = _replace(new, start, end, content) or new
    if new == text and not any(s in text for s in (report.START, report.HEADLINE_START)):
        return False
    Path(path).write_text(new, encoding="utf-8")
    return True


def _engine_version(data: dict) -> str:
    return report.version_of(str(data["meta"]["machine"].get("engine", "")))


PARTS = ("selections", "remote", "render", "overhead", "probe")


def merged(kept: dict, data: dict) -> dict:
    """`kept` with the parts `data` measured put in (a selection by name), each part's run named in the header:
    one generation's results measured in several shorter engine holds."""
    meta = data["meta"]
    if meta["scale_s_per_minute"] != kept["meta"]["scale_s_per_minute"]:
        raise BenchError(f"--merge: this run's work scale ({meta['scale_s_per_minute']:g} s per minute) is not the "
                         f"kept results' ({kept['meta']['scale_s_per_minute']:g}); run with the same --scale")
    out = {**kept, "meta": {**kept["meta"], "parts": dict(kept["meta"].get("parts", {}))}}
    for part in PARTS:
        if not data.get(part):
            continue
        out[part] = {**kept.get(part, {}), **data[part]} if part == "selections" else data[part]
        names = list(data[part]) if part == "selections" else [part]
        for name in names:
            out["meta"]["parts"][name] = {"started": meta["started"], "note": meta.get("note", ""),
                                          "load_avg_1m": [meta["load_avg_1m_start"], meta["load_avg_1m_end"]]}
    return out


def keep(data: dict, folder: Path = ENGINES, *, merge: bool = False) -> Path:
    """Keep `data` as its engine generation's results (docker-MAJOR.MINOR.json), replacing that generation's last,
    or, with `merge`, adding its parts to them."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"docker-{'.'.join(_engine_version(data).split('.')[:2])}.json"
    if merge and path.exists():
        data = merged(json.loads(path.read_text(encoding="utf-8")), data)
        data.pop("summary", None)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_engines(folder: Path = ENGINES) -> list[dict]:
    """Every kept generation's results, oldest engine first, summarized."""
    found = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("docker-*.json")]
    for data in found:
        data["summary"] = report.summarize(data)
    return sorted(found, key=lambda data: tuple(int(x) for x in _engine_version(data).split(".") if x.isdigit()))


def write_readmes(datasets: list[dict], readmes: list[Path], chart_path: Path | None) -> str:
    """The table (and the chart under it, when drawn) between the bench markers of each README; between the
    headline markers (README.md, README_zh.md) the table alone, without the header lines and notes."""
    table, headline = report.markdown(datasets), report.headline(datasets)
    for readme in readmes:
        full, short = ((with_chart(table, readme, chart_path), with_chart(headline, readme, chart_path))
                       if chart_path else (table, headline))
        if update_readme(readme, full, short):
            print(f"updated the table in {readme}", file=sys.stderr, flush=True)
        else:
            print(f"{readme}: no {report.START!r} / {report.END!r} markers; table not written there", file=sys.stderr,
                  flush=True)
    return table


def write_results(data: dict, started: float, results: Path = RESULTS, *, publish: bool = False,
                  merge: bool = False, readmes: list[Path] | None = None) -> str:
    """latest.json/.md/.png and a dated copy; with `publish` this engine's kept results, then the READMEs and the
    chart from every generation kept. Returns the table."""
    data["summary"] = report.summarize(data)
    results.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2)
    stamp = dt.datetime.fromtimestamp(started, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results / "latest.json").write_text(text, encoding="utf-8")
    (results / f"{stamp}.json").write_text(text, encoding="utf-8")
    (results / "partial.json").unlink(missing_ok=True)
    (results / "latest.md").write_text(report.markdown([data]), encoding="utf-8")
    chart([data], results / "latest.png")
    if not publish:
        return write_readmes([data], readmes or [], None)
    print(f"kept as {keep(data, merge=merge)}", file=sys.stderr, flush=True)
    kept = load_engines()
    return write_readmes(kept, readmes or [], CHART if chart(kept, CHART) else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.publish",
                                     description="Write the table and chart again without running anything.")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, action="append", default=[],
                        help="update the table between the bench markers in this file (repeatable)")
    parser.add_argument("--engines", action="store_true",
                        help="every generation kept in benchmarks/engines (and chart.png), not latest.json")
    args = parser.parse_args(argv)
    if args.engines:
        kept = load_engines()
        print(write_readmes(kept, args.readme, CHART if chart(kept, CHART) else None))
        return 0
    data = json.loads((args.results / "latest.json").read_text(encoding="utf-8"))
    data["summary"] = report.summarize(data)
    chart([data], args.results / "latest.png")
    print(write_readmes([data], args.readme, None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
