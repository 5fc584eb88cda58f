"""torch.optim optimizers: Lion-κ, diffGrad, ⊥Grad, and StableMax (with its diagnostics).

``Lion`` (``kappa=`` picks the κ family; ``"sign"`` is Lion), ``DiffGrad``, ``PerpGrad``
(wraps any optimizer class or instance; ``PerpSGD`` and ``PerpAdamW`` fix the base),
``stablemax``, ``log_stablemax``, ``stablemax_cross_entropy``, ``softmax_collapse_fraction``. The names are imported on
first access, so that loading the method registry (``optkit.optim._methods``) does not
import torch.
"""

from optkit.core.lazy import lazy_exports

_EXPORTS = {
    "DiffGrad": "diffgrad", "Lion": "lion", "PerpAdamW": "perpgrad", "PerpGrad": "perpgrad",
    "PerpSGD": "perpgrad",
    "log_stablemax": "_stablemax", "softmax_collapse_fraction": "_stablemax",
    "stablemax": "_stablemax", "stablemax_cross_entropy": "_stablemax", "symlog": "_stablemax",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
