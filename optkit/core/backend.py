"""The one array backend layer: numpy or torch (CPU or CUDA) behind ``array_api_compat``.

Algorithms written against the array API standard get their namespace from
:func:`namespace` and never test for torch themselves. The helpers here are the only
places that move data to the host: results and callbacks (:func:`to_numpy`) and the
run loop's stopping checks (:func:`to_float`). A subpackage does not call ``.cpu()``,
``.numpy()`` or ``.item()`` in a hot loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .validate import is_torch_tensor

__all__ = ["namespace", "is_torch_tensor", "to_numpy", "to_float", "device_of", "asarray_like"]


def namespace(*arrays: Any):
    """The array API namespace of ``arrays`` (``array_api_compat``'s numpy or torch wrapper).

    Python scalars and ``None`` are ignored; mixing numpy and torch raises ``TypeError``.
    """
    from array_api_compat import array_namespace

    arrays = [a for a in arrays if a is not None and not isinstance(a, (int, float, complex))]
    if not arrays:
        arrays = [np.empty(0)]
    return array_namespace(*arrays)


def to_numpy(x: Any) -> np.ndarray:
    """A numpy copy of an array or tensor (for results and callbacks: one host transfer)."""
    if is_torch_tensor(x):
        return x.detach().cpu().numpy().copy()
    return np.array(x, copy=True)


def to_float(x: Any) -> float:
    """A Python float from a scalar array or tensor (a host sync on a device tensor)."""
    if is_torch_tensor(x):
        return float(x.detach().reshape(()).item())
    return float(x)


def device_of(x: Any):
    """The device of ``x`` (``"cpu"`` for numpy)."""
    from array_api_compat import device

    return device(x)


def asarray_like(value: Any, like: Any):
    """``value`` as an array of ``like``'s namespace, dtype and device."""
    xp = namespace(like)
    return xp.asarray(value, dtype=like.dtype, device=device_of(like))


def numba_threads() -> int:
    """numba's current thread count, starting its threading layer first if need be, without
    changing torch's intra-op thread count.

    numba's OpenMP layer starts with ``omp_set_num_threads(NUMBA_NUM_THREADS)``; torch's CPU
    build loads the same ``libgomp`` and reads its thread count from that setting, so the
    start silently raised ``torch.get_num_threads()`` (a program that set 1 ran every later
    torch op on all cores). The count torch had is put back. Every module of numba
    ``parallel=True`` kernels calls this when it is imported (once per process).
    """
    import sys

    import numba

    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    threads = numba.get_num_threads()
    if torch is not None and torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
    return threads
