"""Summary tables and convergence plots (against wall time and against oracle calls)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["final_points", "summary_rows", "count_column", "plot_results", "peer_ratios",
           "ratio_caption", "is_peer", "FAILURE_STATUSES"]

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


FAILURE_STATUSES = ("diverged", "error", "interrupted")


def is_peer(solver: str) -> bool:
    """Peers are every solver that is not optkit's own (their names start with ``optkit``)."""
    return not solver.startswith("optkit")


def summary_rows(df, suite: str, statuses: dict | None = None) -> list[dict]:
    """One row per (dataset, solver): final value, suboptimality, main count, time, status.

    ``statuses`` maps (dataset, solver) to benchopt's own final status (as printed in its
    progress lines, see :func:`optkit._bench.api.parse_statuses`); the table repeats it,
    so "done (not enough run)" (the sampling budget ``max_runs`` ended the curve) reads
    the same in both places. A non-finite final value is reported as "diverged".
    """
    finals = final_points(df)
    col = count_column(df)
    statuses = statuses or {}
    rows = []
    for (dataset, solver), grp in finals.groupby(["dataset_name", "solver_name"]):
        value = float(grp["objective_value"].median())
        sub = grp["objective_suboptimality"].median() if "objective_suboptimality" in grp else np.nan
        count = grp[col].median() if col is not None else np.nan
        status = statuses.get((dataset, solver), "done")
        if not np.isfinite(value):
            status = "diverged"
        rows.append({
            "suite": suite, "dataset": dataset, "solver": solver, "value": value,
            "suboptimality": float(sub),
            "count": "-" if not np.isfinite(count) else f"{int(count)} {col.removeprefix('objective_n_')}",
            "time": float(grp["time"].median()),
            "status": status,
            "ratio": np.nan,
        })
    return rows


def _time_to_target(grp, column: str, target: float, feasible=None) -> float:
    """Median over repetitions of the first sampled time at which ``column <= target``
    (and, with ``feasible = (column, tol)``, that column ``<= tol`` too)."""
    hits = []
    for _, rep in grp.groupby("idx_rep"):
        rep = rep.sort_values("time")
        ok = rep[column] <= target
        if feasible is not None:
            ok &= rep[feasible[0]] <= feasible[1]
        hits.append(float(rep.loc[ok, "time"].iloc[0]) if ok.any() else np.inf)
    return float(np.median(hits))


def _target(grp, column: str, ratio: dict, feasible) -> float:
    """The absolute target of a ``ratio`` spec on one dataset's results."""
    if ratio.get("target") is not None:
        return float(ratio["target"])
    finals = final_points(grp)
    if feasible is not None:
        finals = finals[finals[feasible[0]] <= feasible[1]]
    best = float(finals[column].min()) if len(finals) else np.nan
    return best + float(ratio["target_rel"]) * max(1.0, abs(best))


def peer_ratios(df, ratio: dict) -> dict[tuple[str, str], float]:
    """(dataset, solver) -> the solver's score divided by the best peer's score on that dataset.

    ``ratio`` (a suite's ``quick.yml`` entry) names a result ``column`` (``objective_<column>``,
    lower is better) and how it is scored:

    - ``target``: the time to reach ``column <= target`` (first sampled point, median over
      repetitions; infinite if never reached). Below 1: faster to that accuracy than the
      fastest peer.
    - ``target_rel``: the same, with the target ``best + target_rel * max(1, |best|)``, where
      ``best`` is the lowest final ``column`` of any solver (for problems without a known
      optimum); ``feasible: {column: c, tol: t}`` also requires ``objective_c <= t``, both
      for ``best`` and for reaching the target.
    - neither: the final ``column`` (floored at 1e-16 so that exact zeros compare). Below 1:
      a better final value than the best peer at the same budget.

    The ratio is NaN when no peer ran, ``inf`` when the solver never reached the target,
    and 0 when it did and no peer did.
    """
    column = "objective_" + ratio["column"]
    timed = ratio.get("target") is not None or ratio.get("target_rel") is not None
    feasible = ratio.get("feasible")
    if feasible is not None:
        feasible = ("objective_" + feasible["column"], float(feasible["tol"]))
    out = {}
    for dataset, grp in df.groupby("dataset_name"):
        if column not in grp:
            continue
        target = _target(grp, column, ratio, feasible) if timed else None
        scores = {}
        for solver, sgrp in grp.groupby("solver_name"):
            if timed:
                scores[solver] = _time_to_target(sgrp, column, target, feasible)
            else:
                finals = final_points(sgrp)
                scores[solver] = max(float(finals[column].median()), 1e-16)
        peers = [v for k, v in scores.items() if is_peer(k)]
        if not peers:
            continue
        best = min(peers)
        for solver, score in scores.items():
            if np.isinf(best):
                out[(dataset, solver)] = np.inf if np.isinf(score) else 0.0
            else:
                out[(dataset, solver)] = score / best
    return out


def ratio_caption(suite: str, ratio: dict) -> str:
    """One line saying what the ratio column of ``suite`` divides."""
    column = ratio["column"]
    feasible = ratio.get("feasible")
    also = f" with {feasible['column']} <= {feasible['tol']:g}" if feasible else ""
    if ratio.get("target") is not None:
        goal = f"{column} <= {ratio['target']:g}{also}"
    elif ratio.get("target_rel") is not None:
        goal = (f"{column} within {ratio['target_rel']:g} (relative) of the best final "
                f"{column} of any solver{also}")
    else:
        return (f"{suite}: final {column} divided by the best peer's at the same budget "
                "(< 1: better than every peer)")
    return (f"{suite}: time to reach {goal}, divided by the fastest peer's time "
            "(< 1: faster than every peer; 'not reached': the target was not reached)")


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
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
            else:  # e.g. only peers without oracle counts: say so instead of an empty legend
                ax.text(0.5, 0.5, "no solver reports this count", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8)
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
    # plotly.min.js is written once next to the page: the plots work offline (no CDN).
    fig.write_html(path, include_plotlyjs="directory")
    return path
