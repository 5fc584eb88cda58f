r"""``optkit.bilevel.solve``: one facade over the bilevel methods, one option table per method."""

from __future__ import annotations

from collections.abc import Callable

from ..core.registry import RNG_OPTION, Option, budget_options, resolve_options
from ..core.rng import check_rng
from ..core.solver import run
from ..core.validate import (
    check_bool,
    check_in,
    check_int,
    check_interval,
    check_nonnegative,
    check_positive,
    optional,
)
from .aid import AID
from .base import BilevelResult, RunView
from .bome import BOME
from .penalty import Penalty
from .penalty_sl import PenaltySL
from .problem import BilevelProblem
from .vpbgd import VPBGD

__all__ = ["solve", "OPTIONS"]


def _int(minimum):
    return lambda value, name: check_int(value, name, minimum=minimum)


def _schedule(value, name):
    return value if callable(value) else check_in(value, name, ("constant", "geometric"))


def _momentum(value, name):
    return check_interval(value, name, 0.0, 1.0, high_closed=True)


def _common(tol=1e-6, tol_doc="", tol_check=check_nonnegative) -> dict[str, Option]:
    return {
        "maxiter": Option(1000, "int\n    Outer iterations; spent, the run stops with status 1.",
                          check=_int(0)),
        "tol": Option(tol, "float\n    " + tol_doc, check=tol_check),
        **budget_options(),
        "disp": Option(False, "bool\n    Print the final message.", check=check_bool),
    }


_PENALTY_TOL = ("Stop (status 0) when the projected-gradient mapping of x is at most ``tol`` "
                "and both inner mappings at most ``inner_tol`` (full batches only).")
_JOINT_TOL = ("Stop (status 0) when the projected-gradient mappings of x (step ``lr_x``) and y "
              "(step ``lr_y``) are at most ``tol``.")


def _penalty_options() -> dict[str, Option]:
    return {
        **_common(tol=None, tol_doc=_PENALTY_TOL + " Default 1e-6.",
                  tol_check=optional(check_nonnegative)),
        "sigma": Option(1e-2, "float\n    Penalty parameter sigma > 0 (1/lambda in F2SA, 1/gamma "
                              "in V-PBGD): bias O(sigma), inner errors amplified by 1/sigma.",
                        check=check_positive),
        "sigma_schedule": Option("constant", "{'constant', 'geometric'} or callable\n    "
                                 "'geometric': sigma_k = max(sigma_min, sigma 0.5^floor(k / "
                                 "sigma_every)); a callable maps k to sigma_k.", check=_schedule),
        "sigma_min": Option(None, "float\n    Floor of the geometric schedule (required by it).",
                            check=optional(check_positive),
                            applies=("sigma_schedule", ("geometric",))),
        "sigma_every": Option(100, "int\n    Outer steps between halvings of the geometric "
                                   "schedule.", check=_int(1),
                              applies=("sigma_schedule", ("geometric",))),
        "lr_x": Option(None, "float\n    Step on x; default 0.1 with full batches, required "
                             "with mini-batches.", check=optional(check_positive)),
        "lr_y": Option(None, "float\n    Step on y; default 1/(L_g + sigma L_f) from "
                             "problem.lipschitz, else backtracking (penalty).",
                       check=optional(check_positive)),
        "lr_z": Option(None, "float\n    Step on z; default 1/L_g from problem.lipschitz, else "
                             "backtracking (penalty).", check=optional(check_positive)),
        "inner_tol": Option(None, "float\n    Tolerance of the inner gradient mappings (early "
                                  "stop of the inner loops, and the final test); default "
                                  "sigma * tol. Full batches only.",
                            check=optional(check_nonnegative)),
        "batch_size": Option(None, "int or pair\n    Mini-batch sizes (outer, inner); an int "
                                   "applies to each level with n_samples. Given, the run is "
                                   "stochastic: it ends at maxiter (status 1)."),
        "rng": RNG_OPTION,
    }


#: One option table per method (``name -> Option``); :func:`solve` validates through it.
OPTIONS: dict[str, dict[str, Option]] = {
    "penalty": {
        **_penalty_options(),
        "inner_steps": Option(20, "int\n    T, inner gradient steps per outer step.",
                              check=_int(1)),
    },
    "penalty-sl": {
        **_penalty_options(),
        "momentum": Option(0.1, "float in (0, 1]\n    eta of the momentum estimators.",
                           check=_momentum),
        "estimator": Option("storm", "{'storm', 'ema'}\n    Momentum estimator.",
                            check=lambda v, n: check_in(v, n, ("storm", "ema"))),
    },
    "aid": {
        **_common(tol_doc=_JOINT_TOL),
        "lr_x": Option(0.1, "float\n    Hypergradient step on x.", check=check_positive),
        "lr_inner": Option(None, "float\n    Step of the inner gradient steps on g; default "
                                 "1/L_g from problem.lipschitz.", check=optional(check_positive)),
        "inner_steps": Option(20, "int\n    T, inner gradient steps per outer step.",
                              check=_int(0)),
        "cg_steps": Option(50, "int\n    Most CG iterations per hypergradient.", check=_int(1)),
        "cg_tol": Option(1e-10, "float\n    Relative residual at which CG stops.",
                         check=check_positive),
    },
    "vpbgd": {
        **_common(tol_doc=_JOINT_TOL),
        "gamma": Option(10.0, "float\n    Final penalty gamma (sigma = 1/gamma).",
                        check=check_positive),
        "gamma_init": Option(None, "float\n    First gamma of the linear ramp; default gamma.",
                             check=optional(check_positive)),
        "gamma_argmax_step": Option(1, "int\n    Steps of the linear ramp of gamma.",
                                    check=_int(1)),
        "lr_x": Option(0.1, "float\n    Step on x (times min(1/gamma, 1)).", check=check_positive),
        "lr_y": Option(0.1, "float\n    Step on y (times min(1/gamma, 1)).", check=check_positive),
        "lr_inner": Option(None, "float\n    Step on omega; default 1/L_g from "
                                 "problem.lipschitz.", check=optional(check_positive)),
        "inner_steps": Option(1, "int\n    T, gradient steps on omega per step.", check=_int(0)),
    },
    "bome": {
        **_common(tol_doc=_JOINT_TOL),
        "eta": Option(0.5, "float\n    eta of the control phi = eta |grad q|^2.",
                      check=check_positive),
        "lr_x": Option(0.5, "float\n    Step on x.", check=check_positive),
        "lr_y": Option(0.5, "float\n    Step on theta (y).", check=check_positive),
        "lr_inner": Option(None, "float\n    Step of the T gradient steps giving theta_T; "
                                 "default 1/L_g from problem.lipschitz.",
                           check=optional(check_positive)),
        "inner_steps": Option(10, "int\n    T, gradient steps giving theta_T.", check=_int(0)),
    },
}

_LOOP = ("maxiter", "maxfev", "max_time", "disp", "rng")


def _resolve(method: str, options: dict) -> dict:
    table = OPTIONS[method]
    if "rng" in options and "rng" not in table:
        raise TypeError(f"method={method!r} is deterministic (full batches): it takes no rng")
    foreign = sorted(n for n in options if n not in table
                     and any(n in t for t in OPTIONS.values()))
    if foreign:
        users = {n: [m for m, t in OPTIONS.items() if n in t] for n in foreign}
        raise ValueError(f"option(s) {foreign} do not apply to method={method!r}: "
                         + "; ".join(f"{n!r} is used by {users[n]}" for n in foreign))
    return resolve_options(table, options, owner=f"optkit.bilevel.solve(method={method!r})")


def _batch_sizes(problem: BilevelProblem, batch_size) -> tuple:
    if batch_size is None:
        return None, None
    pair = isinstance(batch_size, tuple | list)
    sizes = batch_size if pair else (batch_size, batch_size)
    if len(sizes) != 2:
        raise ValueError(f"batch_size must be an int or a pair (outer, inner), got {batch_size!r}")
    out = []
    for level, size, which in zip((problem.outer, problem.inner), sizes, ("outer", "inner")):
        if size is None or (not pair and not level.is_stochastic):
            out.append(None)
            continue
        size = check_int(size, f"batch_size ({which})", minimum=1)
        if not level.is_stochastic:
            raise ValueError(f"batch_size ({which}) was given but {level.name} has no n_samples")
        if size > level.n_samples:
            raise ValueError(f"batch_size ({which}) = {size} exceeds n_samples of {level.name} "
                             f"({level.n_samples})")
        out.append(size)
    if out == [None, None]:
        raise ValueError("batch_size was given but neither f nor g has n_samples")
    return tuple(out)


def _lr_inner(problem, lr_inner):
    if lr_inner is not None:
        return lr_inner
    if problem.lipschitz is None:
        raise ValueError("give lr_inner (problem.lipschitz is not set)")
    return 1.0 / problem.lipschitz[1]


def _penalty_solver(problem, method, opts, given):
    if opts["sigma_schedule"] == "geometric" and opts["sigma_min"] is None:
        raise ValueError("sigma_schedule='geometric' needs sigma_min")
    sizes = _batch_sizes(problem, opts["batch_size"])
    stochastic = sizes != (None, None)
    if stochastic:
        missing = [n for n in ("lr_x", "lr_y", "lr_z") if opts[n] is None]
        if missing:
            raise ValueError(f"mini-batch runs need explicit steps: give {', '.join(missing)}")
        for name in ("inner_tol", "tol"):
            if name in given:
                raise ValueError(f"{name} applies to full-batch runs only (batch_size is set): "
                                 "a mini-batch run has no stopping test and ends at maxiter")
    elif "rng" in given:
        raise TypeError("rng applies to mini-batch runs only (batch_size with n_samples): this "
                        "full-batch run is deterministic")
    common = dict(sigma=opts["sigma"], sigma_schedule=opts["sigma_schedule"],
                  sigma_min=opts["sigma_min"], sigma_every=opts["sigma_every"],
                  lr_x=0.1 if opts["lr_x"] is None else opts["lr_x"], lr_y=opts["lr_y"],
                  lr_z=opts["lr_z"], inner_tol=opts["inner_tol"], batch_size=sizes,
                  tol=1e-6 if opts["tol"] is None else opts["tol"])
    if method == "penalty":
        return Penalty(inner_steps=opts["inner_steps"], **common)
    if (opts["lr_y"] is None or opts["lr_z"] is None) and problem.lipschitz is None:
        raise ValueError("method='penalty-sl' needs lr_y and lr_z, or problem.lipschitz")
    return PenaltySL(estimator=opts["estimator"], momentum=opts["momentum"], **common)


def _joint_solver(problem, method, opts):
    kw = {k: v for k, v in opts.items() if k not in _LOOP}
    kw["lr_inner"] = _lr_inner(problem, kw["lr_inner"])
    if method == "aid":
        return AID(lr_y=kw["lr_inner"], **kw)
    if method == "vpbgd":
        kw["gamma_init"] = kw["gamma"] if kw["gamma_init"] is None else kw["gamma_init"]
        return VPBGD(**kw)
    return BOME(**kw)


def solve(problem: BilevelProblem, method: str = "penalty", *, callback: Callable | None = None,
          **options) -> BilevelResult:
    r"""Solve a bilevel problem :math:`\min_x \psi(x)`, :math:`\psi(x) = \min\{f(x,y) : y \in
    \arg\min_{y'} g(x, y')\}`.

    Parameters
    ----------
    problem : BilevelProblem
    method : {"penalty", "penalty-sl", "aid", "bome", "vpbgd"}
        - ``"penalty"``: double-loop value-function penalty method (Kwon, Kwon, Wright,
          Nowak, ICLR 2024; :class:`~optkit.bilevel.penalty.Penalty`), first order.
        - ``"penalty-sl"``: its single-loop momentum variant
          (:class:`~optkit.bilevel.penalty_sl.PenaltySL`), first order.
        - ``"aid"``: implicit-differentiation hypergradient descent (Pedregosa, ICML 2016;
          :class:`~optkit.bilevel.aid.AID`); needs Hessian-vector products of g and a
          strongly convex lower level.
        - ``"bome"``: BOME (Liu et al., NeurIPS 2022; :class:`~optkit.bilevel.bome.BOME`).
        - ``"vpbgd"``: V-PBGD (Shen & Chen, ICML 2023; :class:`~optkit.bilevel.vpbgd.VPBGD`).
    callback : callable, optional
        ``callback(intermediate_result)`` gets an ``OptimizeResult`` with ``x``, ``y``, ``z``,
        ``fun``, ``nit``, the counts (and ``sigma``, ``psi_sigma`` for the penalty methods);
        any other callable gets a copy of ``x``. ``StopIteration`` ends the run (status 99).
    **options
        The method's options (documented in :data:`OPTIONS`, one table per method). Every method takes ``maxiter`` (default 1000), ``tol``, ``maxfev``
        (budget of level-oracle calls, ``nfev``), ``max_time`` and ``disp``. The penalty
        methods take ``sigma``, ``sigma_schedule``, ``sigma_min``, ``sigma_every``, ``lr_x``,
        ``lr_y``, ``lr_z``, ``inner_tol``, ``batch_size``, ``rng`` (mini-batch runs only),
        and ``inner_steps`` (``penalty``) or ``momentum``, ``estimator`` (``penalty-sl``).
        AID takes ``lr_x``, ``lr_inner``, ``inner_steps``, ``cg_steps``, ``cg_tol``; V-PBGD
        ``gamma``, ``gamma_init``, ``gamma_argmax_step``, ``lr_x``, ``lr_y``, ``lr_inner``,
        ``inner_steps``; BOME ``eta``, ``lr_x``, ``lr_y``, ``lr_inner``, ``inner_steps``.
        An option of another method raises ``ValueError`` naming it; an unknown name raises
        ``TypeError``.

    Returns
    -------
    BilevelResult
        An ``OptimizeResult``: ``x``, ``y``, ``z``, ``fun`` = f(x, y), ``nit``, ``nfev``
        (calls of the level oracles: values of f plus values of g, each call also giving
        both partial gradients), ``njev`` (gradient calls), ``nhev`` (Hessian-vector products
        of g, AID only), per-level counts ``n_outer_value``, ``n_outer_grad``,
        ``n_inner_value``, ``n_inner_grad``, ``n_inner_hvp``, ``n_samples``, ``status``,
        ``success``, ``message``, ``trace``, ``execution_time``; ``sigma`` and ``psi_sigma`` =
        f(x,y) + (g(x,y) - g(x,z))/sigma (penalty methods), ``psi`` when the problem knows it.
        Status: 0 the method's stopping test held, 1 ``maxiter`` (always for mini-batch runs,
        which have no stopping test: ``success=False``), 2 backtracking failed, 3 non-finite
        value, 4 an inner loop diverged, 6 ``maxfev``, 9 ``max_time``, 99 callback.

    Notes
    -----
    The penalty methods need neither a strongly convex lower level nor a unique lower-level
    solution (KKWN assume a proximal error bound); :math:`g(x,y) - g(x,z) \ge 0` (the
    traced ``gap``) up to inner error checks it.
    """
    if not isinstance(problem, BilevelProblem):
        raise TypeError(f"problem must be a BilevelProblem, got {type(problem).__name__}")
    check_in(method, "method", OPTIONS)
    opts = _resolve(method, options)
    if method in ("penalty", "penalty-sl"):
        solver = _penalty_solver(problem, method, opts, set(options))
    else:
        solver = _joint_solver(problem, method, opts)
    return run(solver, RunView(problem), maxiter=opts["maxiter"], rng=check_rng(opts.get("rng")),
               callback=callback, method=method, maxfev=opts["maxfev"],
               max_time=opts["max_time"], disp=opts["disp"], result_type=BilevelResult)
