"""Summary tables and convergence plots (against wall time and against oracle calls)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["final_points", "summary_rows", "count_column", "plot_results"]

_COUNT_ORDER = ("objective_n_grad", "objective_n_value", "objective_n_forward", "objective_n_hvp",
                "objective_n_samples")


def count_column(df) -> str | None:
    """The oracle-count column that best describes the cost of this table's solvers."""
    for col in _COUNT_ORDER:
        if col in df and np.nanmax(df[col].to_numpy(dtype=float), initial=0) > 0:
            return col
    return None


def final_points(df):
    """The last point of each (dataset, solver, repetition) curve."""
    keys = ["dataset_name", "solver_name", "idx_rep"]
    return df.sort_values("stop_val").groupby(keys, as_index=False).last()


def _metric(df) -> str:
    if "objective_suboptimality" in df and df["objective_suboptimality"].notna().any():
        return "objective_suboptimality"
    return "objective_value"


def summary_rows(df, suite: str) -> list[dict]:
    """One row per (dataset, solver): final value, suboptimality, main count, time, status."""
    finals = final_points(df)
    col = count_column(df)
    rows = []
    for (dataset, solver), grp in finals.groupby(["dataset_name", "solver_name"]):
        value = float(grp["objective_value"].median())
        sub = grp["objective_suboptimality"].median() if "objective_suboptimality" in grp else np.nan
        count = grp[col].median() if col is not None else np.nan
        rows.append({
            "suite": suite, "dataset": dataset, "solver": solver, "value": value,
            "suboptimality": float(sub),
            "count": "-" if not np.isfinite(count) else f"{int(count)} {col.removeprefix('objective_n_')}",
            "time": float(grp["time"].median()),
            "status": "ok" if np.isfinite(value) else "diverged",
        })
    return rows


def plot_results(df, out_stem: Path, *, png: bool = True, html: bool = True) -> list[Path]:
    """Per dataset: the main metric against time and against the main oracle count.

    Writes ``<out_stem>.png`` (matplotlib) and ``<out_stem>.html`` (plotly). Solvers
    without counts (NaN columns) are left out of the oracle panel, with a note.
    """
    suites = sorted(df["suite"].unique()) if "suite" in df else [None]
    panels = []
    for suite in suites:
        part = df if suite is None else df[df["suite"] == suite]
        for dataset, grp in part.groupby("dataset_name"):
            panels.append((suite, dataset, grp))
    written = []
    if png:
        written.append(_plot_png(panels, out_stem.with_suffix(".png")))
    if html:
        written.append(_plot_html(panels, out_stem.with_suffix(".html")))
    return written


def _curves(grp, x_col, metric):
    for solver, sgrp in grp.groupby("solver_name"):
        curve = sgrp.groupby("stop_val")[[x_col, metric]].median().sort_values(x_col)
        x = curve[x_col].to_numpy(dtype=float)
        y = curve[metric].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            yield solver, x[ok], y[ok]


def _plot_png(panels, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.2 * len(panels)), squeeze=False)
    for (suite, dataset, grp), (ax_t, ax_c) in zip(panels, axes):
        metric = _metric(grp)
        col = count_column(grp)
        log = metric == "objective_suboptimality" or (grp[metric] > 0).all()
        for solver, x, y in _curves(grp, "time", metric):
            ax_t.plot(x, np.maximum(y, 1e-16) if log else y, label=solver, marker=".")
        if col is not None:
            for solver, x, y in _curves(grp, col, metric):
                ax_c.plot(x, np.maximum(y, 1e-16) if log else y, label=solver, marker=".")
        title = f"{suite}: {dataset}" if suite else dataset
        ax_t.set(title=title, xlabel="time (s)", ylabel=metric.removeprefix("objective_"))
        ax_c.set(title=title, xlabel=(col or "no oracle counts").removeprefix("objective_"),
                 ylabel=metric.removeprefix("objective_"))
        for ax in (ax_t, ax_c):
            if log:
                ax.set_yscale("log")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _plot_html(panels, path: Path) -> Path:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    titles = []
    for suite, dataset, _ in panels:
        name = f"{suite}: {dataset}" if suite else dataset
        titles += [f"{name} vs time", f"{name} vs oracle calls"]
    fig = make_subplots(rows=len(panels), cols=2, subplot_titles=titles)
    for row, (_, _, grp) in enumerate(panels, start=1):
        metric = _metric(grp)
        col = count_column(grp)
        for c, x_col in enumerate(("time", col), start=1):
            if x_col is None:
                continue
            for solver, x, y in _curves(grp, x_col, metric):
                fig.add_trace(go.Scatter(x=x, y=y, name=solver, legendgroup=solver,
                                         showlegend=(c == 1)), row=row, col=c)
            fig.update_xaxes(title_text=x_col.removeprefix("objective_"), row=row, col=c)
            fig.update_yaxes(title_text=metric.removeprefix("objective_"), row=row, col=c,
                             type="log" if metric == "objective_suboptimality" else "linear")
    fig.update_layout(height=320 * len(panels), width=1100)
    fig.write_html(path, include_plotlyjs="directory")  # plotly.min.js beside it: works offline
    return path
