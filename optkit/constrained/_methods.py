"""Registration of ``al-newton`` (imports only optkit.core)."""

import numbers

from optkit.core.registry import MethodInfo, Option, register
from optkit.core.validate import (
    check_in,
    check_int,
    check_interval,
    check_nonnegative,
    check_positive,
    optional,
)

_SKETCHES = ("rk", "block-rk", "gaussian", "block-gaussian", "direct", "minres")


def _open_unit(value, name):
    return check_interval(value, name, 0.0, 1.0)


def _beta(value, name):
    return check_interval(value, name, 0.0, 0.5)


def _above_one(value, name):
    return check_interval(value, name, 1.0, float("inf"))


def _lam0(value, name):
    if value is None or (isinstance(value, str) and value == "ls"):
        return value
    if isinstance(value, str):
        raise ValueError(f"{name} must be None, 'ls' or an array of multipliers, got {value!r}")
    return value


def _theta(value, name):
    if callable(value):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_positive(value, name)
    raise TypeError(f"{name} must be a positive number or a callable k -> theta_k, "
                    f"got {type(value).__name__}")


_optional_int = optional(lambda value, name: check_int(value, name, minimum=1))


def _choice(allowed):
    return lambda value, name: check_in(value, name, allowed)


register(MethodInfo(
    name="al-newton",
    solver="optkit.constrained.al_newton:ALNewton",
    summary=("AdaSketch-Newton: Newton on the exact augmented Lagrangian with randomized "
             "sketching of the KKT system (equality constraints)."),
    reference=("I. Hong, S. Na, M. W. Mahoney, M. Kolar, Constrained Optimization via Exact "
               "Augmented Lagrangian and Randomized Iterative Sketching, ICML 2023 "
               "(arXiv:2305.18379)."),
    requires=frozenset({"value", "grad", "constraints"}),
    supports=frozenset({"eq_constraints", "bounds", "rng", "hess"}),
    options={
        "maxiter": Option(10_000, "int\n    Maximum number of Newton iterations.",
                          check=lambda v, n: check_int(v, n, minimum=0)),
        "tol": Option(1e-6, "float\n    Stop when the KKT residual ||(grad_x L, c)||_2 <= tol.",
                      check=check_nonnegative),
        "sketch": Option("rk", "str\n    KKT solver: 'rk' (randomized Kaczmarz), 'block-rk', "
                               "'gaussian', 'block-gaussian', or the baselines 'direct' "
                               "(numpy.linalg.solve; SuperLU for a sparse K) and 'minres'.", check=_choice(_SKETCHES)),
        "sampling": Option("uniform", "str\n    Row sampling of the 'rk' sketches: 'uniform' or "
                                      "'rownorm' (p_i proportional to ||k_i||^2).",
                           check=_choice(("uniform", "rownorm"))),
        "block_size": Option(1, "int\n    Rows per step of the block sketches (>= 2 there).",
                             check=lambda v, n: check_int(v, n, minimum=1)),
        "accuracy": Option("paper", (
            "str\n    Inner stopping rule. 'paper' (default): ||K|| Psi ||r|| <= theta delta "
            "||grad L||, the analysed condition; with the default constants delta sits at "
            "delta_floor and the relative residual target is ~1e-10, so paper mode is "
            "effectively an exact solve. 'relative': ||r|| <= kappa ||grad L||, 2-74x fewer "
            "sketch steps on the HS problems but more Newton iterations (oracle calls)."),
            check=_choice(("paper", "relative"))),
        "kappa": Option(0.1, "float\n    Relative residual of accuracy='relative', in (0, 1); "
                             "divided by rho^2 at each failed descent test.", check=_open_unit),
        "theta": Option(1.0, "float or callable\n    theta (or k -> theta_k) of the paper "
                             "accuracy condition.", check=_theta),
        "hessian_in_merit": Option("lagrangian", (
            "str\n    Hessian in the merit gradient: 'lagrangian' (exact) or 'objective' "
            "(the reference code's; the Armijo slope is then not the merit's derivative)."),
            check=_choice(("lagrangian", "objective"))),
        "lam0": Option(None, (
            "None, 'ls' or array\n    Initial multipliers. None: with safeguards='robust', "
            "no bounds and the dense linear algebra the least-squares ones, zeros where an "
            "entry exceeds 1e3 (IPOPT's rule); otherwise zeros. 'ls': least squares "
            "-(G G^T)^{-1} G grad f(x0). An array: given."), check=_lam0),
        "max_inner": Option(100_000, "int\n    Sketch steps per pass; 10 * max_inner per Newton "
                                     "step ends the run (status 5).",
                            check=lambda v, n: check_int(v, n, minimum=1)),
        "inner_fallback": Option("direct", (
            "str\n    A sketch pass that reaches max_inner steps short of its accuracy target: "
            "'direct' (default) finishes it with an exact LU solve when K is a matrix (dense "
            "or sparse path; the accuracy condition then holds), 'none' keeps the capped "
            "iterate (the reference code's behaviour)."), check=_choice(("direct", "none"))),
        "check_every": Option(None, "int or None\n    Sketch steps between full-residual checks "
                                    "(default n + m).", check=_optional_int),
        "linear_algebra": Option("auto", (
            "str\n    'dense' forms K (n Hessian-vector products per iteration); 'sparse' "
            "assembles a scipy.sparse K from the Hessian matrices (hess= of the objective and "
            "of every nonlinear constraint) and the Jacobian, with Frobenius norms and a "
            "Gershgorin test before any Lanczos; 'matrix-free' applies K through "
            "Hessian-vector products and the Jacobian (Lanczos for norms and the Hessian "
            "test). 'auto': dense when n + m <= 1000, else sparse when the Hessian matrices "
            "exist, else matrix-free."),
            check=_choice(("auto", "dense", "sparse", "matrix-free"))),
        "mu0": Option(1.0, "float\n    Initial penalty mu on ||c||^2.", check=check_positive),
        "nu0": Option(0.1, "float\n    Initial penalty nu on ||grad_x L||^2.",
                      check=check_positive),
        "delta0": Option(0.1, "float\n    Initial delta of the paper accuracy condition.",
                         check=check_positive),
        "xi_B": Option(0.1, "float\n    Reduced-Hessian curvature floor of the Hessian "
                            "modification.", check=check_positive),
        "shift_floor0": Option(None, (
            "float or None\n    safeguards='robust': the starting floor of the Hessian shift "
            "at a positive semidefinite reduced Hessian (default xi_B); the result's resume "
            "carries the current one."), check=optional(check_positive)),
        "beta": Option(0.1, "float\n    Armijo constant, in (0, 0.5).", check=_beta),
        "rho": Option(1.5, "float\n    Penalty update factor (> 1).", check=_above_one),
        "delta_floor": Option(1e-6, "float\n    Lower bound on delta.", check=check_positive),
        "hess_mod_tol": Option(1e-6, "float\n    Modify the Hessian when lambda_min(Z^T H Z) "
                                     "is below this.", check=check_nonnegative),
        "singular_tol": Option(1e-12, (
            "float\n    Rank-deficiency threshold of singular_test: lambda_min(G G^T) <= "
            "singular_tol * lambda_max(G G^T) ('relative'), lambda_min(G G^T) < singular_tol "
            "('absolute'; the reference code uses 1e-2)."), check=check_nonnegative),
        "singular_test": Option("relative", (
            "str\n    'relative' (default): a rank-deficient G does not stop the run; a Newton "
            "step that fails (line search, penalty safeguards, sketch budget) where G is "
            "rank-deficient is reported as status 7. 'absolute': stop with status 7 at any "
            "iterate where the test holds (the reference code's rule; "
            "singular_test='absolute', singular_tol=1e-2 reproduces the reference)."),
            check=_choice(("relative", "absolute"))),
        "safeguards": Option("robust", (
            "str\n    'robust' (default): the paper's iteration plus safeguards for problems "
            "outside its assumptions: gradient-based scaling of f and c at x0 (IPOPT's rule; "
            "results in the user's units), the Hessian shift xi_B - lambda_min + "
            "max(-lambda_min, 0) with lambda_min = lambda_min(Z^T H Z) (none where Z^T H Z "
            "passes hess_mod_tol in the variables scaled by diag(|H_ii|)^(-1/2); dense and "
            "sparse paths; at a PSD Z^T H Z the floor xi_B falls tenfold after each full "
            "step, to hess_mod_tol, and rises tenfold after a shortened one), IPOPT's "
            "tiny-step rule, sketch passes capped at "
            "max(1000, N^2) steps before the LU fallback, after a "
            "failed Newton step (or a crawl/stall while infeasible) a least-squares "
            "feasibility restoration on ||c||^2/2 and a reset of multipliers and penalties "
            "(at most 5 per run; status 10 if the constraints are locally infeasible), and a "
            "progress test (status 5 after 50 iterations without a 1% KKT decrease). "
            "'paper': the iteration exactly as analysed (paper shift xi_B + ||H||, passes of "
            "max_inner steps, a failed step ends the run); reproduces the reference code's "
            "iteration counts."),
            check=_choice(("robust", "paper"))),
        "mu_max": Option(1e8, "float\n    Penalty safeguard on mu: beyond it a step with a negative "
                                "merit slope is taken, a non-descent one ends the run (status 8).",
                         check=check_positive),
        "nu_min": Option(1e-8, "float\n    Penalty safeguard on nu (as mu_max, below it).",
                         check=check_positive),
    },
    tol_option="tol",
    test_options={"maxiter": 100, "accuracy": "relative", "rng": 0},
))
