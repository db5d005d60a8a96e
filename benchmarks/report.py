"""The benchmark's numbers as a summary (medians with min and max), a Markdown table and a chart."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path

CHART_NAME = "chart.png"
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"

LIMITS = {
    "cold_vs_baseline": 0.6,
    "cold_vs_critical_path": 1.3,
    "warm_vs_cold": 0.05,
    "incremental_vs_cold": 0.30,
    "render_vs_bare": 2.5,
    "overhead_vs_plain": 1.25,
}
SELECTION_TITLES = {"default": "default selection", "all": "everything amd64 allows"}


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


REAL_SCALE = 60.0  # a real FATE build: 60 s per minute


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


def summarize(data: dict) -> dict:
    out: dict = {"selections": {}, "targets": []}
    for name, sel in data.get("selections", {}).items():
        runs = sel["runs"]
        secs = {sc: {st: stats(_seconds(runs, st, sc)) for st in ("fate-builder", "baseline")}
                for sc in ("cold", "warm", "incremental", "touch")}
        fb = {sc: _seconds(runs, "fate-builder", sc) for sc in ("cold", "warm", "incremental", "touch")}
        base = {sc: _seconds(runs, "baseline", sc) for sc in ("cold", "warm", "incremental")}
        cp = sel["critical_path"]["nominal_s"]
        measured = sel["critical_path"]["measured_s"]
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
        rebuilt = {sc: {st: [len(run[st][sc]["rebuilt"]) for run in runs if sc in run.get(st, {})]
                        for st in ("fate-builder", "baseline")} for sc in ("warm", "incremental", "touch")}
        exact = [run["fate-builder"]["incremental"]["exact"] for run in runs
                 if "incremental" in run.get("fate-builder", {})]
        fb_runs = [run["fate-builder"] for run in runs if "fate-builder" in run]
        base_runs = [run["baseline"] for run in runs if "baseline" in run]
        anatomy = [r["warm_anatomy"] for r in fb_runs if "error" not in r.get("warm_anatomy", {"error": 1})]
        anatomy_keys = ("render_s", "doctor_s", "bake_load_s", "bake_cacheonly_s")
        timeline_keys = ("startup_s", "bake_start_gap_s", "context_loads", "last_context_load_s", "last_work_end_s",
                         "tail_s", "export_s_sum", "export_s_max", "peak_parallel_work_steps")
        out["selections"][name] = {
            "images": len(sel["images"]), "seconds": secs, "ratios": ratios, "rebuilt_counts": rebuilt,
            "incremental_exact": exact,
            "fate_builder_timeline": {sc: {k: stats(r[sc].get(k) for r in fb_runs if sc in r) for k in timeline_keys}
                                      for sc in ("cold", "warm", "incremental")},
            "warm_anatomy": {k: stats(a.get(k) for a in anatomy) for k in anatomy_keys} if anatomy else None,
            "baseline_parts": {sc: {"package_s": stats(r[sc]["package_s"] for r in base_runs if sc in r),
                                    "overhead_s_sum": stats(r[sc]["overhead_s_sum"] for r in base_runs if sc in r)}
                               for sc in ("cold", "warm", "incremental")},
        }
        out["selections"][name]["projection"] = _projection(data, sel, secs)
        targets = out["targets"] if sel.get("work_kind", "sleep") == "sleep" else []
        _target(targets, name, "cold_vs_baseline", ratios["cold_vs_baseline"], "cold: fate-builder / baseline")
        _target(targets, name, "cold_vs_critical_path", ratios["cold_vs_critical_path"],
                "cold: fate-builder / critical path")
        _target(targets, name, "warm_vs_cold", ratios["warm_vs_cold"]["fate-builder"], "warm: fate-builder / its cold")
        _target(targets, name, "incremental_vs_cold", ratios["incremental_vs_cold"]["fate-builder"],
                "incremental: fate-builder / its cold, exactly the fateflow images", all(exact) if exact else True)
    render = data.get("render")
    if render:
        s = render["seconds"]
        out["render"] = {k: stats(v) for k, v in s.items()}
        ratio = statistics.median(s["fate_builder"]) / statistics.median(s["bare_jinja2"])
        out["render"]["ratio"] = round(ratio, 3)
        out["targets"].append({"selection": "-", "target": "render_vs_bare",
                               "what": "render / python -c 'import jinja2'", "median": round(ratio, 3),
                               "limit": LIMITS["render_vs_bare"], "met": ratio <= LIMITS["render_vs_bare"]})
    overhead = data.get("overhead")
    if overhead:
        s = overhead["seconds"]
        out["overhead"] = {k: stats(v) for k, v in s.items()}
        out["overhead"]["ratio"] = overhead["ratio"]
        out["targets"].append({"selection": "-", "target": "overhead_vs_plain",
                               "what": "warm: fate-builder bake --load / docker buildx bake --load",
                               "median": overhead["ratio"], "limit": LIMITS["overhead_vs_plain"],
                               "met": overhead["ratio"] <= LIMITS["overhead_vs_plain"]})
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


TABLE_HEAD = ["| Selection | Scenario | fate-builder bake | build.sh baseline | Ratio | Target | Met |",
              "|---|---|---|---|---|---|---|"]


def markdown(data: dict) -> str:
    """One run's table: what was measured, the rows, then where the time goes."""
    return "\n".join([_header(data), "", *TABLE_HEAD, *_rows(data), "", *_where_the_time_goes(data)]) + "\n"


def engine_label(data: dict) -> str:
    m = data["meta"]["machine"]
    engine = str(m.get("engine", "?")).split("+")[0]
    buildx = version_of(m.get("buildx", ""))
    return f"Docker {engine}, buildx {buildx}"


def version_of(text: str) -> str:
    import re

    found = re.search(r"v?(\d+\.\d+(?:\.\d+)?)", text or "")
    return found.group(1) if found else "?"


def markdown_engines(datasets: list[dict]) -> str:
    """The tables of several engine generations as one: an Engine column, each generation's own header line."""
    lines = [f"- **{engine_label(data)}**: {_header(data)}" for data in datasets]
    lines += ["", "| Engine " + TABLE_HEAD[0], "|---" + TABLE_HEAD[1]]
    for data in datasets:
        lines += [f"| {engine_label(data)} {row}" for row in _rows(data)]
    lines.append("")
    for data in datasets:
        lines += [f"- {engine_label(data)}, {item[2:]}" for item in _where_the_time_goes(data)]
    return "\n".join(lines) + "\n"


def with_chart(table: str, readme: Path, chart: Path) -> str:
    """The table and, under it, the chart, linked relative to the README it goes into."""
    import os

    return f"{table}\n![benchmark chart]({os.path.relpath(chart, Path(readme).resolve().parent)})\n"


def publish(data: dict, folder: Path) -> Path:
    """Keep `data` as its engine generation's results (docker-MAJOR.MINOR.json), replacing that generation's last."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    major_minor = ".".join(version_of(str(data["meta"]["machine"].get("engine", ""))).split(".")[:2])
    path = folder / f"docker-{major_minor}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_engines(folder: Path) -> list[dict]:
    """Every kept generation's results, oldest engine first."""
    import json

    found = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("docker-*.json")]

    def key(data: dict) -> tuple[int, ...]:
        return tuple(int(x) for x in version_of(str(data["meta"]["machine"].get("engine", ""))).split(".")
                     if x.isdigit())

    return sorted(found, key=key)


def _header(data: dict) -> str:
    meta = data["meta"]
    m = meta["machine"]
    runs_text = ", ".join(f"{len(sel['runs'])} run{'s' if len(sel['runs']) != 1 else ''} of {name} "
                          f"({len(sel['images'])} images)" for name, sel in data["selections"].items())
    extra = []
    if data.get("render"):
        extra.append(f"{data['render']['runs']} runs of each render command")
    if data.get("overhead"):
        extra.append(f"{data['overhead']['runs']} alternating runs of the warm overhead")
    if extra:
        runs_text += "; " + ", ".join(extra)
    return (
        f"Measured {meta['started'][:16].replace('T', ' ')} UTC on {m.get('cores')} cores, Docker {m.get('engine')} "
        f"({m.get('storage')} image store, builder {m.get('builder')}), {m.get('buildx', '').split(' ')[-1]}; "
        f"work scaled to {meta['scale_s_per_minute']:g} s per real-FATE minute; {runs_text}; "
        f"medians [min–max]; cold = images removed"
        f"{' and build cache pruned' if meta['prune'] else ' and a fresh cache key (no prune)'}; "
        f"load average {meta['load_avg_1m_start']} → {meta['load_avg_1m_end']}."
        + (f" {meta['note']}" if meta.get("note") else "")
    )


def _rows(data: dict) -> list[str]:
    summary = data["summary"]
    lines: list[str] = []
    for name, sel in data["selections"].items():
        s = summary["selections"][name]
        n = len(sel["images"])
        label = f"{name} ({n})"
        if sel.get("work_kind") == "cpu":
            label = f"{sel.get('selection', name)} ({n}), CPU-bound work"
        cp = sel["critical_path"]
        measured = cp["measured_s"]
        cp_text = f"critical path {cp['nominal_s']:.1f} s"
        if measured:
            cp_text += f" (measured steps {statistics.median(measured):.1f} s)"
        secs, ratios, rebuilt = s["seconds"], s["ratios"], s["rebuilt_counts"]
        lines.append(f"| {label} | cold | {_s(secs['cold']['fate-builder'])} | {_s(secs['cold']['baseline'])} | "
                     f"{_r(ratios['cold_vs_baseline'])} × baseline | ≤ 0.60 | "
                     f"{_met(summary, name, 'cold_vs_baseline')} |")
        if sel.get("cpu_floor_s"):
            lines.append(f"| {label} | cold vs {n_cores(data)}-core floor max(critical path, work ÷ cores) "
                         f"{sel['cpu_floor_s']:.1f} s | {_s(secs['cold']['fate-builder'])} | | "
                         f"{_r(ratios['cold_vs_cpu_floor'])} × floor | | |")
            continue
        lines.append(f"| {label} | cold vs {cp_text} | {_s(secs['cold']['fate-builder'])} | | "
                     f"{_r(ratios['cold_vs_critical_path'])} × critical path"
                     + (f" ({_r(ratios['cold_vs_measured_critical_path'])} × measured)"
                        if ratios.get("cold_vs_measured_critical_path") else "")
                     + f" | ≤ 1.30 | {_met(summary, name, 'cold_vs_critical_path')} |")
        if secs["warm"]["fate-builder"] or secs["warm"]["baseline"]:
            lines.append(
                f"| {label} | warm, nothing changed | {_s(secs['warm']['fate-builder'])}, rebuilt "
                f"{_counts(rebuilt['warm']['fate-builder'], n)} | {_s(secs['warm']['baseline'])}, rebuilt "
                f"{_counts(rebuilt['warm']['baseline'], n)} | {_r(ratios['warm_vs_cold']['fate-builder'])} × cold "
                f"(baseline {_r(ratios['warm_vs_cold']['baseline'])}) | ≤ 0.05 | "
                f"{_met(summary, name, 'warm_vs_cold')} |")
        if secs["incremental"]["fate-builder"] or secs["incremental"]["baseline"]:
            exact = s["incremental_exact"]
            expected = len(sel["incremental_expected"])
            exact_text = ("exactly the fateflow images" if exact and all(exact)
                          else f"**not** the {expected} fateflow images")
            lines.append(
                f"| {label} | incremental: one file under fateflow changed | "
                f"{_s(secs['incremental']['fate-builder'])}, "
                f"rebuilt {_counts(rebuilt['incremental']['fate-builder'], n)}, {exact_text} | "
                f"{_s(secs['incremental']['baseline'])}, rebuilt {_counts(rebuilt['incremental']['baseline'], n)} | "
                f"{_r(ratios['incremental_vs_cold']['fate-builder'])} × cold "
                f"(baseline {_r(ratios['incremental_vs_cold']['baseline'])}; floor "
                f"{sel['incremental_floor_s']:.1f} s = {sel['incremental_floor_s'] / cp['nominal_s']:.2f} × critical "
                f"path) | ≤ 0.30, exact set | {_met(summary, name, 'incremental_vs_cold')} |")
        if secs["touch"]["fate-builder"]:
            lines.append(f"| {label} | touch only (mtime of the same file) | {_s(secs['touch']['fate-builder'])}, "
                         f"rebuilt {_counts(rebuilt['touch']['fate-builder'], n)} | (as warm) | "
                         f"{_r(ratios['touch_vs_cold']['fate-builder'])} × cold | | |")
    render = summary.get("render")
    if render:
        lines.append(
            f"| catalog ({data['render']['targets_rendered']} targets) | `fate-builder render` | "
            f"{_ms(render['fate_builder'])} | "
            f"`python -c \"import jinja2\"` {_ms(render['bare_jinja2'])} | {render['ratio']:.2f} × | ≤ 2.50 | "
            f"{_met(summary, '-', 'render_vs_bare')} |")
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


def n_cores(data: dict) -> int:
    return data["meta"]["machine"].get("cores") or 1


def _m(st: dict | None, digits: int = 1) -> str:
    return "?" if not st else f"{st['median']:.{digits}f}"


def _where_the_time_goes(data: dict) -> list[str]:
    summary = data["summary"]
    out = []
    for name, sel in data["selections"].items():
        s = summary["selections"][name]
        n = len(sel["images"])
        tl = s["fate_builder_timeline"]["cold"]
        if tl["startup_s"]:
            out.append(
                f"- {name} ({n}), fate-builder cold {_m(s['seconds']['cold']['fate-builder'])} s: bake's first line "
                f"at {_m(tl['startup_s'])} s (CLI, render, preflight)"
                + (f", the first build's {_m(tl['bake_start_gap_s'])} s after bake read its file"
                   if tl.get("bake_start_gap_s") and tl["bake_start_gap_s"]["median"] > 0.05 else "")
                + f"; {_m(tl['context_loads'], 0)} context loads, the last done at "
                f"{_m(tl['last_context_load_s'])} s; "
                f"the last work step ended at {_m(tl['last_work_end_s'])} s (critical path "
                f"{sel['critical_path']['nominal_s']:.1f} s), exports took the {_m(tl['tail_s'])} s after it; at most "
                f"{_m(tl['peak_parallel_work_steps'], 0)} work steps ran at once; export and unpack took "
                f"{_m(tl['export_s_sum'])} s summed over the {n} images.")
        a = s.get("warm_anatomy")
        if a:
            out.append(
                f"- {name} ({n}), fate-builder warm {_m(s['seconds']['warm']['fate-builder'])} s, its parts alone: "
                f"`fate-builder render` {_m(a['render_s'], 2)} s, `fate-builder doctor` (bake's preflight) "
                f"{_m(a['doctor_s'], 2)} s; the same `docker buildx bake` call {_m(a['bake_load_s'])} s, "
                f"{_m(a['bake_cacheonly_s'])} s with cache-only outputs (no export or unpack).")
        p = s.get("projection")
        if p:
            parts = [f"cold {p['fate_builder_cold_s'] / 60:.0f} min = {p['cold_vs_critical_path']:.3f} × critical path"]
            if "cold_vs_baseline" in p:
                parts.append(f"{p['cold_vs_baseline']:.2f} × baseline ({p['baseline_cold_s'] / 60:.0f} min)")
            if "warm_vs_cold" in p:
                parts.append(f"warm {p['warm_vs_cold']:.4f} × cold")
            if "incremental_vs_cold" in p:
                parts.append(f"incremental {p['incremental_vs_cold']:.2f} × cold")
            out.append(f"- {name} ({n}), projected to real FATE build times ({REAL_SCALE:g} s per minute, work × "
                       f"{p['scale_factor']:g}, the fixed costs measured here kept; a model, not a measurement): "
                       + ", ".join(parts) + ".")
        b = s["baseline_parts"]["cold"]
        if b["package_s"]:
            out.append(
                f"- {name} ({n}), baseline cold: package step {_m(b['package_s'], 2)} s; the {n} `docker build`s "
                f"spent {_m(b['overhead_s_sum'])} s outside their Dockerfile steps (CLI, context, export, unpack).")
    probe = data.get("probe")
    if probe:
        cases = "; ".join(f"{c['targets']} × {c['named_contexts']}: {c['cacheonly_s']:.1f} s cache-only, "
                          f"{c['docker_s']:.1f} s type=docker" for c in probe["cases"])
        d = probe.get("derived", {})
        out.append(f"- probe, warm bakes of N trivial targets × K named contexts (N × K: times): {cases}; about "
                   f"{d.get('per_target_cacheonly_s', '?')} s per target, {d.get('per_named_context_load_s', '?')} s "
                   f"per named context, {d.get('per_target_export_s', '?')} s per exported image.")
    return out


def _ms(st: dict | None) -> str:
    if not st:
        return "–"
    return f"{st['median'] * 1000:.0f} ms [{st['min'] * 1000:.0f}–{st['max'] * 1000:.0f}]"


def update_readme(path: Path, table: str) -> bool:
    text = Path(path).read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    Path(path).write_text(f"{head}{START}\n{table}{END}{tail}", encoding="utf-8")
    return True


# --------------------------------------------------------------------------------------
# chart
# --------------------------------------------------------------------------------------


def _pyplot():  # noqa: ANN202 - matplotlib is optional
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("benchmark: matplotlib is not installed; no chart", flush=True)
        return None
    return plt


COLORS = {"fate-builder": "#2f7ed8", "baseline": "#c0504d"}
LABELS = {"fate-builder": "fate-builder bake", "baseline": "build.sh (sequential)"}


def _selection_panel(ax, data: dict, name: str, title_prefix: str = "") -> None:  # noqa: ANN001
    """Cold / warm / incremental of one selection, both strategies (median, min–max), with the floors."""
    summary = data["summary"]
    sel = data["selections"][name]
    secs = summary["selections"][name]["seconds"]
    scenarios = [sc for sc in ("cold", "warm", "incremental") if secs[sc]["fate-builder"] or secs[sc]["baseline"]]
    width = 0.38
    for i, strategy in enumerate(("fate-builder", "baseline")):
        xs, heights, low, high = [], [], [], []
        for j, sc in enumerate(scenarios):
            st = secs[sc][strategy]
            if not st:
                continue
            xs.append(j + (i - 0.5) * width)
            heights.append(st["median"])
            low.append(st["median"] - st["min"])
            high.append(st["max"] - st["median"])
        bars = ax.bar(xs, heights, width, yerr=[low, high], capsize=3, color=COLORS[strategy], label=LABELS[strategy])
        ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    floor = sel.get("cpu_floor_s") or sel["critical_path"]["nominal_s"]
    what = f"{n_cores(data)}-core floor" if sel.get("cpu_floor_s") else "critical path"
    ax.hlines(floor, -0.5, 0.5, colors="black", linestyles="dashed", linewidth=1)
    ax.annotate(f"{what} {floor:.1f} s", (0, floor), textcoords="offset points", xytext=(0, 4), ha="center",
                fontsize=8)
    if "incremental" in scenarios and sel.get("incremental_floor_s"):
        x = scenarios.index("incremental")
        inc_floor = sel["incremental_floor_s"]
        ax.hlines(inc_floor, x - 0.5, x + 0.5, colors="black", linestyles="dotted", linewidth=1)
        ax.annotate(f"floor {inc_floor:.1f} s", (x, inc_floor), textcoords="offset points", xytext=(0, 4),
                    ha="center", fontsize=8)
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_xlim(-0.75, len(scenarios) - 0.25)
    ax.set_ylabel("seconds (median, min–max)")
    kind = ", CPU-bound work" if sel.get("work_kind") == "cpu" else ""
    ax.set_title(f"{title_prefix}{len(sel['images'])} images ({SELECTION_TITLES.get(sel.get('selection', name), name)}"
                 f"{kind}), {len(sel['runs'])} run{'s' if len(sel['runs']) != 1 else ''}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _bars(ax, stats_by_label: list[tuple[str, dict]], colors: list[str], unit: float, fmt: str) -> None:  # noqa: ANN001
    heights = [st["median"] * unit for _, st in stats_by_label]
    low = [(st["median"] - st["min"]) * unit for _, st in stats_by_label]
    high = [(st["max"] - st["median"]) * unit for _, st in stats_by_label]
    bars = ax.bar(range(len(heights)), heights, 0.6, yerr=[low, high], capsize=3, color=colors)
    ax.bar_label(bars, fmt=fmt, fontsize=8, padding=2)
    ax.set_xticks(range(len(heights)), [label for label, _ in stats_by_label], fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _render_panel(ax, data: dict) -> None:  # noqa: ANN001
    r = data["summary"]["render"]
    _bars(ax, [("fate-builder\nrender", r["fate_builder"]), ("python -c\n'import jinja2'", r["bare_jinja2"]),
               ("python -c\n'pass'", r["python"])], ["#2f7ed8", "#999999", "#cccccc"], 1000, "%.0f")
    ax.set_ylabel("milliseconds (median, min–max)")
    ax.set_title(f"render, {r['fate_builder']['n']} runs: {r['ratio']:.2f} × import jinja2", fontsize=10)


def _overhead_panel(ax, data: dict, title_prefix: str = "") -> None:  # noqa: ANN001
    o = data["summary"]["overhead"]
    _bars(ax, [("fate-builder\nbake --load", o["fate_builder"]), ("docker buildx\nbake --load", o["plain_bake"])],
          ["#2f7ed8", "#999999"], 1, "%.2f")
    ax.set_ylabel("seconds (median, min–max)")
    ax.set_title(f"{title_prefix}warm, nothing changed, {o['fate_builder']['n']} runs: {o['ratio']:.2f} × plain bake",
                 fontsize=10)


def chart(data: dict, path: Path) -> bool:
    """Grouped bars: per selection, cold / warm / incremental for both strategies (median, min–max)."""
    plt = _pyplot()
    if plt is None:
        return False
    summary = data["summary"]
    selections = list(data["selections"])
    extra = [p for p in ("render", "overhead") if summary.get(p)]
    panels = len(selections) + len(extra)
    if panels == 0:
        return False
    cols = min(panels, 2)
    rows = (panels + cols - 1) // cols
    fig, grid = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.6 * rows), squeeze=False)
    cells = [ax for row in grid for ax in row]
    for ax in cells[panels:]:
        ax.set_visible(False)
    for ax, name in zip(cells, selections):
        _selection_panel(ax, data, name)
    for ax, part in zip(cells[len(selections):], extra):
        (_render_panel if part == "render" else _overhead_panel)(ax, data)
    meta = data["meta"]
    fig.suptitle(f"fate-builder vs FATE-Builder build.sh — {meta['machine'].get('cores')} cores, "
                 f"work {meta['scale_s_per_minute']:g} s per FATE minute, {meta['started'][:10]}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def chart_engines(datasets: list[dict], path: Path) -> bool:
    """One row per engine generation: its selections, then its warm overhead; written to a temporary file first."""
    plt = _pyplot()
    if plt is None or not datasets:
        return False
    rows = [[*[("selection", n) for n in d["selections"]], *([("overhead", "")] if d["summary"].get("overhead")
                                                             else [])] for d in datasets]
    cols = max(len(r) for r in rows) or 1
    fig, grid = plt.subplots(len(rows), cols, figsize=(6.4 * cols, 4.6 * len(rows)), squeeze=False)
    for data, panels, axes in zip(datasets, rows, grid):
        label = f"{engine_label(data)}: "
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        for ax, (kind, name) in zip(axes, panels):
            if kind == "selection":
                _selection_panel(ax, data, name, label)
            else:
                _overhead_panel(ax, data, label)
    first = datasets[0]["meta"]
    fig.suptitle(f"fate-builder vs FATE-Builder build.sh — {first['machine'].get('cores')} cores, "
                 f"work {first['scale_s_per_minute']:g} s per FATE minute", fontsize=11)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return True


def main(argv: list[str] | None = None) -> int:
    """Render latest.md and latest.png again from latest.json (and update README tables), without re-running."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=main.__doc__)
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--readme", type=Path, action="append", default=[],
                        help="update the table between the bench markers in this file (repeatable)")
    parser.add_argument("--engines", action="store_true",
                        help="the READMEs get every generation kept in benchmarks/engines (and chart.png), not "
                             "latest.json")
    args = parser.parse_args(argv)
    data = json.loads((args.results / "latest.json").read_text(encoding="utf-8"))
    data["summary"] = summarize(data)
    (args.results / "latest.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    table = markdown(data)
    (args.results / "latest.md").write_text(table, encoding="utf-8")
    chart(data, args.results / "latest.png")
    here = Path(__file__).resolve().parent
    table_of: dict[Path, str] = {}
    if args.engines:
        kept = load_engines(here / "engines")
        for data in kept:
            data["summary"] = summarize(data)
        table = markdown_engines(kept)
        if chart_engines(kept, here / CHART_NAME):
            table_of = {readme: with_chart(table, readme, here / CHART_NAME) for readme in args.readme}
    for readme in args.readme:
        if not update_readme(readme, table_of.get(readme, table) if args.engines else table):
            print(f"{readme}: no '{START}' / '{END}' markers", flush=True)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
