r"""StableMax, its cross-entropy, and the Softmax Collapse diagnostic.

L. Prieto, M. Barsbey, P. A. M. Mediano, T. Birdal, "Grokking at the Edge of Numerical
Stability", ICLR 2025, arXiv 2501.04697: Def. 3 (Softmax Collapse), Def. 4 (StableMax).

.. math::

    s(x) = \begin{cases} x + 1 & x \ge 0 \\ 1/(1 - x) & x < 0 \end{cases}, \qquad
    \operatorname{StableMax}(z)_i = \frac{s(z_i)}{\sum_j s(z_j)}
    = \operatorname{softmax}(\operatorname{symlog}(z))_i,

with symlog(x) = sign(x)·log1p(abs(x)) (since log s(x) = symlog(x)); so the fused, stable
softmax kernels do the work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["log_stablemax", "softmax_collapse_fraction", "stablemax",
           "stablemax_cross_entropy", "symlog"]


def symlog(x: Tensor) -> Tensor:
    r"""sign(x)·log1p(abs(x)) = log s(x), with the true derivative 1/(1 + abs(x)) everywhere.

    Each branch's argument is clamped at 0, so autograd gives 1 at x = 0 (the plain
    ``sign(x) * log1p(abs(x))`` gives 0 there and stalls a zero-initialised head) and no
    NaN at x = ±1 (which ``where(x >= 0, log1p(x), -log1p(-x))`` produces).
    """
    return torch.where(x >= 0, torch.log1p(x.clamp_min(0)), -torch.log1p((-x).clamp_min(0)))


def _s(x: Tensor) -> Tensor:
    return torch.where(x >= 0, x + 1, 1 / (1 - x.clamp_max(0)))


def stablemax(input: Tensor, dim: int = -1, *, dtype: torch.dtype | None = None) -> Tensor:
    """StableMax along ``dim``: s(z)/Σ s(z) = softmax(symlog(z)) (optionally cast to ``dtype``)."""
    x = input if dtype is None else input.to(dtype)
    return torch.softmax(symlog(x), dim=dim)


def log_stablemax(input: Tensor, dim: int = -1, *, dtype: torch.dtype | None = None) -> Tensor:
    """log StableMax along ``dim``: log_softmax(symlog(z))."""
    x = input if dtype is None else input.to(dtype)
    return torch.log_softmax(symlog(x), dim=dim)


def stablemax_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                            ignore_index: int = -100, reduction: str = "mean",
                            label_smoothing: float = 0.0, *,
                            dtype: torch.dtype | None = None) -> Tensor:
    """Cross-entropy of StableMax probabilities (StCE), arguments as ``F.cross_entropy``.

    Equals ``F.cross_entropy(symlog(input.to(dtype)), target, ...)``. ``dtype`` defaults
    to the input's, at least fp32 (the paper's code and HRM use fp64).
    """
    if not isinstance(input, Tensor) or not input.is_floating_point():
        raise TypeError("input must be a floating-point tensor")
    if dtype is None:
        dtype = torch.promote_types(input.dtype, torch.float32)
    if weight is not None:
        weight = weight.to(dtype)
    return F.cross_entropy(symlog(input.to(dtype)), target, weight=weight,
                           ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)


@torch.no_grad()
def softmax_collapse_fraction(logits: Tensor, target: Tensor | None = None, *, dim: int = -1,
                              dtype: torch.dtype | None = None, kind: str = "softmax") -> Tensor:
    r"""Fraction of rows in Softmax Collapse (Def. 3): the normaliser rounds to the top term.

    For ``kind="softmax"`` a row collapses when Σ_k exp(z_k − max z) == 1 exactly in
    ``dtype`` (default: the logits' dtype), so the top class gets probability exactly 1
    and its loss gradient is exactly 0. ``kind="stablemax"``: Σ_k s(z_k) == s(max z).
    With ``target``, a row counts only if its maximum is the target class. Returns a 0-d
    tensor (the reference code's logger, as a fraction of all rows).
    """
    if kind not in ("softmax", "stablemax"):
        raise ValueError(f"kind must be 'softmax' or 'stablemax', got {kind!r}")
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point tensor")
    z = logits.to(dtype or logits.dtype).movedim(dim, -1)
    z = z.reshape(-1, z.shape[-1])
    top, arg = z.max(dim=-1)
    if kind == "softmax":
        collapsed = torch.exp(z - top[:, None]).sum(dim=-1) == 1
    else:
        collapsed = _s(z).sum(dim=-1) == _s(top)
    if target is not None:
        collapsed &= arg == target.reshape(-1).to(arg.device)
    return collapsed.to(torch.float32).mean()
