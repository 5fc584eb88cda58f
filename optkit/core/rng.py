"""The one ``rng`` normaliser (SPEC 7: ``None``, an ``int`` or a ``numpy.random.Generator``).

Every stochastic entry point takes ``rng`` and calls :func:`check_rng` (numpy code) or
:func:`check_torch_rng` (torch code, which also accepts a ``torch.Generator``). Same ``rng``,
same result; a fresh ``Generator`` is drawn from once per run, so two runs with one
``Generator`` object continue its stream, as numpy and scipy do.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["check_rng", "check_torch_rng", "draw_seed"]


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``None``, an ``int`` >= 0 or a ``Generator``.

    Raises ``TypeError`` naming ``name`` for anything else (a ``RandomState``, a float, a bool).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if int(rng) < 0:
            raise ValueError(f"{name} must be >= 0 when an int, got {int(rng)}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name} must be None, an int or a numpy.random.Generator, "
                    f"got {type(rng).__name__}")


def draw_seed(rng: np.random.Generator) -> int:
    """One 63-bit integer drawn from ``rng`` (to seed a torch or numba generator)."""
    return int(rng.integers(0, 2**63 - 1))


def check_torch_rng(rng: Any, device: Any = "cpu", name: str = "rng"):
    """A ``torch.Generator`` on ``device`` from ``None``, an ``int``, a numpy or a torch generator.

    A ``torch.Generator`` is returned as given; the others seed a new one on ``device``
    (through :func:`check_rng`, so an ``int`` gives the same stream as in numpy code).
    """
    import torch

    if isinstance(rng, torch.Generator):
        return rng
    try:
        seed = draw_seed(check_rng(rng, name))
    except TypeError:
        raise TypeError(f"{name} must be None, an int, a numpy.random.Generator or a "
                        f"torch.Generator, got {type(rng).__name__}") from None
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen
