"""Hyperparameter checks (in torch.optim's wording) and small tensor helpers."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def lr_value(lr: Any) -> float:
    """A float or one-element tensor learning rate as a Python float."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        return float(lr.detach().reshape(()).item())
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"lr must be a float or a one-element Tensor, got {type(lr).__name__}")
    return float(lr)


def lr_tensor(lr: Any, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The learning rate as a 0-d tensor (the fused kernels take it so schedulers never recompile)."""
    if isinstance(lr, Tensor):
        return lr.to(dtype=dtype, device=device)
    return torch.tensor(lr, dtype=dtype, device=device)


def check_lr(lr: Any) -> float:
    value = lr_value(lr)
    if not 0.0 <= value < float("inf"):
        raise ValueError(f"Invalid learning rate: {lr} (lr must be finite and >= 0)")
    return value


def check_betas(betas: Any) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair of floats, got {betas!r}")
    for i, beta in enumerate(betas):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta} (betas must be two "
                             f"numbers in [0, 1))")
    return float(betas[0]), float(betas[1])


def check_weight_decay(weight_decay: Any) -> float:
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
        raise TypeError(f"weight_decay must be a float, got {type(weight_decay).__name__}")
    if not 0.0 <= weight_decay < float("inf"):
        raise ValueError(f"Invalid weight_decay value: {weight_decay} (weight_decay must be "
                         f"finite and >= 0)")
    return float(weight_decay)


def check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps must be a float, got {type(eps).__name__}")
    if not 0.0 <= eps < float("inf"):
        raise ValueError(f"Invalid epsilon value: {eps} (eps must be finite and >= 0)")
    return float(eps)


def check_half_eps(eps: Any, params) -> None:
    r"""Reject an ``eps`` that rounds to 0 in float16 when a parameter is float16.

    An Adam-type denominator :math:`\sqrt{\hat v} + \epsilon` is then exactly 0 wherever the
    gradient is 0 or underflows in float16 (below ~6e-8), and the update 0/0 = NaN; Adam's
    default 1e-8 does round to 0. bfloat16 has float32's exponent range and is not affected.
    """
    if (isinstance(eps, float) and eps > 0 and any(p.dtype == torch.float16 for p in params)
            and float(torch.tensor(eps, dtype=torch.float16)) == 0.0):
        raise ValueError(
            f"eps={eps} rounds to 0 in float16: on float16 parameters a zero (or underflowing) "
            f"gradient gives the update 0/0 = NaN; use eps >= 6e-8 (1e-4 is usual for float16) "
            f"or float32 master parameters")


def check_representable(group: dict[str, Any]) -> None:
    """``lr``, ``eps`` and ``weight_decay`` of a parameter group fit every parameter's dtype.

    The kernels pass them to torch as scalar factors of the parameters' dtype; a value beyond
    that dtype's range (e.g. lr = 1e39 on float32, or 1e5 on float16) would overflow to inf
    or end in torch's "value cannot be converted" at the first step. A bool is rejected
    (torch reads ``weight_decay=True`` as a Boolean alpha); an integer becomes a float, so
    that one beyond int64 (2**64) does not reach torch as an int.
    """
    dtypes = {real_view(p).dtype for p in group["params"]
              if p.dtype.is_floating_point or p.dtype.is_complex}
    for name in ("lr", "eps", "weight_decay"):
        value = group.get(name)
        if value is None or isinstance(value, Tensor):
            continue
        if isinstance(value, bool):
            raise TypeError(f"{name} must be a float, got bool")
        if isinstance(value, numbers.Integral):
            try:
                group[name] = value = float(value)
            except OverflowError:
                raise ValueError(f"Invalid {name} value: {value} (beyond float range)") from None
        if not isinstance(value, numbers.Real):
            continue  # the optimizer's own checks name the wrong type
        for dtype in sorted(dtypes, key=lambda d: torch.finfo(d).max):
            limit = torch.finfo(dtype).max
            if abs(value) > limit:
                raise ValueError(f"Invalid {name} value: {value} (the parameters are {dtype}, "
                                 f"whose largest value is {limit:.4g})")


def real_view(t: Tensor) -> Tensor:
    """``view_as_real`` for complex tensors, the tensor itself otherwise."""
    return torch.view_as_real(t) if t.is_complex() else t


@functools.cache
def compiled(fn: Callable) -> Callable:
    """``torch.compile(fn)``, built once per function (the fused kernels).

    torch's default shape policy: the first shape gets a static kernel, later shapes one
    dynamic kernel (static was ≈ 12 % faster on a CPU Lion step).
    """
    return torch.compile(fn)
