"""Registration of the optim methods (imports only optkit.core: no torch at import)."""

from optkit.core.registry import Option, register
from optkit.core.torch_solver import torch_optimizer_method
from optkit.core.validate import check_bool, check_in, check_nonnegative, check_probability

_KAPPAS = ("sign", "l2", "lp", "linf", "sorted", "quadratic", "huber", "tanh", "relativistic",
           "softsign", "nuclear")


def _betas(value, name):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of floats, got {value!r}")
    return tuple(check_probability(b, f"{name}[{i}]") for i, b in enumerate(value))


def _kappa_options(value, name):
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict or None, got {type(value).__name__}")
    return value


_LR_DOC = "float\n    Learning rate."
_WD_DOC = "float\n    Weight decay λ >= 0."

register(torch_optimizer_method(
    "lion", "optkit.optim.lion:Lion",
    summary="Lion / Lion-κ: sign (or ∇κ) of interpolated momentum, decoupled weight decay.",
    reference="Chen et al., Symbolic Discovery of Optimization Algorithms, NeurIPS 2023; "
              "Chen, Liu, Liang, Liu, Lion Secretly Solves Constrained Optimization, ICLR 2024.",
    hyper={
        "lr": Option(1e-4, _LR_DOC, check=check_nonnegative),
        "betas": Option((0.9, 0.99), "(float, float)\n    Interpolation β₁ and momentum β₂, "
                                     "each in [0, 1).", check=_betas),
        "weight_decay": Option(0.0, _WD_DOC + " The iterates stay in ‖x‖_* <= 1/λ.",
                               check=check_nonnegative),
        "kappa": Option("sign", "str\n    The κ family member: " + ", ".join(_KAPPAS) + ".",
                        check=lambda v, n: check_in(v, n, _KAPPAS)),
        "kappa_options": Option(None, "dict or None\n    e, p, weights, scale, method, ns_steps "
                                      "(see optkit.optim.Lion).", check=_kappa_options),
    },
    test_options={"maxiter": 200, "lr": 1e-2},
    optimizer_test_kwargs={"lr": 1e-2},
    converge_options={"lr": 1e-3, "maxiter": 5000},
))

register(torch_optimizer_method(
    "diffgrad", "optkit.optim.diffgrad:DiffGrad",
    summary="diffGrad: Adam with a friction sigmoid(|g_{t-1} - g_t|) on each step.",
    reference="Dubey et al., diffGrad: An Optimization Method for Convolutional Neural "
              "Networks, IEEE TNNLS 31(11), 2020.",
    hyper={
        "lr": Option(1e-3, _LR_DOC, check=check_nonnegative),
        "betas": Option((0.9, 0.999), "(float, float)\n    Adam's β₁, β₂, each in [0, 1).",
                        check=_betas),
        "eps": Option(1e-8, "float\n    Added to sqrt(v̂).", check=check_nonnegative),
        "weight_decay": Option(0.0, _WD_DOC + " Coupled L2 unless decoupled_weight_decay.",
                               check=check_nonnegative),
        "decoupled_weight_decay": Option(False, "bool\n    Decay θ ← (1 − ηλ)θ instead of L2.",
                                         check=check_bool),
    },
    test_options={"maxiter": 200, "lr": 1e-2},
    optimizer_test_kwargs={"lr": 1e-2},
    converge_options={"lr": 0.05, "maxiter": 10000},
))

register(torch_optimizer_method(
    "perp-sgd", "optkit.optim.perpgrad:PerpSGD",
    summary="⊥SGD: SGD (with momentum) on the gradient projected orthogonally to the weights.",
    reference="Prieto, Barsbey, Mediano, Birdal, Grokking at the Edge of Numerical Stability, "
              "ICLR 2025.",
    hyper={
        "lr": Option(1e-3, _LR_DOC, check=check_nonnegative),
        "momentum": Option(0.0, "float\n    SGD's momentum, in [0, 1).", check=check_probability),
        "nesterov": Option(False, "bool\n    Nesterov momentum.", check=check_bool),
        "weight_decay": Option(0.0, _WD_DOC + " (SGD's coupled L2, added after the projection).",
                               check=check_nonnegative),
        "rescale": Option(False, "bool\n    Rescale g⊥ to ‖g‖ (the reference code), not Eq. 12.",
                          check=check_bool),
    },
    test_options={"maxiter": 200, "lr": 1e-3, "momentum": 0.9},
    optimizer_test_kwargs={"lr": 1e-2, "momentum": 0.9},
    converge_options=None,  # ⊥Grad removes the radial part of g: not a minimizer
))

register(torch_optimizer_method(
    "perp-adamw", "optkit.optim.perpgrad:PerpAdamW",
    summary="⊥AdamW: AdamW on the gradient projected orthogonally to the weights.",
    reference="Prieto, Barsbey, Mediano, Birdal, Grokking at the Edge of Numerical Stability, "
              "ICLR 2025.",
    hyper={
        "lr": Option(1e-3, _LR_DOC, check=check_nonnegative),
        "betas": Option((0.9, 0.999), "(float, float)\n    AdamW's β₁, β₂, each in [0, 1).",
                        check=_betas),
        "eps": Option(1e-8, "float\n    AdamW's ε, added to sqrt(v̂).", check=check_nonnegative),
        "weight_decay": Option(0.0, _WD_DOC + " AdamW's decoupled decay (PerpAdamW's default "
                                              "0, not AdamW's 0.01).",
                               check=check_nonnegative),
        "rescale": Option(False, "bool\n    Rescale g⊥ to ‖g‖ (the reference code), not Eq. 12.",
                          check=check_bool),
    },
    test_options={"maxiter": 200, "lr": 1e-2},
    optimizer_test_kwargs={"lr": 1e-2},
    converge_options=None,  # ⊥Grad removes the radial part of g: not a minimizer
))
