r"""The one backtracking line search (Armijo's rule), shared by every method that needs one.

A method supplies ``trial(t)``, which evaluates the trial point for step ``t`` and returns
``(value, model, payload)`` (or ``None`` when the trial point equals the current one).
The step is accepted when

.. math::
    \text{value} \le f_0 + c_1\,\text{model} + \text{slack},

so Armijo's rule along a line is ``model = t * slope`` (``slope`` the directional
derivative), along a projection arc ``model = g^\top (x_t - x)`` (Bertsekas, *Nonlinear
Programming*, §2.3), and the descent-lemma test of proximal-gradient steps is
``c1 = 1, model = g^\top d + \|d\|^2 / (2t)``. Non-finite values are rejected. After each
rejection the step is multiplied by ``shrink``.

A first step taken from the previous iteration (Nocedal and Wright, *Numerical
Optimization*, 2nd ed., 2006, §3.5, "initial step length") can be combined with
``max_step``: when the first trial is accepted, the step is divided by ``shrink`` while it
stays within ``max_step`` and is accepted, and the last accepted step is returned. Where the
accepted steps form an interval :math:`(0, t^*]` this returns the step that backtracking from
``max_step`` returns (the largest ``max_step * shrink**j`` :math:`\le t^*`, when ``step`` is
on that grid), with fewer trials when :math:`t^*` is near the first step.

References
----------
L. Armijo, "Minimization of functions having Lipschitz continuous first partial
derivatives", Pacific J. Math. 16(1), 1966.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LineSearchResult", "backtracking"]


@dataclass
class LineSearchResult:
    """``success`` tells whether a step was accepted; ``ntrials`` counts ``trial`` calls."""

    success: bool
    step: float
    value: float
    payload: Any
    ntrials: int
    moved: bool = True


def backtracking(trial: Callable[[float], tuple[float, float, Any] | None], f0: float, *,
                 step: float = 1.0, c1: float = 1e-4, shrink: float = 0.5,
                 max_backtracks: int = 60, min_step: float = 0.0, slack: float = 0.0,
                 max_step: float | None = None) -> LineSearchResult:
    """Try ``step, shrink*step, ...`` until Armijo's test holds (see the module docstring);
    with ``max_step``, an accepted first step is grown by ``1/shrink`` up to ``max_step``
    while the test holds.

    Stops without success after ``max_backtracks`` rejections, when the step falls below
    ``min_step``, or when ``trial`` returns ``None`` (the point no longer moves;
    ``moved=False``).
    """

    def accepted(t):
        out = trial(t)
        if out is None:
            return None
        value, model, payload = out
        value = float(value)
        return math.isfinite(value) and value <= f0 + c1 * float(model) + slack, value, payload

    t = float(step)
    for k in range(max_backtracks + 1):
        if t < min_step:
            break
        out = accepted(t)
        if out is None:
            return LineSearchResult(False, t, f0, None, k, moved=False)
        ok, value, payload = out
        if ok:
            ntrials = k + 1
            while k == 0 and max_step is not None and t / shrink <= max_step:
                out = accepted(t / shrink)
                if out is None:
                    break
                ntrials += 1
                if not out[0]:
                    break
                t, value, payload = t / shrink, out[1], out[2]
            return LineSearchResult(True, t, value, payload, ntrials)
        t *= shrink
    return LineSearchResult(False, t, f0, None, k + 1 if max_backtracks >= 0 else 0)
