"""Results: scipy's :class:`~scipy.optimize.OptimizeResult` plus a per-iteration trace."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

__all__ = ["OptimizeResult", "Trace", "STATUS", "MESSAGES"]

#: Status codes shared by every optkit method and subpackage (scipy's where scipy has one).
#: Only ``success`` (0) means the method's own stopping test held; a spent budget
#: (``maxiter``, ``maxfev``, ``max_time``) is ``success=False``, for stochastic methods too.
STATUS = {
    "success": 0,
    "maxiter": 1,
    "line_search": 2,
    "nonfinite": 3,
    "diverged": 4,
    "stalled": 5,
    "maxfev": 6,
    "singular": 7,
    "penalty": 8,
    "max_time": 9,
    "infeasible": 10,
    "callback": 99,
}

#: The default message of each status (a method may say more).
MESSAGES = {
    STATUS["success"]: "Optimization terminated successfully.",
    STATUS["maxiter"]: "Maximum number of iterations has been exceeded.",
    STATUS["line_search"]: "The line search found no acceptable step.",
    STATUS["nonfinite"]: "The objective became non-finite.",
    STATUS["diverged"]: "The iterates diverged.",
    STATUS["stalled"]: "The iterates stalled: no progress is possible at this accuracy.",
    STATUS["maxfev"]: "Maximum number of function evaluations has been exceeded.",
    STATUS["singular"]: "A linear system was singular.",
    STATUS["penalty"]: "The penalty safeguards failed to find a descent direction.",
    STATUS["max_time"]: "Maximum wall time (max_time) has been exceeded.",
    STATUS["infeasible"]: "The constraints are locally infeasible: a stationary point of the "
                          "constraint violation is not feasible.",
    STATUS["callback"]: "`callback` raised `StopIteration`.",
}


class Trace:
    """Per-iteration history: one dict per recorded iteration.

    Every record has ``nit``, ``fun``, ``time`` (seconds since the start) and the
    oracle counts (``n_value``, ``n_grad``, ``n_hvp``, ``n_samples``); methods add
    their own metrics (a marginal error, a step size, ...).
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def append(self, **record: Any) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> np.ndarray:
        """The column ``key`` as an array (NaN where a record lacks it)."""
        return np.array([r.get(key, np.nan) for r in self.records], dtype=float)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame.from_records(self.records)

    def __repr__(self) -> str:
        return f"Trace({len(self)} records: {', '.join(self.keys())})"
