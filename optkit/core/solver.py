"""The solver protocol and the one run loop every method goes through.

A solver is four functions (the optimistix shape): ``init`` builds a state from the
start point, ``step`` advances it one iteration, ``terminate`` says whether it is
done (and why), ``result`` adds method-specific fields to the final result. The run
loop :func:`run` owns the iteration budget, timing, the trace, the scipy callback
(``StopIteration`` ends the run with status 99, as scipy), and the checks that stop
a run that produced NaN or diverged with ``success=False``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .result import STATUS, OptimizeResult, Trace
from .validate import is_torch_tensor

__all__ = ["Solver", "run", "wrap_callback", "to_numpy"]


class Solver(Protocol):
    """The four functions a method implements. The state must expose ``x`` and ``fun``."""

    def init(self, problem, x0, rng: np.random.Generator) -> Any: ...

    def step(self, problem, state) -> Any: ...

    def terminate(self, problem, state) -> tuple[bool, int, str]: ...

    def result(self, problem, state) -> dict: ...


def to_numpy(x):
    """A numpy copy of an array or tensor (for results and callbacks)."""
    if is_torch_tensor(x):
        return x.detach().cpu().numpy().copy()
    return np.array(x, copy=True)


def wrap_callback(callback: Callable | None) -> Callable | None:
    """scipy's two callback conventions behind one call ``cb(intermediate_result)``.

    A callable whose only parameter is named ``intermediate_result`` receives an
    :class:`OptimizeResult`; any other callable receives a copy of ``x`` (legacy).
    """
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    try:
        params = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = set()
    if params == {"intermediate_result"}:
        return lambda res: callback(intermediate_result=res)
    return lambda res: callback(np.copy(res.x))


def _counts(problem) -> dict[str, int]:
    snap = getattr(problem.objective, "snapshot", None)
    return snap() if snap is not None else {}


def run(solver: Solver, problem, *, maxiter: int, rng: np.random.Generator,
        callback: Callable | None = None, method: str = "",
        divergence_threshold: float = 1e100) -> OptimizeResult:
    """Run ``solver`` on ``problem`` (whose objective is :class:`~optkit.core.Counted`).

    Stops when ``terminate`` says so, after ``maxiter`` steps (status 1), when the
    callback raises ``StopIteration`` (status 99), when the objective becomes
    non-finite (status 3) or when ``|fun|`` exceeds ``divergence_threshold`` (status 4).
    """
    cb = wrap_callback(callback)
    t0 = time.perf_counter()
    trace = Trace()
    state = solver.init(problem, problem.x0, rng)
    nit = 0

    def record() -> None:
        extra = getattr(state, "trace_extra", None)
        trace.append(nit=nit, fun=float(state.fun), time=time.perf_counter() - t0,
                     **_counts(problem), **(extra() if callable(extra) else {}))

    record()
    status, message = STATUS["maxiter"], "Maximum number of iterations has been exceeded."
    done = False
    if not np.isfinite(float(state.fun)):
        done, status, message = True, STATUS["nonfinite"], "The objective is not finite at x0."
    while not done:
        done, code, msg = solver.terminate(problem, state)
        if done:
            status, message = code, msg
            break
        if nit >= maxiter:
            break
        state = solver.step(problem, state)
        nit += 1
        record()
        fun = float(state.fun)
        if not np.isfinite(fun):
            done, status = True, STATUS["nonfinite"]
            message = f"The objective became non-finite ({fun}) at iteration {nit}."
        elif abs(fun) > divergence_threshold:
            done, status = True, STATUS["diverged"]
            message = f"The iterates diverged: |fun| = {abs(fun):.3g} at iteration {nit}."
        elif cb is not None:
            try:
                cb(OptimizeResult(x=to_numpy(state.x), fun=fun, nit=nit, **_counts(problem)))
            except StopIteration:
                done, status, message = True, STATUS["callback"], "`callback` raised `StopIteration`."
    res = OptimizeResult(x=to_numpy(state.x), fun=float(state.fun))
    res.update(solver.result(problem, state))
    counts = _counts(problem)
    res.update(
        nit=nit,
        nfev=counts.get("n_value", 0),
        njev=counts.get("n_grad", 0),
        nhev=counts.get("n_hvp", 0),
        status=status,
        success=status == STATUS["success"],
        message=message,
        method=method,
        trace=trace,
        execution_time=time.perf_counter() - t0,
    )
    return res
