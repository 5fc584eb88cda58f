"""Registration of method ``"cbo"`` (imports optkit.core only)."""

from optkit.core.registry import MethodInfo, Option, register
from optkit.core.validate import (
    check_bool,
    check_in,
    check_int,
    check_nonnegative,
    check_positive,
    optional,
)


def _int_at_least(minimum):
    return lambda value, name: check_int(value, name, minimum=minimum)


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


register(MethodInfo(
    name="cbo",
    solver="optkit.cbo.cbo:CBO",
    summary="Consensus-based optimization: a derivative-free particle swarm with a provable mean "
            "field (M vectorized runs of N particles).",
    reference="Pinnau, Totzeck, Tse, Martin, M3AS 27(1), 2017; Carrillo, Jin, Li, Zhu, "
              "ESAIM:COCV 27, 2021; Carrillo, Hoffmann, Stuart, Vaes, Stud. Appl. Math. 148, 2022.",
    requires=frozenset({"value"}),
    supports=frozenset({"bounds", "rng", "torch", "float32"}),
    options={
        "maxiter": Option(5000, "int\n    Maximum number of steps.", check=_int_at_least(0)),
        "maxfev": Option(None, "int or None\n    Budget of objective evaluations over all runs; "
                               "nfev never exceeds it.", check=optional(_int_at_least(1))),
        "n_particles": Option(None, "int or None\n    Particles per swarm N >= 2. None: 50 (cbo); "
                                    "for hopping 800, or maxfev / (125 n_runs) clipped to "
                                    "[20, 800] when maxfev is given.",
                              check=optional(_int_at_least(2))),
        "n_runs": Option(1, "int\n    Independent swarms M run together; x is the best of all.",
                         check=_int_at_least(1)),
        "variant": Option("hopping", "str\n    'hopping' (Consensus Hopping: resample N points "
                                     "around the consensus each step; rotation-equivariant) or "
                                     "'cbo' (Euler-Maruyama CBO dynamics with `noise`).",
                          check=lambda v, n: check_in(v, n, ("hopping", "cbo"))),
        "noise": Option("anisotropic", "str\n    Noise of variant 'cbo': 'anisotropic' "
                                       "(coordinate-wise), 'isotropic' or 'covariance' "
                                       "(rotation-equivariant).",
                        check=lambda v, n: check_in(v, n, ("anisotropic", "isotropic",
                                                           "covariance"))),
        "sigma": Option(None, "float or None\n    Noise strength σ >= 0 (CBXpy convention: √2 "
                              "times ConsensusBasedX.jl's). None: 10.1 (anisotropic), sqrt(lam/d) "
                              "(isotropic), sqrt(2 lam) (covariance), the initial half-width "
                              "(hopping).", check=optional(check_nonnegative)),
        "sigma_decay": Option(None, "float or None\n    σ ← sigma_decay·σ each step, in (0, 1]. "
                                    "None: 0.97 (hopping), 1 (cbo).",
                              check=optional(check_positive)),
        "lam": Option(1.0, "float\n    Drift strength λ > 0, with lam * dt <= 1.",
                      check=check_positive),
        "dt": Option(0.01, "float\n    Time step Δt > 0.", check=check_positive),
        "alpha": Option(30.0, "float\n    Initial inverse temperature α₀ > 0.",
                        check=check_positive),
        "alpha_schedule": Option(None, "str or None\n    'geometric' (α ← min(alpha_max, "
                                       "alpha_factor·α)), 'constant' or 'ess' (effective sample "
                                       "size). None: 'ess' (hopping), 'geometric' (cbo).",
                                 check=optional(lambda v, n: check_in(
                                     v, n, ("geometric", "constant", "ess")))),
        "alpha_factor": Option(1.05, "float\n    Growth factor of the geometric schedule, >= 1.",
                               check=check_positive),
        "alpha_max": Option(1e5, "float\n    Cap of the geometric schedule.",
                            check=check_positive),
        "ess_eta": Option(0.5, "float\n    Effective-sample-size fraction of the 'ess' schedule.",
                          check=check_positive),
        "spread": Option(1.0, "float\n    Particles start at x0 + spread·U(-1, 1)^d (uniform in "
                              "finite bounds instead).", check=check_nonnegative),
        "batch_size": Option(None, "int or None\n    Particles per consensus (random batch "
                                   "method), 2 <= batch_size <= n_particles.",
                             check=optional(_int_at_least(2))),
        "batch_partial": Option(False, "bool\n    Move only the batch (else every particle).",
                                check=check_bool),
        "max_time": Option(None, "float or None\n    Wall-time budget in seconds.",
                           check=optional(check_positive)),
        "f_target": Option(None, "float or None\n    A run stops when its best value is <= f_target.",
                           check=optional(_real)),
        "x_tol": Option(1e-8, "float\n    A run stops when max_i ||X_i - v||_inf < x_tol.",
                        check=check_nonnegative),
        "patience": Option(500, "int\n    A run stops after this many steps without an "
                                "improvement larger than f_tol.", check=_int_at_least(1)),
        "f_tol": Option(1e-12, "float\n    See patience.", check=check_nonnegative),
        "vectorized": Option(False, "bool\n    fun maps an (n, d) array to (n,) values: one call "
                                    "per step.", check=check_bool),
        "workers": Option(None, "int, map-like callable, concurrent.futures.Executor, "
                                "dask.distributed.Client or None\n    Evaluate each step's points "
                                "through a map (an int starts a process pool)."),
        "chunksize": Option(1, "int\n    Points per task for process pools and executors.",
                            check=_int_at_least(1)),
    },
    tol_option="x_tol",
    test_options={"maxiter": 30, "n_particles": 20},
))
