"""Argument checks for the public boundary.

Every check raises ``ValueError`` or ``TypeError`` with a message that names the
argument and says what was expected, so users see *which* input is wrong.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "is_torch_tensor",
    "as_float_vector",
    "as_real_array",
    "check_finite",
    "check_positive",
    "check_nonnegative",
    "check_in",
    "check_int",
    "check_probability",
    "check_interval",
    "check_bool",
    "optional",
    "check_scalar_value",
    "check_same_shape",
    "check_options",
]


def is_torch_tensor(x: Any) -> bool:
    """True for a ``torch.Tensor`` without importing torch when it is not loaded."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def as_float_vector(x: Any, name: str = "x0", *, copy: bool = True):
    """Return ``x`` as a finite 1-D floating array (numpy, or torch kept as torch).

    Integer input is promoted to float64; float32/float64 are kept. A copy is
    returned so that the caller never mutates the user's array.
    """
    if is_torch_tensor(x):
        if x.is_complex():
            raise TypeError(f"{name} must be real, got complex dtype {x.dtype}")
        if not x.is_floating_point():
            x = x.double()
        elif copy:
            x = x.detach().clone()
        if x.ndim == 0:
            x = x.reshape(1)
        if x.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(x.shape)}")
        if not bool(x.isfinite().all()):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
        return x
    try:
        arr = np.array(x, copy=copy)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of real numbers, got {type(x).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be array-like of real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating) or arr.dtype == np.float16:
        arr = arr.astype(np.float64)
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    check_finite(arr, name)
    return arr


def as_real_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a real numpy array (any shape, no copy when possible), or a ``TypeError``
    naming ``name`` for complex, non-numeric and ragged input."""
    try:
        arr = np.asarray(x.detach().cpu() if is_torch_tensor(x) else x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be array-like of real numbers, got {type(x).__name__}") from exc
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be array-like of real numbers, got dtype {arr.dtype}")
    return arr


def check_finite(x: Any, name: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or inf."""
    if is_torch_tensor(x):
        ok = bool(x.isfinite().all())
    else:
        ok = bool(np.all(np.isfinite(np.asarray(x))))
    if not ok:
        raise ValueError(f"{name} must be finite (no NaN or inf)")


def _check_real_scalar(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name} must be finite, got an integer of {value.bit_length()} "
                         f"bits") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(value: Any, name: str) -> float:
    """A finite real number > 0."""
    value = _check_real_scalar(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_nonnegative(value: Any, name: str) -> float:
    """A finite real number >= 0."""
    value = _check_real_scalar(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_probability(value: Any, name: str, *, closed_right: bool = False) -> float:
    """A number in [0, 1) (or [0, 1] with ``closed_right``)."""
    value = _check_real_scalar(value, name)
    hi_ok = value <= 1 if closed_right else value < 1
    if value < 0 or not hi_ok:
        interval = "[0, 1]" if closed_right else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def check_interval(value: Any, name: str, low: float, high: float, *, low_closed: bool = False,
                   high_closed: bool = False) -> float:
    """A finite real number in the interval from ``low`` to ``high`` (open ends by default)."""
    value = _check_real_scalar(value, name)
    ok_low = value >= low if low_closed else value > low
    ok_high = value <= high if high_closed else value < high
    if not (ok_low and ok_high):
        interval = f"{'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """A ``bool`` (not merely truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """An option check that lets ``None`` through and applies ``check`` otherwise."""
    return lambda value, name: None if value is None else check(value, name)


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """An integer (bools rejected), optionally >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_in(value: Any, name: str, allowed: Iterable[Any]) -> Any:
    """``value`` must be one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def check_scalar_value(value: Any, name: str = "fun") -> float:
    """The output of an objective: a real scalar (NaN allowed: the run loop reports it)."""
    if is_torch_tensor(value):
        if value.numel() != 1:
            raise ValueError(f"{name} must return a scalar, got shape {tuple(value.shape)}")
        return float(value.detach().reshape(()).item())
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"{name} must return a scalar, got shape {arr.shape}")
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must return a real scalar, got dtype {arr.dtype}")
    return float(arr.reshape(()))


def check_same_shape(value: Any, like: Any, name: str) -> None:
    """``value`` must have exactly the shape of ``like``."""
    shape = tuple(value.shape)
    expected = tuple(like.shape)
    if shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {shape}")


def check_options(options: Mapping[str, Any] | None, known: Iterable[str], owner: str) -> dict:
    """Reject unknown option names with a ``TypeError`` that lists the known ones."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    known = sorted(known)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for {owner}; known options: {known}")
    return dict(options)
