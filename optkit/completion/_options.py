"""The one option table of :func:`~optkit.completion.altmin` and
:func:`~optkit.completion.half_step`, and the validated configuration it yields.

Every option is an :class:`~optkit.core.registry.Option`; :func:`resolve` runs them through
:func:`~optkit.core.registry.resolve_options` (the single validator), so an option that does
not apply to the chosen ``solver`` (``sketch_size`` with ``"exact"``, ``cg_steps`` with
``"sketch"``, ...) raises ``ValueError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

from optkit.core.registry import RNG_OPTION, Option, budget_options, resolve_options
from optkit.core.validate import (
    check_bool,
    check_in,
    check_int,
    check_interval,
    check_nonnegative,
    check_positive,
    optional,
)

__all__ = ["SOLVERS", "SKETCHES", "OPTIONS", "HALF_STEP_OPTIONS", "HalfStepConfig", "resolve"]

SOLVERS = ("exact", "sketch", "cg")
SKETCHES = ("countsketch", "gaussian", "srht")
_SKETCH = ("solver", ("sketch",))
_CG = ("solver", ("cg",))


def _one_of(allowed):
    return lambda value, name: check_in(value, name, allowed)


def _check_callback(value, name):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")


def _check_validation(value, name):
    if value is not None and not (hasattr(value, "tocoo") or isinstance(value, tuple | list)):
        raise TypeError(f"{name} must be a scipy.sparse matrix or a (rows, cols, vals) tuple, "
                        f"got {type(value).__name__}")


def _check_dtype(value, name):
    if value is None:
        return None
    import numpy as np

    try:
        label = np.dtype(value).name
    except TypeError:
        label = str(value).removeprefix("torch.")
    if label not in ("float32", "float64"):
        raise ValueError(f"{name} must be float32 or float64, got {value!r}")
    return label


#: The half-step options (shared by ``altmin`` and ``half_step``).
HALF_STEP_OPTIONS = {
    "solver": Option("exact", "{'exact', 'sketch', 'cg'}\n    Half-step solver.",
                     check=_one_of(SOLVERS)),
    "reg": Option(0.0, "float\n    Ridge weight lambda >= 0.", check=check_nonnegative),
    "reg_scaling": Option("none", "{'none', 'count'}\n    c = 1, or the entry counts (ALS-WR).",
                          check=_one_of(("none", "count"))),
    "jitter": Option(1e-10, "float\n    With reg == 0, shift delta tr(G_j)/k of the exact Gram "
                            "matrices.", check=check_nonnegative),
    "sketch": Option("countsketch", "{'countsketch', 'gaussian', 'srht'}\n    Sketch kind.",
                     check=_one_of(SKETCHES), applies=_SKETCH),
    "sketch_size": Option(None, "int or None\n    Sketch rows s (default 4 * rank).",
                          check=optional(lambda v, n: check_int(v, n, minimum=1)),
                          applies=_SKETCH),
    "eps0": Option(1e-6, "float in (0, 1)\n    Residual factor of the sketched regressions.",
                   check=lambda v, n: check_interval(v, n, 0.0, 1.0), applies=_SKETCH),
    "verify": Option(False, "bool or 'raise'\n    Check each sketched half-step against the "
                            "exact one.", check=_one_of((False, True, "raise")), applies=_SKETCH),
    "cg_steps": Option(3, "int\n    CG steps per half-step.",
                       check=lambda v, n: check_int(v, n, minimum=1), applies=_CG),
    "cg_jacobi": Option(False, "bool\n    Jacobi-precondition the CG steps.", check=check_bool,
                        applies=_CG),
}

#: Every option of ``altmin`` (besides ``observed`` and ``rank``).
OPTIONS = {
    **HALF_STEP_OPTIONS,
    "maxiter": Option(30, "int\n    Outer iterations T (each two half-steps).",
                      check=lambda v, n: check_int(v, n, minimum=1)),
    "tol": Option(1e-6, "float\n    Stop when the relative change of U V^T < tol or the observed "
                        "relative residual < tol/10.", check=check_nonnegative),
    "center": Option("none", "{'none', 'global'}\n    Subtract the observed mean.",
                     check=_one_of(("none", "global"))),
    "biases": Option(False, "bool\n    Fit row and column biases.", check=check_bool),
    "init": Option("svd", "{'svd', 'random'}\n    Initial factors.",
                   check=_one_of(("svd", "random"))),
    "clip_mu": Option(None, "float or None\n    Incoherence mu of JNS13's clipping (None: off).",
                      check=optional(check_positive)),
    "split_samples": Option(False, "bool\n    Theory mode: 2T+1 disjoint parts of Omega.",
                            check=check_bool),
    "validation": Option(None, "sparse matrix or (rows, cols, vals[, shape])\n    Held-out "
                               "entries (RMSE traced).", check=_check_validation),
    "parallel": Option(None, "dask.distributed.Client or None\n    Solve the blocks on a "
                             "cluster."),
    "rng": RNG_OPTION,
    "callback": Option(None, "callable\n    callback(intermediate_result); StopIteration stops.",
                       check=_check_callback),
    "dtype": Option(None, "float32, float64 or None\n    Compute dtype (default: the values').",
                    check=_check_dtype),
    **budget_options(),
}


@dataclass(frozen=True)
class HalfStepConfig:
    """The validated half-step options (names as in :func:`~optkit.completion.altmin`)."""

    solver: str
    reg: float
    reg_scaling: str
    jitter: float
    sketch: str
    sketch_size: int
    eps0: float
    verify: bool | str
    cg_steps: int
    cg_jacobi: bool

    @property
    def checks(self) -> bool:
        """Whether the sketched half-steps are checked against the exact ones."""
        return bool(self.verify) and self.solver == "sketch"


def resolve(given: dict, rank: int, *, known=OPTIONS, owner: str = "altmin") -> dict:
    """Options with defaults filled in and validated; ``"half_step"``: a :class:`HalfStepConfig`.

    ``given`` holds the options the caller passed (a ``None`` value means "not given").
    """
    opts = resolve_options(known, {k: v for k, v in given.items() if v is not None}, owner=owner)
    size = 4 * rank if opts["sketch_size"] is None else opts["sketch_size"]
    if size < rank:
        raise ValueError(f"sketch_size must be >= rank={rank}, got {size}")
    opts["half_step"] = HalfStepConfig(**{name: opts[name] for name in HALF_STEP_OPTIONS
                                          if name != "sketch_size"}, sketch_size=size)
    return opts
