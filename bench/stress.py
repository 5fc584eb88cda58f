"""Stress grid: numerical extremes on every area, with no silent NaN (issue 16, item 2).

Each case applies one load (an extreme regularization or scale, a half-precision dtype, an
infeasible or degenerate constraint set, an objective that is NaN on part of the domain) and
records the outcome: ``success``, the message, and whether the returned iterate is finite.
The rule every row must keep: it converges (``success=True`` with a finite result), or it
stops with ``success=False`` and a message naming the cause. ``tests/test_stress.py`` checks
the rule on every case (the ``fast`` ones in the default run, the others under ``-m slow``).

Run::

    python bench/stress.py            # every case, summary table
    python bench/stress.py --fast     # the cases of the default test run only
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import NonlinearConstraint

OT_REGS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
OT_COST_SCALES = (1e-3, 1.0, 1e3, 1e6)
AL_SCALES = (1e-8, 1e-4, 1.0, 1e4, 1e8)


@dataclass(frozen=True)
class Case:
    """One stress case: ``run()`` returns ``(success, message, finite)``."""

    name: str
    load: str
    run: Callable[[], tuple[bool, str, bool]]
    fast: bool = False


def _finite(*arrays) -> bool:
    for a in arrays:
        if isinstance(a, torch.Tensor):
            a = a.detach().double().cpu().numpy()
        if not np.all(np.isfinite(np.asarray(a, dtype=np.float64))):
            return False
    return True


def _result_row(res) -> tuple[bool, str, bool]:
    return bool(res.success), str(res.message), _finite(res.x, res.fun)


# --- optimal transport --------------------------------------------------------------------

def _ot_case(reg, scale, dtype, method):
    def run():
        from optkit.ot import sinkhorn

        rng = np.random.default_rng(0)
        a = rng.random(40) + 0.1
        b = rng.random(30) + 0.1
        a, b = (a / a.sum()).astype(dtype), (b / b.sum()).astype(dtype)
        C = (scale * rng.random((40, 30))).astype(dtype)
        res = sinkhorn(a, b, C, reg, method=method, maxiter=500)
        return bool(res.success), str(res.message), _finite(res.f, res.g, res.plan, res.fun)

    return run


def ot_cases() -> list[Case]:
    cases = []
    for method in ("sns", "sinkhorn"):
        for dtype in (np.float64, np.float32):
            for reg in OT_REGS:
                for scale in OT_COST_SCALES:
                    fast = dtype is np.float32 and method == "sinkhorn" or reg in (1e-1, 1e-5)
                    cases.append(Case(
                        f"ot.sinkhorn[{method}]",
                        f"reg={reg:g} cost scale={scale:g} {np.dtype(dtype).name}",
                        _ot_case(reg, scale, dtype, method), fast=fast))
    return cases


# --- torch optimizers in half precision -------------------------------------------------------

def _optimizer(name, params):
    from optkit.optim import DiffGrad, Lion, PerpGrad

    if name == "lion":
        return Lion(params, lr=1e-3)
    if name == "diffgrad":
        return DiffGrad(params, lr=1e-2)
    if name == "perpgrad":
        return PerpGrad(torch.optim.Adam, params, lr=1e-2)
    return PerpGrad(torch.optim.Adam, params, lr=1e-2, eps=1e-4)


def _regression(dtype, generator):
    X = torch.randn(64, 8, generator=generator)
    w = torch.randn(8, 1, generator=generator)
    return X.to(dtype), (X @ w).to(dtype)


def _half_case(name, dtype, scaler, inject):
    """Fit a linear model for 60 steps. ``scaler``: fp32 master params, the forward pass in
    ``dtype`` under ``torch.autocast`` with a ``torch.amp.GradScaler`` (torch's mixed
    precision; GradScaler refuses fp16 params themselves). Without it the params are ``dtype``.
    ``inject``: at step 20 the loss is multiplied by inf (an overflowing batch)."""

    def run():
        g = torch.Generator().manual_seed(0)
        X, y = _regression(torch.float32 if scaler else dtype, g)
        model = torch.nn.Linear(8, 1).to(torch.float32 if scaler else dtype)
        opt = _optimizer(name, list(model.parameters()))
        grad_scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10) if scaler else None
        skipped = 0
        with torch.no_grad():
            start = (model(X).float() - y.float()).pow(2).mean()
        for step in range(60):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=dtype, enabled=scaler):
                loss = (model(X).float() - y.float()).pow(2).mean()
            if inject and step == 20:
                loss = loss * float("inf")
            if grad_scaler is None:
                loss.backward()
                if not all(bool(torch.isfinite(p.grad).all()) for p in model.parameters()):
                    skipped += 1  # the caller's guard: torch.optim does not inspect gradients
                    continue
                opt.step()
            else:
                grad_scaler.scale(loss).backward()
                scale_before = grad_scaler.get_scale()
                grad_scaler.step(opt)
                grad_scaler.update()
                skipped += grad_scaler.get_scale() < scale_before
        with torch.no_grad():
            final = (model(X).float() - y.float()).pow(2).mean()
        finite = _finite(*model.parameters())
        ok = finite and float(final) < float(start)
        message = (f"loss {float(start):.3g} -> {float(final):.3g}, {skipped} step(s) skipped "
                   f"on non-finite gradients")
        return ok, message, finite

    return run


def optimizer_cases() -> list[Case]:
    cases = []
    for name in ("lion", "diffgrad", "perpgrad", "perpgrad-eps1e-4"):
        for dtype in (torch.bfloat16, torch.float16):
            for scaler in (False, True):
                for inject in (False, True):
                    load = (f"{str(dtype).removeprefix('torch.')} "
                            f"{'fp32 master + autocast + GradScaler' if scaler else 'params'}"
                            f"{', inf loss at step 20' if inject else ''}")
                    cases.append(Case(f"optim.{name}", load, _half_case(name, dtype, scaler,
                                                                        inject),
                                      fast=not scaler or inject))
    return cases


# --- al-newton --------------------------------------------------------------------------------

def _hs7_scaled(scale):
    from optkit.constrained.hs import BY_NAME
    from optkit.core import Problem

    kw = BY_NAME["HS7"].scipy_kwargs()
    f, jac, hessp = kw["fun"], kw["jac"], kw["hessp"]
    return Problem.from_scipy(lambda x: scale * f(x), kw["x0"], jac=lambda x: scale * jac(x),
                              hessp=lambda x, v: scale * hessp(x, v),
                              constraints=kw["constraints"])


def _al_problem(kind):
    from optkit.core import Problem

    fun = lambda x: float(np.sum((x - 1.0) ** 2))  # noqa: E731
    jac = lambda x: 2.0 * (x - 1.0)  # noqa: E731
    hessp = lambda x, v: 2.0 * v  # noqa: E731
    if kind == "infeasible":  # x0^2 + 1 = 0 has no real solution
        con = NonlinearConstraint(lambda x: np.array([x[0] ** 2 + 1.0]), 0.0, 0.0,
                                  jac=lambda x: np.array([[2 * x[0], 0.0, 0.0]]),
                                  hess=lambda x, v: np.diag([2 * v[0], 0.0, 0.0]))
    elif kind == "inconsistent":  # x0 + x1 = 1 and x0 + x1 = 2
        con = NonlinearConstraint(lambda x: np.array([x[0] + x[1], x[0] + x[1]]),
                                  [1.0, 2.0], [1.0, 2.0],
                                  jac=lambda x: np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]))
    elif kind == "duplicated":  # the same constraint twice: rank-deficient Jacobian
        con = NonlinearConstraint(lambda x: np.array([x[0] + x[1], 2 * (x[0] + x[1])]),
                                  [1.0, 2.0], [1.0, 2.0],
                                  jac=lambda x: np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0]]))
    else:  # "zero-gradient": x0^2 = 0, whose gradient vanishes at the solution (no LICQ)
        con = NonlinearConstraint(lambda x: np.array([x[0] ** 2]), 0.0, 0.0,
                                  jac=lambda x: np.array([[2 * x[0], 0.0, 0.0]]),
                                  hess=lambda x, v: np.diag([2 * v[0], 0.0, 0.0]))
    return Problem.from_scipy(fun, np.array([0.3, 0.2, 0.1]), jac=jac, hessp=hessp,
                              constraints=[con])


def _al_case(make):
    def run():
        from optkit.constrained import al_newton

        return _result_row(al_newton(make(), rng=0, maxiter=300))

    return run


def al_newton_cases() -> list[Case]:
    cases = [Case("constrained.al_newton[HS7]", f"objective scale {s:g}",
                  _al_case(lambda s=s: _hs7_scaled(s)), fast=s in (1e-8, 1e8))
             for s in AL_SCALES]
    cases += [Case("constrained.al_newton", f"{kind} constraints",
                   _al_case(lambda kind=kind: _al_problem(kind)), fast=True)
              for kind in ("infeasible", "inconsistent", "duplicated", "zero-gradient")]
    return cases


# --- matrix completion ------------------------------------------------------------------------

def _altmin_case(rank, empty_rows, solver):
    def run():
        from optkit.completion import altmin
        from optkit.completion.datasets import low_rank_problem

        rows, cols, vals, shape = low_rank_problem(60, 50, 2, 0.5, rng=3)[0]
        keep = rows >= empty_rows
        observed = (rows[keep], cols[keep], vals[keep], shape)
        res = altmin(observed, rank, solver=solver, rng=0, maxiter=50)
        return bool(res.success), str(res.message), _finite(res.U, res.V, res.fun)

    return run


def altmin_cases() -> list[Case]:
    cases = []
    for solver in ("exact", "sketch", "cg"):
        for rank in (2, 5, 20):
            for empty_rows in (0, 5):
                load = f"true rank 2, rank={rank}, {empty_rows} rows unobserved"
                cases.append(Case(f"completion.altmin[{solver}]", load,
                                  _altmin_case(rank, empty_rows, solver),
                                  fast=solver == "exact" or rank == 20))
    return cases


# --- CBO --------------------------------------------------------------------------------------

_CENTER = np.array([0.5, -0.25, 1.0])


def _cbo_case(bad, region):
    def fun(X):
        X = np.asarray(X)
        value = np.sum((X - _CENTER) ** 2, axis=-1)
        if region == "half-space":  # x_0 < -0.5: far from the minimizer
            mask = X[..., 0] < -0.5
        elif region == "shell":  # a shell around the minimizer
            r = np.linalg.norm(X - _CENTER, axis=-1)
            mask = (r > 0.3) & (r < 0.6)
        else:  # "everywhere"
            mask = np.ones(value.shape, dtype=bool)
        return np.where(mask, bad, value)

    def run():
        import optkit

        res = optkit.minimize(fun, np.zeros(3), method="cbo",
                              options={"vectorized": True, "rng": 0, "maxiter": 3000})
        ok = res.success
        if ok and region != "everywhere":
            ok = bool(np.linalg.norm(res.x - _CENTER) < 1e-3)
        return bool(res.success and ok), str(res.message), _finite(res.x, res.fun)

    return run


def cbo_cases() -> list[Case]:
    return [Case("cbo.minimize", f"objective {bad} on the {region}", _cbo_case(bad, region),
                 fast=region != "shell")
            for bad in (np.nan, np.inf) for region in ("half-space", "shell", "everywhere")]


def all_cases() -> list[Case]:
    return ot_cases() + optimizer_cases() + al_newton_cases() + altmin_cases() + cbo_cases()


def run_case(case: Case) -> dict:
    """Run one case; an exception is recorded as the outcome (the test fails on it)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            success, message, finite = case.run()
            outcome = "converged" if success else "stopped"
        except (ValueError, TypeError) as exc:  # rejected input: allowed, with the message
            success, message, finite = False, f"{type(exc).__name__}: {exc}", True
            outcome = "rejected"
        except Exception as exc:  # recorded, and reported as a broken row
            success, message, finite = False, f"{type(exc).__name__}: {exc}", False
            outcome = "raised"
    return dict(case=case.name, load=case.load, outcome=outcome, success=success,
                message=message, finite=finite, seconds=time.perf_counter() - t0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="only the default-run cases")
    args = parser.parse_args(argv)
    rows = [run_case(c) for c in all_cases() if c.fast or not args.fast]
    header = ("case", "load", "outcome", "success", "finite", "s", "message")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    bad = 0
    for r in rows:
        silent = (r["success"] and not r["finite"]) or r["outcome"] == "raised" or (
            not r["success"] and not r["message"])
        bad += silent
        print(" | ".join([r["case"], r["load"], r["outcome"], str(r["success"]), str(r["finite"]),
                          f"{r['seconds']:.2f}", r["message"].replace("|", "/")[:110]]))
    print(f"\n{len(rows)} cases, {sum(r['success'] for r in rows)} converged, "
          f"{bad} silent or broken")
    return int(bad > 0)


if __name__ == "__main__":
    raise SystemExit(main())
