"""The benchmark's chart: one row per engine generation, a panel per selection, the remote cache, the warm overhead."""

from __future__ import annotations

from pathlib import Path

from .report import SELECTION_TITLES, engine_label, n_cores

COLORS = {"fate-builder": "#2f7ed8", "baseline": "#c0504d", "one graph": "#999999"}
LABELS = {"fate-builder": "fate-builder bake", "baseline": "build.sh (sequential)"}


def _pyplot():  # noqa: ANN202 - matplotlib is optional
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("benchmark: matplotlib is not installed; no chart", flush=True)
        return None
    return plt


def _grouped(ax, groups: list[str], series: list[tuple[str, str, list[dict | None], list[str]]]) -> None:  # noqa: ANN001
    """Bars of several series side by side per group (median, min–max), each labelled with its seconds and note."""
    width = 0.8 / len(series)
    for i, (label, color, values, notes) in enumerate(series):
        points = [(j, st, note) for j, (st, note) in enumerate(zip(values, notes)) if st]
        if not points:
            continue
        xs = [j + (i - (len(series) - 1) / 2) * width for j, _, _ in points]
        heights = [st["median"] for _, st, _ in points]
        errors = [[st["median"] - st["min"] for _, st, _ in points], [st["max"] - st["median"] for _, st, _ in points]]
        bars = ax.bar(xs, heights, width, yerr=errors, capsize=3, color=color, label=label)
        ax.bar_label(bars, labels=[f"{st['median']:.1f}{note}" for _, st, note in points], fontsize=7, padding=2)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_xlim(-0.75, len(groups) - 0.25)
    ax.set_ylabel("seconds (median, min–max)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _floor(ax, x: int, value: float, text: str, style: str = "dashed") -> None:  # noqa: ANN001
    ax.hlines(value, x - 0.5, x + 0.5, colors="black", linestyles=style, linewidth=1)
    ax.annotate(f"{text} {value:.1f} s", (x, value), textcoords="offset points", xytext=(0, 4), ha="center",
                fontsize=8)


def _selection_panel(ax, data: dict, name: str, title: str) -> None:  # noqa: ANN001
    """Cold / warm / incremental of one selection, both strategies, with the floors."""
    sel = data["selections"][name]
    secs = data["summary"]["selections"][name]["seconds"]
    scenarios = [sc for sc in ("cold", "warm", "incremental") if secs[sc]["fate-builder"] or secs[sc]["baseline"]]
    _grouped(ax, scenarios, [(LABELS[st], COLORS[st], [secs[sc][st] for sc in scenarios], [""] * len(scenarios))
                             for st in ("fate-builder", "baseline")])
    floor = sel.get("cpu_floor_s") or sel["critical_path"]["nominal_s"]
    _floor(ax, 0, floor, f"{n_cores(data)}-core floor" if sel.get("cpu_floor_s") else "critical path")
    if "incremental" in scenarios and sel.get("incremental_floor_s"):
        _floor(ax, scenarios.index("incremental"), sel["incremental_floor_s"], "floor", "dotted")
    kind = ", CPU-bound work" if sel.get("work_kind") == "cpu" else ""
    runs = len(sel["runs"])
    ax.set_title(f"{title}{len(sel['images'])} images ({SELECTION_TITLES.get(sel.get('selection', name), name)}"
                 f"{kind}), {runs} run{'s' if runs != 1 else ''}", fontsize=10)


def _remote_panel(ax, data: dict, _name: str, title: str) -> None:  # noqa: ANN001
    """Fresh builder, remote cache: cold, nothing changed, one file changed; the pipeline against one graph."""
    r = data["summary"]["remote"]
    n = len(data["remote"]["images"])
    scenarios = ("cold", "nothing_changed", "one_file_changed")

    def notes(schedule: str) -> list[str]:
        counts = [r["rebuilt"][schedule].get(sc, []) for sc in scenarios]
        return ["" if not c else f"\nrebuilt {max(c)}/{n}" for c in counts]

    series = [("fate-builder (pipeline)", COLORS["fate-builder"], [r["seconds"]["pipeline"][sc] for sc in scenarios],
               notes("pipeline")),
              ("one graph (before the pipeline)", COLORS["one graph"],
               [r["seconds"]["one graph"][sc] for sc in scenarios], notes("one graph"))]
    _grouped(ax, ["cold", "fresh builder,\nnothing changed", "fresh builder,\none file changed"], series)
    runs = len(data["remote"]["runs"])
    ax.set_title(f"{title}remote cache (CACHE=registry), {n} images, {runs} run{'s' if runs != 1 else ''}",
                 fontsize=10)


def _overhead_panel(ax, data: dict, _name: str, title: str) -> None:  # noqa: ANN001
    o = data["summary"]["overhead"]
    _grouped(ax, ["warm, nothing changed"], [
        ("fate-builder bake --load", COLORS["fate-builder"], [o["fate_builder"]], [""]),
        ("docker buildx bake --load", COLORS["one graph"], [o["plain_bake"]], [""])])
    ax.set_title(f"{title}fate-builder's own cost, {o['fate_builder']['n']} runs: {o['ratio']:.2f} × plain bake",
                 fontsize=10)


def chart(datasets: list[dict], path: Path) -> bool:
    """One row per engine generation: its selections, the remote cache, the warm overhead; written via a temporary
    file."""
    plt = _pyplot()
    if plt is None or not datasets:
        return False
    rows = [[*[(_selection_panel, n) for n in d["selections"]],
             *([(_remote_panel, "")] if d["summary"].get("remote") else []),
             *([(_overhead_panel, "")] if d["summary"].get("overhead") else [])] for d in datasets]
    cols = max(len(r) for r in rows) or 1
    fig, grid = plt.subplots(len(rows), cols, figsize=(6.4 * cols, 4.6 * len(rows)), squeeze=False)
    for data, panels, axes in zip(datasets, rows, grid):
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        for ax, (draw, name) in zip(axes, panels):
            draw(ax, data, name, f"{engine_label(data)}: ")
    first = datasets[0]["meta"]
    fig.suptitle(f"fate-builder vs FATE-Builder build.sh — {first['machine'].get('cores')} cores, "
                 f"work {first['scale_s_per_minute']:g} s per FATE minute", fontsize=11)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return True
