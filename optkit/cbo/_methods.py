"""Registration of method ``"cbo"`` and the option table of :class:`optkit.cbo.CBO`.

Imports optkit.core only. ``CBO_OPTIONS`` is the single source of the solver's options: the
registry (``optkit.minimize(..., method="cbo")``) and the ``CBO`` constructor both validate
through it with :func:`optkit.core.registry.resolve_options`. Options that belong to one
variant carry ``applies``, so passing them with the other variant raises ``ValueError``.
"""

from concurrent.futures import Executor

from scipy.optimize import OptimizeResult

from optkit.core.registry import MethodInfo, Option, register
from optkit.core.validate import (
    check_bool,
    check_in,
    check_int,
    check_interval,
    check_nonnegative,
    check_positive,
    optional,
)

VARIANTS = ("hopping", "cbo")
NOISES = ("anisotropic", "isotropic", "covariance")
ALPHA_SCHEDULES = ("geometric", "constant", "ess")
_CBO_ONLY = ("variant", ("cbo",))


def _int_at_least(minimum):
    return lambda value, name: check_int(value, name, minimum=minimum)


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _unit(value, name):
    return check_interval(value, name, 0.0, 1.0, high_closed=True)


def _at_least_one(value, name):
    value = check_positive(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def check_workers(workers, name="workers"):
    """``None``, a positive int, a map-like callable, an ``Executor`` or a dask ``Client``."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not (
            isinstance(workers, (int, Executor)) or callable(workers)
            or all(hasattr(workers, k) for k in ("gather", "map", "submit"))):
        raise TypeError(f"{name} must be an int, a map-like callable, an Executor or a dask "
                        f"Client, got {type(workers).__name__}")
    if isinstance(workers, int) and workers < 1:
        raise ValueError(f"{name} must be a positive int, got {workers!r}")
    return workers


def _check_warm_start(value, name):
    """The swarm of a warm start: a result's ``swarm`` field, or that dict itself."""
    swarm = value.get("swarm") if isinstance(value, OptimizeResult) else value
    if not isinstance(swarm, dict) or "X" not in swarm:
        raise TypeError(f"{name} must be a CBO result or its 'swarm' dict, got "
                        f"{type(value).__name__}")
    return swarm


CBO_OPTIONS = {
    "n_particles": Option(None, "int or None\n    Particles per swarm N >= 2. None: 50 (cbo); "
                                "40 d clipped to [40, 800] (hopping).",
                          check=optional(_int_at_least(2))),
    "n_runs": Option(1, "int\n    Independent swarms M run together; x is the best of all.",
                     check=_int_at_least(1)),
    "variant": Option("hopping", "str\n    'hopping' (Consensus Hopping: resample N points "
                                 "around the consensus each step; rotation-equivariant) or "
                                 "'cbo' (Euler-Maruyama CBO dynamics with `noise`).",
                      check=lambda v, n: check_in(v, n, VARIANTS)),
    "noise": Option(None, "str or None\n    Noise of variant 'cbo': 'anisotropic' (None; "
                          "coordinate-wise), 'isotropic' or 'covariance' (rotation-equivariant).",
                    check=optional(lambda v, n: check_in(v, n, NOISES)), applies=_CBO_ONLY),
    "sigma": Option(None, "float or None\n    Noise strength σ >= 0 (CBXpy convention: √2 "
                          "times ConsensusBasedX.jl's). None: 10.1 (anisotropic), sqrt(lam/d) "
                          "(isotropic), sqrt(2 lam) (covariance), the initial half-width "
                          "(hopping).", check=optional(check_nonnegative)),
    "sigma_decay": Option(None, "float or None\n    σ ← sigma_decay·σ each step, in (0, 1]. "
                                "None: 0.97 (hopping), 1 (cbo).", check=optional(_unit)),
    "lam": Option(None, "float or None\n    Drift strength λ > 0 of variant 'cbo', with "
                        "lam * dt <= 1. None: 1.", check=optional(check_positive),
                  applies=_CBO_ONLY),
    "dt": Option(None, "float or None\n    Time step Δt > 0 of variant 'cbo'. None: 0.01.",
                 check=optional(check_positive), applies=_CBO_ONLY),
    "alpha": Option(None, "float or None\n    Initial inverse temperature α₀ > 0 of the "
                          "'geometric' and 'constant' schedules. None: 30.",
                    check=optional(check_positive)),
    "alpha_schedule": Option(None, "str or None\n    'geometric' (α ← min(alpha_max, "
                                   "alpha_factor·α)), 'constant' or 'ess' (effective sample "
                                   "size). None: 'ess' (hopping), 'geometric' (cbo).",
                             check=optional(lambda v, n: check_in(v, n, ALPHA_SCHEDULES))),
    "alpha_factor": Option(None, "float or None\n    Growth factor >= 1 of the 'geometric' "
                                 "schedule. None: 1.05.", check=optional(_at_least_one)),
    "alpha_max": Option(None, "float or None\n    Cap of the 'geometric' schedule. None: 1e5.",
                        check=optional(check_positive)),
    "ess_eta": Option(None, "float or None\n    Effective-sample-size fraction in (0, 1] of the "
                            "'ess' schedule. None: 0.5.", check=optional(_unit)),
    "spread": Option(None, "float or None\n    Particles start at x0 + spread·U(-1, 1)^d in the "
                           "coordinates without finite bounds (uniform in finite bounds). "
                           "None: 1.", check=optional(check_nonnegative)),
    "batch_size": Option(None, "int or None\n    Particles per consensus of variant 'cbo' "
                               "(random batch method), 2 <= batch_size <= n_particles.",
                         check=optional(_int_at_least(2)), applies=_CBO_ONLY),
    "batch_partial": Option(None, "bool or None\n    With batch_size: move only the batch "
                                  "(None: False, every particle moves).",
                            check=optional(check_bool), applies=_CBO_ONLY),
    "f_target": Option(None, "float or None\n    A run stops (success) when its best value is "
                             "<= f_target.", check=optional(_real)),
    "xtol": Option(1e-6, "float\n    A run has converged (success) when, for 10 consecutive "
                         "steps, its particle spread max_i ||X_i - v||_inf and its consensus "
                         "movement ||v_k - v_{k-1}||_inf are both <= xtol. `tol` sets it.",
                   check=check_nonnegative),
    "patience": Option(500, "int\n    A run stops (success) after this many steps without an "
                            "improvement of its best value larger than ftol.",
                       check=_int_at_least(1)),
    "ftol": Option(1e-12, "float\n    See patience.", check=check_nonnegative),
    "vectorized": Option(False, "bool\n    fun maps an (n, d) array to (n,) values: one call "
                                "per step.", check=check_bool),
    "workers": Option(None, "int, map-like callable, concurrent.futures.Executor, "
                            "dask.distributed.Client or None\n    Evaluate each step's points "
                            "through a map (an int starts a process pool).",
                      check=check_workers),
    "chunksize": Option(None, "int or None\n    Points per task when workers is an int or an "
                              "Executor. None: 1.", check=optional(_int_at_least(1))),
    "warm_start": Option(None, "OptimizeResult, dict or None\n    Resume from a previous run's "
                               "result or its `swarm` (also in a callback's "
                               "intermediate_result); pass that run's Generator as rng to "
                               "repeat the uninterrupted run exactly.",
                         check=optional(_check_warm_start)),
}

register(MethodInfo(
    name="cbo",
    solver="optkit.cbo.solver:CBO",
    summary="Consensus-based optimization: a derivative-free particle swarm with a provable mean "
            "field (M vectorized runs of N particles).",
    reference="Pinnau, Totzeck, Tse, Martin, M3AS 27(1), 2017; Carrillo, Jin, Li, Zhu, "
              "ESAIM:COCV 27, 2021; Riedl, Klock, Geldhauser, Fornasier, arXiv 2306.09778.",
    requires=frozenset({"value"}),
    supports=frozenset({"bounds", "rng", "torch", "float32"}),
    options={"maxiter": Option(5000, "int\n    Maximum number of steps.", check=_int_at_least(0)),
             **CBO_OPTIONS},
    tol_option="xtol",
    test_options={"maxiter": 30, "n_particles": 20},
))
