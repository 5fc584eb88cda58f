"""The solver protocol and the one run loop every iterative algorithm goes through.

A solver is four functions (the optimistix shape): ``init`` builds a state from the
start point, ``step`` advances it one iteration, ``terminate`` says whether it is
done (and why), ``result`` adds method-specific fields to the final result. A solver
object holds configuration only; all run state lives in the state object, so one
instance can drive several runs. The run loop :func:`run` owns the budgets
(``maxiter``, ``maxfev``, ``max_time``), timing, the trace, the scipy callback
(``StopIteration`` ends the run with status 99, as scipy), and the checks that stop a
run that produced NaN or diverged, with ``success=False``.
"""

from __future__ import annotations

import inspect
import math
import numbers
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .backend import is_torch_tensor, to_float, to_numpy
from .result import MESSAGES, STATUS, OptimizeResult, Trace
from .validate import check_int

__all__ = ["Solver", "run", "wrap_callback", "to_numpy", "copy_x"]


class Solver(Protocol):
    """The four functions a method implements. The state must expose ``x`` and ``fun``.

    A state may also define ``counts() -> dict`` (oracle counts under the keys
    ``n_value`` -- the method's main oracle, reported as ``nfev`` --, ``n_grad``,
    ``n_hvp``, ...) when the problem has no :class:`~optkit.core.Counted` objective, and
    ``trace_extra() -> dict`` for method-specific trace columns. A solver may define
    ``callback_fields(problem, state) -> dict``: fields the callback's
    ``intermediate_result`` carries besides ``x``, ``fun``, ``nit`` and the counts, and
    ``close(problem, state)``: releases what ``init`` acquired (a process pool); called with
    the last state once the run has its result, or when it raises (an exception in the
    objective or the callback, a ``KeyboardInterrupt``).
    """

    def init(self, problem, x0, rng: np.random.Generator) -> Any: ...

    def step(self, problem, state) -> Any: ...

    def terminate(self, problem, state) -> tuple[bool, int, str]: ...

    def result(self, problem, state) -> dict: ...


def copy_x(x):
    """A copy of an iterate of the same kind (tensor stays a tensor on its device)."""
    if is_torch_tensor(x):
        return x.detach().clone()
    return np.array(x, copy=True)


def wrap_callback(callback: Callable | None) -> Callable | None:
    """scipy's two callback conventions behind one call ``cb(intermediate_result)``.

    A callable whose only parameter is named ``intermediate_result`` receives an
    :class:`OptimizeResult` by keyword; any other callable receives a copy of ``x`` (scipy's
    legacy convention).
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
    return lambda res: callback(copy_x(res.x))


def _counts(problem, state) -> dict[str, int]:
    own = getattr(state, "counts", None)
    if callable(own):
        return own()
    snap = getattr(getattr(problem, "objective", None), "snapshot", None)
    return snap() if snap is not None else {}


def run(solver: Solver, problem, *, maxiter: int, rng: np.random.Generator | None = None,
        callback: Callable | None = None, method: str = "", maxfev: int | None = None,
        max_time: float | None = None, check_every: int = 1, disp: bool = False,
        result_type: type = OptimizeResult, x0: Any = None,
        divergence_threshold: float = 1e100) -> OptimizeResult:
    """Run ``solver`` on ``problem`` and return a ``result_type`` (an :class:`OptimizeResult`).

    Stops when ``terminate`` says so, after ``maxiter`` steps (status 1), ``maxfev``
    evaluations of the main oracle (status 6) or ``max_time`` seconds (status 9), when the
    callback raises ``StopIteration`` (status 99), when the objective becomes non-finite
    (status 3) or when ``|fun|`` exceeds ``divergence_threshold`` (status 4). A ``terminate``
    that evaluates the oracles as it stops the run (al-newton's projection onto the
    constraints) rewrites the last trace record (same ``nit``) with the returned iterate's
    values and counts.

    ``check_every`` = k reads the objective on the host (trace, non-finite and divergence
    checks, ``terminate``) every k-th iteration only, so a run on device tensors syncs with
    the host once per k steps (and at each callback, which receives a copy of the iterate).
    ``x0`` defaults to ``problem.x0``.

    A solver with a ``deadline`` attribute gets the ``time.perf_counter()`` value at which
    ``max_time`` runs out (``inf`` without it) before ``init``, for work inside one ``init`` or ``step`` that can
    outlast the budget (al-newton's feasibility restoration); the run loop itself checks
    the budget between steps.
    """
    check_int(maxiter, "maxiter", minimum=0)
    if maxfev is not None:
        check_int(maxfev, "maxfev", minimum=0)
    _check_max_time(max_time)
    cb = wrap_callback(callback)
    fields = getattr(solver, "callback_fields", None)
    t0 = time.perf_counter()
    if hasattr(solver, "deadline"):  # set on every run: a solver object may be run again
        solver.deadline = math.inf if max_time is None else t0 + max_time
    trace = Trace()
    state = solver.init(problem, problem.x0 if x0 is None else x0, rng)
    nit = 0

    def record(fun: float) -> None:
        extra = getattr(state, "trace_extra", None)
        trace.append(nit=nit, fun=fun, time=time.perf_counter() - t0,
                     **_counts(problem, state), **(extra() if callable(extra) else {}))

    close = getattr(solver, "close", None)
    try:
        fun = to_float(state.fun)
        record(fun)
        status = None
        message = ""
        if not math.isfinite(fun):
            status, message = STATUS["nonfinite"], "The objective is not finite at x0."
        while status is None:
            budget = _spent_budget(nit, maxiter, _counts(problem, state).get("n_value", 0), maxfev,
                                   time.perf_counter() - t0, max_time)
            if budget is not None or nit % check_every == 0:
                done, code, msg = solver.terminate(problem, state)
                if done:
                    status, message = code, msg
                    last = trace.records[-1]
                    if last["nit"] == nit and any(last.get(k) != v for k, v in
                                                  _counts(problem, state).items()):
                        trace.records.pop()  # the stopping terminate evaluated: the
                        record(to_float(state.fun))  # record of nit is the returned x's
                    break
            if budget is not None:
                status = budget
                break
            state = solver.step(problem, state)
            nit += 1
            if nit % check_every and cb is None:
                continue
            fun = to_float(state.fun)
            record(fun)
            if not math.isfinite(fun):
                status = STATUS["nonfinite"]
                message = f"The objective became non-finite ({fun}) at iteration {nit}."
            elif abs(fun) > divergence_threshold:
                status = STATUS["diverged"]
                message = f"The iterates diverged: |fun| = {abs(fun):.3g} at iteration {nit}."
            elif cb is not None:
                try:
                    cb(OptimizeResult(x=copy_x(state.x), fun=fun, nit=nit,
                                      **_named_counts(_counts(problem, state)),
                                      **(fields(problem, state) if fields is not None else {})))
                except StopIteration:
                    status = STATUS["callback"]
        message = message or MESSAGES[status]
        res = result_type(x=copy_x(state.x), fun=to_float(state.fun))
        res.update(solver.result(problem, state))
    finally:
        if close is not None:
            close(problem, state)
    res.update(
        nit=nit,
        **_named_counts(_counts(problem, state)),
        status=status,
        success=status == STATUS["success"],
        message=message,
        method=method,
        trace=trace,
        execution_time=time.perf_counter() - t0,
    )
    if disp:
        print(f"{method}: {res.message} fun={res.fun:.6g} nit={res.nit} nfev={res.nfev}")
    return res


def _check_max_time(max_time) -> None:
    """``None``, or a number of seconds >= 0 (``inf``: no limit)."""
    if max_time is None:
        return
    if isinstance(max_time, bool) or not isinstance(max_time, numbers.Real):
        raise TypeError(f"max_time must be a number of seconds, got {type(max_time).__name__}")
    if not max_time >= 0:  # NaN too
        raise ValueError(f"max_time must be >= 0 (inf: no limit), got {max_time}")


def _spent_budget(nit, maxiter, nfev, maxfev, elapsed, max_time) -> int | None:
    if nit >= maxiter:
        return STATUS["maxiter"]
    if maxfev is not None and nfev >= maxfev:
        return STATUS["maxfev"]
    if max_time is not None and elapsed >= max_time:
        return STATUS["max_time"]
    return None


def _named_counts(counts: dict[str, int]) -> dict[str, int]:
    """scipy's names for the oracle counts (``nfev`` is always present)."""
    out = {"nfev": counts.get("n_value", 0), "njev": counts.get("n_grad", 0),
           "nhev": counts.get("n_hvp", 0)}
    return out
