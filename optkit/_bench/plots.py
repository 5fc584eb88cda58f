"""benchopt plot class: the metric against oracle calls (benchopt's own curves use time only).

Each suite ships ``plots/oracle_curve.py`` with ``class Plot(OracleCurvePlot): pass``,
so ``benchopt plot`` and its HTML report gain curves against gradient (or value, hvp,
forward-pass) counts.
"""

from __future__ import annotations

import numpy as np
from benchopt import BasePlot

__all__ = ["OracleCurvePlot"]


def _count_columns(df) -> list[str]:
    cols = [c for c in df.columns if c.startswith("objective_n_")
            and np.nanmax(df[c].to_numpy(dtype=float), initial=0) > 0]
    return cols or ["objective_n_value"]


class OracleCurvePlot(BasePlot):
    """Median metric against the median oracle count per sampled point, 20/80% count bands."""

    name = "oracle_curve"
    type = "scatter"
    options = {"dataset": ..., "objective": ..., "objective_column": ..., "X_axis": _count_columns}

    def plot(self, df, dataset, objective, objective_column, X_axis):
        df = df[(df["dataset_name"] == dataset) & (df["objective_name"] == objective)]
        traces = []
        for solver, grp in df.groupby("solver_name"):
            if X_axis not in grp or grp[X_axis].isna().all():
                continue  # a peer without counts
            by_point = grp.groupby("stop_val")
            cols = list(dict.fromkeys([X_axis, objective_column]))
            curve = by_point[cols].median().sort_values(X_axis)
            traces.append({
                "x": curve[X_axis].tolist(),
                "y": curve[objective_column].tolist(),
                "x_low": by_point[X_axis].quantile(0.2).reindex(curve.index).tolist(),
                "x_high": by_point[X_axis].quantile(0.8).reindex(curve.index).tolist(),
                "label": solver,
                **self.get_style(solver),
            })
        return traces

    def get_metadata(self, df, dataset, objective, objective_column, X_axis):
        return {
            "title": f"{objective}\nData: {dataset}",
            "xlabel": X_axis.removeprefix("objective_n_") + " evaluations",
            "ylabel": objective_column.removeprefix("objective_"),
        }
