"""Registration of ``optkit.zeroth``'s method ``"spsa"`` (imports only optkit.core)."""

from optkit.core.registry import MethodInfo, Option, register
from optkit.core.validate import (
    check_in,
    check_int,
    check_nonnegative,
    check_positive,
    check_probability,
)


def _clip(value, name):
    return None if value is None else check_positive(value, name)


register(MethodInfo(
    name="spsa",
    solver="optkit.zeroth.solver:SPSASolver",
    summary="Zeroth-order SGD with the two-point Gaussian SPSA estimator (MeZO), values only.",
    reference="Malladi et al., Fine-Tuning Language Models with Just Forward Passes, NeurIPS 2023 "
              "(arXiv:2305.17333); Spall, IEEE TAC 37(3), 1992.",
    requires=frozenset({"value"}),
    supports=frozenset({"rng", "float32"}),
    options={
        "maxiter": Option(1000, "int\n    Maximum number of iterations (one SPSA step each).",
                          check=lambda v, n: check_int(v, n, minimum=0)),
        "lr": Option(1e-3, "float\n    Learning rate: x -= lr * d * z.", check=check_nonnegative),
        "eps": Option(1e-3, "float\n    Perturbation size of the finite difference.",
                      check=check_positive),
        "n_directions": Option(1, "int\n    Directions averaged per step (n-SPSA).",
                               check=lambda v, n: check_int(v, n, minimum=1)),
        "estimator": Option("central", "{'central', 'forward'}\n    Two-point central "
                            "(2n values) or forward (n + 1 values) difference.",
                            check=lambda v, n: check_in(v, n, ("central", "forward"))),
        "update": Option("sgd", "{'sgd', 'sign', 'elementwise_sign'}\n    d * z, sign(d) * z "
                         "(ZO-SGD-Sign) or sign(d * z) (ZO-signSGD).",
                         check=lambda v, n: check_in(v, n, ("sgd", "sign", "elementwise_sign"))),
        "momentum": Option(0.0, "float\n    Heavy-ball coefficient in [0, 1).", check=check_probability),
        "distribution": Option("gaussian", "{'gaussian', 'rademacher'}\n    Directions z ~ N(0, I) "
                               "or uniform on {-1, +1}^n (Spall's SPSA).",
                               check=lambda v, n: check_in(v, n, ("gaussian", "rademacher"))),
        "clip": Option(None, "float or None\n    Clip the directional derivative d to [-clip, clip].",
                       check=_clip),
    },
    test_options={"maxiter": 200, "lr": 1e-3},
    converge_options={"maxiter": 3000, "lr": 0.05},
))
