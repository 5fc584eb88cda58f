"""Registration of the core's own method: gradient descent with Armijo backtracking."""

from .registry import MethodInfo, Option, register
from .validate import check_int, check_interval, check_nonnegative, check_positive


def _open_unit(value, name):
    return check_interval(value, name, 0.0, 1.0)


def _at_least_one(value, name):
    return check_interval(value, name, 1.0, float("inf"), low_closed=True)


register(MethodInfo(
    name="gd",
    solver="optkit.core.gd:GradientDescent",
    summary="Gradient descent with Armijo backtracking, projected onto box bounds.",
    reference="Armijo, Pacific J. Math. 16(1), 1966; Bertsekas, Nonlinear Programming, §3.3.",
    requires=frozenset({"value", "grad"}),
    supports=frozenset({"bounds", "float32", "torch"}),
    options={
        "maxiter": Option(10000, "int\n    Maximum number of iterations.",
                          check=lambda v, n: check_int(v, n, minimum=0)),
        "gtol": Option(1e-5, "float\n    Stop when the projected gradient's largest entry is <= gtol.",
                       check=check_nonnegative),
        "step0": Option(1.0, "float\n    First trial step.", check=check_positive),
        "step_max": Option(1e10, "float\n    Largest trial step.", check=check_positive),
        "c1": Option(1e-4, "float\n    Armijo sufficient-decrease constant, in (0, 1).", check=_open_unit),
        "shrink": Option(0.5, "float\n    Backtracking factor, in (0, 1).", check=_open_unit),
        "grow": Option(2.0, "float\n    Each iteration's first trial is grow times the last accepted step (>= 1).",
                       check=_at_least_one),
        "max_backtracks": Option(60, "int\n    Backtracks before the line search gives up.",
                                 check=lambda v, n: check_int(v, n, minimum=1)),
    },
    tol_option="gtol",
    test_options={"maxiter": 200},
))
