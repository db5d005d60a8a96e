"""The benchmark's numbers as a summary (medians with min and max), a Markdown table and a chart.

Everything summarized here is shown in the table, the notes under it or the chart; the raw
runs stay in the JSON.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
# The README's block: the table alone (and the chart); the header lines and notes stay in benchmarks/README.md.
HEADLINE_START = "<!-- bench:headline:start -->"
HEADLINE_END = "<!-- bench:headline:end -->"
REAL_SCALE = 60.0  # a real FATE build: 60 s per minute

LIMITS = {
    "cold_vs_baseline": 0.6,
    "cold_vs_critical_path": 1.3,
    "warm_vs_cold": 0.05,
    "incremental_vs_cold": 0.30,
    "render_vs_bare": 2.0,
    "overhead_vs_plain": 1.25,
    "remote_nothing_changed": 0,  # images rebuilt
    "remote_cold_vs_one_graph": 1.10,
    "remote_cold_projected": 1.10,
}
SELECTION_TITLES = {"default": "default selection", "all": "everything amd64 allows"}
FB_SCENARIOS = ("cold", "warm", "incremental", "touch")


def stats(values: Iterable[float | None]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "n": len(values)}


def _seconds(runs: list[dict], strategy: str, scenario: str) -> list[float | None]:
    return [run.get(strategy, {}).get(scenario, {}).get("seconds") for run in runs]


def _ratio(a: list[float | None], b: list[float | None]) -> list[float | None]:
    return [x / y if x is not None and y else None for x, y in zip(a, b)]


def _target(targets: list[dict], selection: str, key: str, value: dict | None, what: str,
            extra_ok: bool = True) -> None:
    if value is None:
        return
    limit = LIMITS[key]
    targets.append({"selection": selection, "target": key, "what": what, "median": value["median"], "limit": limit,
                    "met": bool(value["median"] <= limit and extra_ok)})


# --------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------


def _projection(data: dict, sel: dict, secs: dict) -> dict | None:
    """The measured fixed costs (time beyond the work's floor) kept, the work scaled to real FATE minutes.

    A model, not a measurement: what the ratios become when the images' work is as long as
    FATE's and everything else costs what it cost here.
    """
    scale = data["meta"]["scale_s_per_minute"]
    fb_cold = secs["cold"]["fate-builder"]
    if not fb_cold or sel.get("work_kind", "sleep") != "sleep" or scale <= 0:
        return None
    k = REAL_SCALE / scale
    cp = sel["critical_path"]["nominal_s"]
    cold = cp * k + (fb_cold["median"] - cp)
    out = {"scale_factor": round(k, 1), "fate_builder_cold_s": round(cold, 1),
           "cold_vs_critical_path": round(cold / (cp * k), 3)}
    base = secs["cold"]["baseline"]
    if base:
        total = sel["work_seconds_total"]
        base_cold = total * k + (base["median"] - total)
        out["baseline_cold_s"] = round(base_cold, 1)
        out["cold_vs_baseline"] = round(cold / base_cold, 3)
    if secs["warm"]["fate-builder"]:
        out["warm_vs_cold"] = round(secs["warm"]["fate-builder"]["median"] / cold, 4)
    if secs["incremental"]["fate-builder"]:
        floor = sel["incremental_floor_s"]
        inc = floor * k + (secs["incremental"]["fate-builder"]["median"] - floor)
        out["incremental_vs_cold"] = round(inc / cold, 3)
    return out


def _selection_ratios(sel: dict) -> dict:
    runs = sel["runs"]
    fb = {sc: _seconds(runs, "fate-builder", sc) for sc in FB_SCENARIOS}
    base = {sc: _seconds(runs, "baseline", sc) for sc in ("cold", "warm", "incremental")}
    cp, measured = sel["critical_path"]["nominal_s"], sel["critical_path"]["measured_s"]
    ratios = {
        "cold_vs_baseline": stats(_ratio(fb["cold"], base["cold"])),
        "cold_vs_critical_path": stats(_ratio(fb["cold"], [cp] * len(runs))),
        "cold_vs_measured_critical_path": stats(_ratio(fb["cold"], measured)) if measured else None,
        "warm_vs_cold": {"fate-builder": stats(_ratio(fb["warm"], fb["cold"])),
                         "baseline": stats(_ratio(base["warm"], base["cold"]))},
        "incremental_vs_cold": {"fate-builder": stats(_ratio(fb["incremental"], fb["cold"])),
                                "baseline": stats(_ratio(base["incremental"], base["cold"]))},
        "touch_vs_cold": {"fate-builder": stats(_ratio(fb["touch"], fb["cold"]))},
    }
    if sel.get("cpu_floor_s"):
        ratios["cold_vs_cpu_floor"] = stats(_ratio(fb["cold"], [sel["cpu_floor_s"]] * len(runs)))
    return ratios


def _selection_summary(data: dict, sel: dict) -> dict:
    runs = sel["runs"]
    secs = {sc: {st: stats(_seconds(runs, st, sc)) for st in ("fate-builder", "baseline")} for sc in FB_SCENARIOS}
    fb_runs = [run["fate-builder"] for run in runs if "fate-builder" in run]
    base_runs = [run["baseline"] for run in runs if "baseline" in run]
    anatomy = [r["warm_anatomy"] for r in fb_runs if "error" not in r.get("warm_anatomy", {"error": 1})]
    timeline_keys = ("startup_s", "bake_start_gap_s", "context_loads", "last_context_load_s", "last_work_end_s",
                     "tail_s", "export_s_sum", "peak_parallel_work_steps")
    return {
        "images": len(sel["images"]), "seconds": secs, "ratios": _selection_ratios(sel),
        "rebuilt_counts": {sc: {st: [len(run[st][sc]["rebuilt"]) for run in runs if sc in run.get(st, {})]
                                for st in ("fate-builder", "baseline")} for sc in ("warm", "incremental", "touch")},
        "incremental_exact": [r["incremental"]["exact"] for r in fb_runs if "incremental" in r],
        "fate_builder_timeline": {k: stats(r["cold"].get(k) for r in fb_runs) for k in timeline_keys},
        "warm_anatomy": {k: stats(a.get(k) for a in anatomy) for k in
                         ("render_s", "doctor_s", "bake_load_s", "bake_cacheonly_s")} if anatomy else None,
        "baseline_parts": {k: stats(r["cold"][k] for r in base_runs) for k in ("package_s", "overhead_s_sum")},
        "projection": _projection(data, sel, secs),
    }


def _selection_targets(targets: list[dict], name: str, s: dict) -> None:
    ratios, exact = s["ratios"], s["incremental_exact"]
    _target(targets, name, "cold_vs_baseline", ratios["cold_vs_baseline"], "cold: fate-builder / baseline")
    _target(targets, name, "cold_vs_critical_path", ratios["cold_vs_critical_path"],
            "cold: fate-builder / critical path")
    _target(targets, name, "warm_vs_cold", ratios["warm_vs_cold"]["fate-builder"], "warm: fate-builder / its cold")
    _target(targets, name, "incremental_vs_cold", ratios["incremental_vs_cold"]["fate-builder"],
            "incremental: fate-builder / its cold, exactly the fateflow images", all(exact) if exact else True)


def _remote_summary(data: dict) -> dict:
    """Fresh builder with a remote cache (benchmarks/remote.py): rebuilt counts, times, pipeline / one graph cold."""
    remote = data["remote"]
    runs = remote["runs"]

    def seconds(schedule: str, scenario: str) -> list[float | None]:
        return [run.get(schedule, {}).get(scenario, {}).get("seconds") for run in runs]

    def rebuilt(schedule: str, scenario: str) -> list[int]:
        return [len(run[schedule][scenario]["rebuilt"]) for run in runs if scenario in run.get(schedule, {})]

    scenarios = ("cold", "nothing_changed", "one_file_changed")
    out = {
        "seconds": {sch: {sc: stats(seconds(sch, sc)) for sc in scenarios} for sch in ("pipeline", "one graph")},
        "rebuilt": {sch: {sc: rebuilt(sch, sc) for sc in scenarios[1:]} for sch in ("pipeline", "one graph")},
        "exact": [run["pipeline"]["one_file_changed"]["exact"] for run in runs if "pipeline" in run],
        "cold_vs_one_graph": stats(_ratio(seconds("pipeline", "cold"), seconds("one graph", "cold"))),
        "projection": None,
    }
    pipeline, graph = out["seconds"]["pipeline"]["cold"], out["seconds"]["one graph"]["cold"]
    scale = data["meta"]["scale_s_per_minute"]
    if pipeline and graph and scale > 0:
        k = REAL_SCALE / scale
        floors = remote["floor_s"]
        projected = {sch: floors[sch] * k + (st["median"] - floors[sch])
                     for sch, st in (("pipeline", pipeline), ("one graph", graph))}
        out["projection"] = {"pipeline_s": round(projected["pipeline"], 1),
                             "one_graph_s": round(projected["one graph"], 1),
                             "ratio": round(projected["pipeline"] / projected["one graph"], 3)}
    return out


def _remote_targets(targets: list[dict], r: dict) -> None:
    nothing = r["rebuilt"]["pipeline"]["nothing_changed"]
    if nothing:
        _target(targets, "remote", "remote_nothing_changed", {"median": max(nothing)},
                "fresh builder, remote cache, nothing changed: images rebuilt (every run)")
    _target(targets, "remote", "remote_cold_vs_one_graph", r["cold_vs_one_graph"], "cold: pipeline / one graph")
    if r["projection"]:
        _target(targets, "remote", "remote_cold_projected", {"median": r["projection"]["ratio"]},
                "cold at real FATE build times (a model): pipeline / one graph")


def _render_summary(render: dict) -> dict:
    s = render["seconds"]
    out = {k: stats(v) for k, v in s.items()}
    out["ratio"] = round(statistics.median(s["fate_builder"]) / statistics.median(s["bare_jinja2"]), 3)
    return out


def summarize(data: dict) -> dict:
    out: dict = {"selections": {}, "targets": []}
    for name, sel in data.get("selections", {}).items():
        s = out["selections"][name] = _selection_summary(data, sel)
        if sel.get("work_kind", "sleep") == "sleep":
            _selection_targets(out["targets"], name, s)
    if data.get("remote", {}).get("runs"):
        out["remote"] = _remote_summary(data)
        _remote_targets(out["targets"], out["remote"])
    if data.get("render"):
        out["render"] = _render_summary(data["render"])
        _target(out["targets"], "-", "render_vs_bare", {"median": out["render"]["ratio"]},
                "render / python -c 'import jinja2'")
    overhead = data.get("overhead")
    if overhead:
        out["overhead"] = {**{k: stats(v) for k, v in overhead["seconds"].items()}, "ratio": overhead["ratio"]}
        _target(out["targets"], "-", "overhead_vs_plain", {"median": overhead["ratio"]},
                "warm: fate-builder bake --load / docker buildx bake --load")
    return out


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------


def _s(st: dict | None, unit: str = "s", digits: int = 1) -> str:
    if not st:
        return "–"
    if st["n"] == 1:
        return f"{st['median']:.{digits}f} {unit}"
    return f"{st['median']:.{digits}f} {unit} [{st['min']:.{digits}f}–{st['max']:.{digits}f}]"


def _r(st: dict | None) -> str:
    if not st:
        return "–"
    if st["n"] == 1:
        return f"{st['median']:.2f}"
    return f"{st['median']:.2f} [{st['min']:.2f}–{st['max']:.2f}]"


def _ms(st: dict | None) -> str:
    if not st:
        return "–"
    return f"{st['median'] * 1000:.0f} ms [{st['min'] * 1000:.0f}–{st['max'] * 1000:.0f}]"


def _m(st: dict | None, digits: int = 1) -> str:
    return "?" if not st else f"{st['median']:.{digits}f}"


def _met(summary: dict, selection: str, key: str) -> str:
    for t in summary["targets"]:
        if t["selection"] == selection and t["target"] == key:
            return "yes" if t["met"] else "**no**"
    return "–"


def _counts(values: list[int], total: int) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    return f"{low}/{total}" if low == high else f"{low}–{high}/{total}"


TABLE_HEAD = ["| Engine | Selection | Scenario | fate-builder bake | build.sh baseline | Ratio | Target | Met |",
              "|---|---|---|---|---|---|---|---|"]


def markdown(datasets: list[dict]) -> str:
    """The tables of one or more engine generations as one: each generation's header line, the rows, the notes."""
    lines = [f"- **{engine_label(data)}**: {_header(data)}" for data in datasets]
    lines += ["", *TABLE_HEAD]
    for data in datasets:
        lines += [f"| {engine_label(data)} {row}" for row in _rows(data)]
    lines.append("")
    for data in datasets:
        lines += [f"- {engine_label(data)}, {item}" for item in _notes(data)]
    return "\n".join(lines) + "\n"


def headline(datasets: list[dict]) -> str:
    """The table of `markdown` without the header lines and the notes: what the README shows."""
    lines = list(TABLE_HEAD)
    for data in datasets:
        lines += [f"| {engine_label(data)} {row}" for row in _rows(data)]
    return "\n".join(lines) + "\n"


def engine_label(data: dict) -> str:
    m = data["meta"]["machine"]
    return f"Docker {str(m.get('engine', '?')).split('+')[0]}, buildx {version_of(m.get('buildx', ''))}"


def version_of(text: str) -> str:
    found = re.search(r"v?(\d+\.\d+(?:\.\d+)?)", text or "")
    return found.group(1) if found else "?"


def _header(data: dict) -> str:
    meta, m = data["meta"], data["meta"]["machine"]
    parts = [f"{len(sel['runs'])} run{'s' if len(sel['runs']) != 1 else ''} of {name} ({len(sel['images'])} images)"
             for name, sel in data["selections"].items()]
    if data.get("remote", {}).get("runs"):
        parts.append(f"{len(data['remote']['runs'])} of the remote-cache scenarios")
    if data.get("render"):
        parts.append(f"{data['render']['runs']} runs of each render command")
    if data.get("overhead"):
        parts.append(f"{data['overhead']['runs']} alternating runs of the warm overhead")
    later = [f"{key} measured {p['started'][:16].replace('T', ' ')} UTC (load average {p['load_avg_1m'][0]} → "
             f"{p['load_avg_1m'][1]}; {p['note']})".replace("; )", ")")
             for key, p in meta.get("parts", {}).items()]
    return (
        f"Measured {meta['started'][:16].replace('T', ' ')} UTC on {m.get('cores')} cores, Docker {m.get('engine')} "
        f"({m.get('storage')} image store, builder {m.get('builder')}), {m.get('buildx', '').split(' ')[-1]}; "
        f"work scaled to {meta['scale_s_per_minute']:g} s per real-FATE minute; {', '.join(parts)}; "
        f"medians [min–max]; cold = images removed"
        f"{' and build cache pruned' if meta['prune'] else ' and a fresh cache key (no prune)'}; "
        f"load average {meta['load_avg_1m_start']} → {meta['load_avg_1m_end']}."
        + (f" {meta['note']}" if meta.get("note") else "")
        + (f" Added to it: {'; '.join(later)}." if later else "")
    )


def _rows(data: dict) -> list[str]:
    summary = data["summary"]
    lines: list[str] = []
    for name, sel in data["selections"].items():
        lines += _selection_rows(data, name, sel)
    lines += _remote_rows(data)
    render = summary.get("render")
    if render:
        lines.append(
            f"| catalog ({data['render']['targets_rendered']} targets) | `fate-builder render` | "
            f"{_ms(render['fate_builder'])} | `python -c \"import jinja2\"` {_ms(render['bare_jinja2'])} | "
            f"{render['ratio']:.2f} × | ≤ {LIMITS['render_vs_bare']:.2f} | {_met(summary, '-', 'render_vs_bare')} |")
    overhead = summary.get("overhead")
    if overhead:
        o = data["overhead"]
        lines.append(
            f"| default ({o['images']}) | warm, nothing changed: fate-builder's own cost (CLI, render, preflight) | "
            f"`fate-builder bake --load` {_s(overhead['fate_builder'], digits=2)} | "
            f"plain `docker buildx bake --load` {_s(overhead['plain_bake'], digits=2)} | "
            f"{overhead['ratio']:.2f} × plain (load {o['load_avg_1m'][0]} → {o['load_avg_1m'][1]}) | ≤ 1.25 | "
            f"{_met(summary, '-', 'overhead_vs_plain')} |")
    return lines


def _selection_rows(data: dict, name: str, sel: dict) -> list[str]:
    summary = data["summary"]
    s, n = summary["selections"][name], len(sel["images"])
    label = f"{sel.get('selection', name)} ({n}), CPU-bound work" if sel.get("work_kind") == "cpu" else f"{name} ({n})"
    secs, ratios = s["seconds"], s["ratios"]
    lines = [f"| {label} | cold | {_s(secs['cold']['fate-builder'])} | {_s(secs['cold']['baseline'])} | "
             f"{_r(ratios['cold_vs_baseline'])} × baseline | ≤ 0.60 | {_met(summary, name, 'cold_vs_baseline')} |"]
    if sel.get("cpu_floor_s"):
        return [*lines, f"| {label} | cold vs {n_cores(data)}-core floor max(critical path, work ÷ cores) "
                        f"{sel['cpu_floor_s']:.1f} s | {_s(secs['cold']['fate-builder'])} | | "
                        f"{_r(ratios['cold_vs_cpu_floor'])} × floor | | |"]
    cp = sel["critical_path"]
    cp_text = f"critical path {cp['nominal_s']:.1f} s" + (
        f" (measured steps {statistics.median(cp['measured_s']):.1f} s)" if cp["measured_s"] else "")
    lines.append(f"| {label} | cold vs {cp_text} | {_s(secs['cold']['fate-builder'])} | | "
                 f"{_r(ratios['cold_vs_critical_path'])} × critical path"
                 + (f" ({_r(ratios['cold_vs_measured_critical_path'])} × measured)"
                    if ratios.get("cold_vs_measured_critical_path") else "")
                 + f" | ≤ 1.30 | {_met(summary, name, 'cold_vs_critical_path')} |")
    return [*lines, *_rebuild_rows(summary, name, sel, label)]


def _rebuild_rows(summary: dict, name: str, sel: dict, label: str) -> list[str]:
    """Warm, incremental and touch: the time, how many images were rebuilt, against the cold build."""
    s, n = summary["selections"][name], len(sel["images"])
    secs, ratios, rebuilt = s["seconds"], s["ratios"], s["rebuilt_counts"]

    def cell(scenario: str, strategy: str) -> str:
        return f"{_s(secs[scenario][strategy])}, rebuilt {_counts(rebuilt[scenario][strategy], n)}"

    lines = []
    if secs["warm"]["fate-builder"] or secs["warm"]["baseline"]:
        lines.append(f"| {label} | warm, nothing changed | {cell('warm', 'fate-builder')} | {cell('warm', 'baseline')} "
                     f"| {_r(ratios['warm_vs_cold']['fate-builder'])} × cold (baseline "
                     f"{_r(ratios['warm_vs_cold']['baseline'])}) | ≤ 0.05 | {_met(summary, name, 'warm_vs_cold')} |")
    if secs["incremental"]["fate-builder"] or secs["incremental"]["baseline"]:
        exact = s["incremental_exact"]
        exact_text = ("exactly the fateflow images" if exact and all(exact)
                      else f"**not** the {len(sel['incremental_expected'])} fateflow images")
        floor, cp = sel["incremental_floor_s"], sel["critical_path"]["nominal_s"]
        lines.append(
            f"| {label} | incremental: one file under fateflow changed | {cell('incremental', 'fate-builder')}, "
            f"{exact_text} | {cell('incremental', 'baseline')} | {_r(ratios['incremental_vs_cold']['fate-builder'])} "
            f"× cold (baseline {_r(ratios['incremental_vs_cold']['baseline'])}; floor {floor:.1f} s = "
            f"{floor / cp:.2f} × critical path) | ≤ 0.30, exact set | {_met(summary, name, 'incremental_vs_cold')} |")
    if secs["touch"]["fate-builder"]:
        lines.append(f"| {label} | touch only (mtime of the same file) | {cell('touch', 'fate-builder')} | (as warm) | "
                     f"{_r(ratios['touch_vs_cold']['fate-builder'])} × cold | | |")
    return lines


def _remote_rows(data: dict) -> list[str]:
    summary = data["summary"]
    r = summary.get("remote")
    if not r:
        return []
    n = len(data["remote"]["images"])
    label, secs, rebuilt = f"default ({n}), remote cache", r["seconds"], r["rebuilt"]
    exact, expected = r["exact"], len(data["remote"]["expected"])
    exact_text = "exactly the fateflow images" if exact and all(exact) else f"**not** the {expected} fateflow images"
    graph_nothing = (f"one graph: {_s(secs['one graph']['nothing_changed'])}, rebuilt "
                     f"{_counts(rebuilt['one graph']['nothing_changed'], n)}")
    lines = [
        f"| {label} | fresh builder, nothing changed (every CI run) | {_s(secs['pipeline']['nothing_changed'])}, "
        f"rebuilt {_counts(rebuilt['pipeline']['nothing_changed'], n)} | | {graph_nothing} | 0 rebuilt | "
        f"{_met(summary, 'remote', 'remote_nothing_changed')} |",
        f"| {label} | fresh builder, one file under fateflow changed | {_s(secs['pipeline']['one_file_changed'])}, "
        f"rebuilt {_counts(rebuilt['pipeline']['one_file_changed'], n)}, {exact_text} | | | exact set | "
        f"{'yes' if exact and all(exact) else '**no**'} |",
        f"| {label} | cold: fate-builder's pipeline vs one graph | {_s(secs['pipeline']['cold'])} | | "
        f"{_r(r['cold_vs_one_graph'])} × one graph {_s(secs['one graph']['cold'])} | ≤ 1.10 | "
        f"{_met(summary, 'remote', 'remote_cold_vs_one_graph')} |",
    ]
    p = r["projection"]
    if p:
        lines.append(f"| {label} | cold projected to real FATE build times (a model) | "
                     f"{p['pipeline_s'] / 60:.0f} min | | {p['ratio']:.2f} × one graph {p['one_graph_s'] / 60:.0f} min "
                     "| ≤ 1.10 | "
                     f"{_met(summary, 'remote', 'remote_cold_projected')} |")
    return lines


def n_cores(data: dict) -> int:
    return data["meta"]["machine"].get("cores") or 1


def _notes(data: dict) -> list[str]:
    """Where the time goes: the lines under the table."""
    out = []
    for name, sel in data["selections"].items():
        s = data["summary"]["selections"][name]
        out += [note for note in (_timeline_note(name, sel, s), _anatomy_note(name, sel, s),
                                  _projection_note(name, sel, s), _baseline_note(name, sel, s)) if note]
    if data["summary"].get("remote"):
        out.append(_remote_note(data))
    probe = data.get("probe")
    if probe:
        cases = "; ".join(f"{c['targets']} × {c['named_contexts']}: {c['cacheonly_s']:.1f} s cache-only, "
                          f"{c['docker_s']:.1f} s type=docker" for c in probe["cases"])
        d = probe.get("derived", {})
        out.append(f"probe, warm bakes of N trivial targets × K named contexts (N × K: times): {cases}; about "
                   f"{d.get('per_target_cacheonly_s', '?')} s per target, {d.get('per_named_context_load_s', '?')} s "
                   f"per named context, {d.get('per_target_export_s', '?')} s per exported image.")
    return out


def _timeline_note(name: str, sel: dict, s: dict) -> str | None:
    tl, n = s["fate_builder_timeline"], len(sel["images"])
    if not tl["startup_s"]:
        return None
    gap = tl.get("bake_start_gap_s")
    return (f"{name} ({n}), fate-builder cold {_m(s['seconds']['cold']['fate-builder'])} s: bake's first line "
            f"at {_m(tl['startup_s'])} s (CLI, render, preflight)"
            + (f", the first build's {_m(gap)} s after bake read its file" if gap and gap["median"] > 0.05 else "")
            + f"; {_m(tl['context_loads'], 0)} context loads, the last done at {_m(tl['last_context_load_s'])} s; "
            f"the last work step ended at {_m(tl['last_work_end_s'])} s (critical path "
            f"{sel['critical_path']['nominal_s']:.1f} s), exports took the {_m(tl['tail_s'])} s after it; at most "
            f"{_m(tl['peak_parallel_work_steps'], 0)} work steps ran at once; export and unpack took "
            f"{_m(tl['export_s_sum'])} s summed over the {n} images.")


def _anatomy_note(name: str, sel: dict, s: dict) -> str | None:
    a = s.get("warm_anatomy")
    if not a:
        return None
    return (f"{name} ({len(sel['images'])}), fate-builder warm {_m(s['seconds']['warm']['fate-builder'])} s, its "
            f"parts alone: `fate-builder render` {_m(a['render_s'], 2)} s, `fate-builder doctor` (bake's preflight) "
            f"{_m(a['doctor_s'], 2)} s; the same bake alone (one round) {_m(a['bake_load_s'])} s, "
            f"{_m(a['bake_cacheonly_s'])} s with cache-only outputs (no export or unpack).")


def _projection_note(name: str, sel: dict, s: dict) -> str | None:
    p = s.get("projection")
    if not p:
        return None
    parts = [f"cold {p['fate_builder_cold_s'] / 60:.0f} min = {p['cold_vs_critical_path']:.3f} × critical path"]
    if "cold_vs_baseline" in p:
        parts.append(f"{p['cold_vs_baseline']:.2f} × baseline ({p['baseline_cold_s'] / 60:.0f} min)")
    if "warm_vs_cold" in p:
        parts.append(f"warm {p['warm_vs_cold']:.4f} × cold")
    if "incremental_vs_cold" in p:
        parts.append(f"incremental {p['incremental_vs_cold']:.2f} × cold")
    return (f"{name} ({len(sel['images'])}), projected to real FATE build times ({REAL_SCALE:g} s per minute, work × "
            f"{p['scale_factor']:g}, the fixed costs measured here kept; a model, not a measurement): "
            + ", ".join(parts) + ".")


def _baseline_note(name: str, sel: dict, s: dict) -> str | None:
    b, n = s["baseline_parts"], len(sel["images"])
    if not b["package_s"]:
        return None
    return (f"{name} ({n}), baseline cold: package step {_m(b['package_s'], 2)} s; the {n} `docker build`s "
            f"spent {_m(b['overhead_s_sum'])} s outside their Dockerfile steps (CLI, context, export, unpack).")


def _remote_note(data: dict) -> str:
    remote, r = data["remote"], data["summary"]["remote"]
    floors, p = remote["floor_s"], r["projection"]
    waiting = sum(1 for waits in remote["schedule"].values() if waits)
    return (f"remote cache (CACHE=registry, `docker buildx prune -af` and the images removed before every bake, "
            f"rebuilt = layers differ from the cold bake's): fate-builder's pipeline ({len(remote['schedule'])} bakes, "
            f"{waiting} waiting for their parent or an image they share a step with) needs at least "
            f"{floors['pipeline']:.1f} s of work along its longest chain of waits, one graph "
            f"{floors['one graph']:.1f} s (critical path)"
            + (f"; at real FATE build times (the floors × {REAL_SCALE / data['meta']['scale_s_per_minute']:g}, the "
               f"fixed costs measured here kept) {p['pipeline_s'] / 60:.0f} min against {p['one_graph_s'] / 60:.0f} "
               "min" if p else "") + ".")
