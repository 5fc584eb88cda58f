r"""Counter-based random directions for the seed trick (numba CPU kernels).

Element :math:`e` of a direction drawn for a 63-bit ``stream`` number (the step's seed of
the seed trick) is a pure function of ``(stream, e)``: no generator state, so the perturbation, its undo and the update
regenerate the same :math:`z` without storing it, in any order, in any number of
threads. The bits come from SplitMix64 used as a counter-based generator (Steele,
Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014): word
:math:`m` is :math:`\operatorname{mix}(k + (m + 1)\gamma)` with
:math:`k = \operatorname{mix}(\text{stream})`, :math:`\gamma` the golden-ratio increment and
``mix`` the SplitMix64 finalizer (the same sequence SplitMix64 produces from state
:math:`k`, which passes BigCrush).

- ``"gaussian"``: word :math:`m` gives elements :math:`2m` and :math:`2m + 1` by the
  Box-Muller transform (Box & Muller, Ann. Math. Statist. 29, 1958) in fp32,
  :math:`r = \sqrt{-2 \ln u_1}`, :math:`(z_{2m}, z_{2m+1}) = (r \cos\phi, r \sin\phi)`,
  with :math:`u_1 = (h_{\mathrm{hi}} + \tfrac12) 2^{-32}` from the high 32 bits and the
  angle :math:`\phi = 2\pi h_{\mathrm{lo}} 2^{-32}` from the low 32 bits, reduced exactly in
  integers to a quadrant and :math:`a \in [-\pi/4, \pi/4)`. :math:`\ln`, :math:`\sin` and
  :math:`\cos` are the Cephes single-precision polynomials (about 1 ulp), written so that
  LLVM vectorizes them; :math:`|z| \le \sqrt{66 \ln 2} \approx 6.8`.
- ``"rademacher"``: bit :math:`b` of word :math:`m` gives element :math:`64m + b`,
  :math:`z = 1 - 2\,\text{bit}` (:math:`\pm 1`).

The kernels either write :math:`z` (fp32) or fuse it into
:math:`\theta \leftarrow \theta + \alpha z` (one read and one write of
:math:`\theta`, no buffer). Both compute :math:`z` from the same polynomial code; under
fast math LLVM may contract the last product of :math:`z` with :math:`\alpha`, so a fused
pass and a written :math:`z` agree to about one ulp of :math:`\alpha z` (bitwise when
:math:`\alpha = 1`). The stream does not depend on the thread count. This module
compiles numba code: it is imported lazily.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import llvmlite.ir as ir
import numba
import numpy as np
import torch
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = ["DISTRIBUTIONS", "axpy_", "draw", "parallel_threads"]

DISTRIBUTIONS = ("gaussian", "rademacher")

_FM = {"contract", "nsz", "arcp", "afn"}  # no reassociation: z is rounded before alpha * z
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BLOCK = 1 << 16  # words per parallel task
_PARALLEL_MIN = 1 << 18  # elements from which the kernels use more than one thread
_HALF_PI_2M30 = np.float32(math.pi / 2 / 2.0 ** 30)


@intrinsic
def _f32_as_u32(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.uint32(types.float32), codegen


@intrinsic
def _u32_as_f32(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.uint32), codegen


@njit(inline="always", fastmath=_FM)
def _mix(x):
    """The SplitMix64 finalizer (a bijection of 64-bit words)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


@njit(inline="always", fastmath=_FM)
def _word(key, m):
    """Word ``m`` of the stream keyed by ``key``."""
    return _mix(key + (np.uint64(m) + np.uint64(1)) * _GOLDEN)


@njit(inline="always", fastmath=_FM)
def _log(x):
    """``ln x`` for a normal fp32 ``x > 0`` (Cephes ``logf``: ``x = 2^e m``, ``m`` in
    ``[sqrt(1/2), sqrt 2)``, a degree-9 polynomial in ``m - 1``)."""
    bits = _f32_as_u32(x)
    e = np.int32((bits >> np.uint32(23)) & np.uint32(0xFF)) - np.int32(126)
    m = _u32_as_f32((bits & np.uint32(0x7FFFFF)) | np.uint32(0x3F000000))  # in [0.5, 1)
    small = m < np.float32(0.70710678)
    e = e - np.int32(small)
    m = m + m if small else m
    f = m - np.float32(1.0)
    f2 = f * f
    y = np.float32(7.0376836292e-2)
    y = y * f + np.float32(-1.1514610310e-1)
    y = y * f + np.float32(1.1676998740e-1)
    y = y * f + np.float32(-1.2420140846e-1)
    y = y * f + np.float32(1.4249322787e-1)
    y = y * f + np.float32(-1.6668057665e-1)
    y = y * f + np.float32(2.0000714765e-1)
    y = y * f + np.float32(-2.4999993993e-1)
    y = y * f + np.float32(3.3333331174e-1)
    y = y * f * f2
    ef = np.float32(e)
    y = y + ef * np.float32(-2.12194440e-4)
    y = y - np.float32(0.5) * f2
    return f + y + ef * np.float32(0.693359375)


@njit(inline="always", fastmath=_FM)
def _gaussian_pair(h):
    """Two independent N(0, 1) fp32 values from one 64-bit word (Box-Muller)."""
    u1 = np.float32(h >> np.uint64(32)) * np.float32(2.0 ** -32) + np.float32(2.0 ** -33)
    r = np.float32(math.sqrt(np.float32(-2.0) * _log(u1)))
    # phi = 2 pi lo / 2^32 = (q + t) pi / 2, q the nearest quadrant, t in [-1/2, 1/2)
    lo = np.uint32(h & np.uint64(0xFFFFFFFF)) + np.uint32(1 << 29)
    q = lo >> np.uint32(30)
    a = np.float32(np.int32(lo & np.uint32((1 << 30) - 1)) - np.int32(1 << 29)) * _HALF_PI_2M30
    a2 = a * a
    s = ((np.float32(-1.9515295891e-4) * a2 + np.float32(8.3321608736e-3)) * a2
         + np.float32(-1.6666654611e-1)) * a2 * a + a
    c = ((np.float32(2.443315711809948e-5) * a2 + np.float32(-1.388731625493765e-3)) * a2
         + np.float32(4.166664568298827e-2)) * a2 * a2 - np.float32(0.5) * a2 + np.float32(1.0)
    odd = (q & np.uint32(1)) != 0  # cos(a + q pi/2), sin(a + q pi/2) from cos a, sin a
    cq = s if odd else c
    sq = c if odd else s
    cq = -cq if (q + np.uint32(1)) & np.uint32(2) else cq
    sq = -sq if q & np.uint32(2) else sq
    return r * cq, r * sq


# serial kernels over a range of words (each loop runs from 0 over a slice: LLVM vectorizes
# that form, not a loop from w0) -------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _gaussian_axpy_words(flat, key, alpha, w0, w1):
    """``flat[2m:2m+2] += alpha * z`` for the words ``m`` in ``[w0, w1)`` (an odd tail takes
    the first value of its word)."""
    n = flat.size
    sub = flat[2 * w0:2 * max(w0, min(w1, n // 2))]
    for t in range(sub.size // 2):
        z0, z1 = _gaussian_pair(_word(key, w0 + t))
        sub[2 * t] += alpha * z0
        sub[2 * t + 1] += alpha * z1
    if n % 2 == 1 and w0 <= n // 2 < w1:
        z0, _ = _gaussian_pair(_word(key, n // 2))
        flat[n - 1] += alpha * z0


@njit(cache=True, fastmath=_FM)
def _gaussian_fill_words(out, key, w0, w1):
    n = out.size
    sub = out[2 * w0:2 * max(w0, min(w1, n // 2))]
    for t in range(sub.size // 2):
        z0, z1 = _gaussian_pair(_word(key, w0 + t))
        sub[2 * t] = z0
        sub[2 * t + 1] = z1
    if n % 2 == 1 and w0 <= n // 2 < w1:
        z0, _ = _gaussian_pair(_word(key, n // 2))
        out[n - 1] = z0


@njit(cache=True, fastmath=_FM)
def _rademacher_axpy_words(flat, key, alpha, w0, w1):
    """``flat[e] += alpha * (1 - 2 bit_e)`` for the elements of the words in ``[w0, w1)``."""
    n = flat.size
    minus = -alpha
    sub = flat[64 * w0:min(64 * w1, n)]
    full = sub.size // 64
    for t in range(full):
        h = _word(key, w0 + t)
        block = sub[64 * t:64 * t + 64]
        for b in range(64):
            block[b] += minus if (h >> np.uint64(b)) & np.uint64(1) else alpha
    if sub.size > 64 * full:
        h = _word(key, w0 + full)
        block = sub[64 * full:]
        for b in range(block.size):
            block[b] += minus if (h >> np.uint64(b)) & np.uint64(1) else alpha


@njit(cache=True, fastmath=_FM)
def _rademacher_fill_words(out, key, w0, w1):
    n = out.size
    sub = out[64 * w0:min(64 * w1, n)]
    for t in range((sub.size + 63) // 64):
        h = _word(key, w0 + t)
        block = sub[64 * t:min(64 * t + 64, sub.size)]
        for b in range(block.size):
            block[b] = np.float32(1.0) - np.float32(2.0) * np.float32(
                (h >> np.uint64(b)) & np.uint64(1))


# parallel drivers: independent tasks of _BLOCK words (the result does not depend on threads) ---

@njit(parallel=True, cache=True)
def _gaussian_axpy_parallel(flat, key, alpha):
    words = (flat.size + 1) // 2
    for t in prange((words + _BLOCK - 1) // _BLOCK):
        _gaussian_axpy_words(flat, key, alpha, t * _BLOCK, (t + 1) * _BLOCK)


@njit(parallel=True, cache=True)
def _gaussian_fill_parallel(out, key):
    words = (out.size + 1) // 2
    for t in prange((words + _BLOCK - 1) // _BLOCK):
        _gaussian_fill_words(out, key, t * _BLOCK, (t + 1) * _BLOCK)


@njit(parallel=True, cache=True)
def _rademacher_axpy_parallel(flat, key, alpha):
    words = (flat.size + 63) // 64
    for t in prange((words + _BLOCK - 1) // _BLOCK):
        _rademacher_axpy_words(flat, key, alpha, t * _BLOCK, (t + 1) * _BLOCK)


@njit(parallel=True, cache=True)
def _rademacher_fill_parallel(out, key):
    words = (out.size + 63) // 64
    for t in prange((words + _BLOCK - 1) // _BLOCK):
        _rademacher_fill_words(out, key, t * _BLOCK, (t + 1) * _BLOCK)


_AXPY = {"gaussian": (_gaussian_axpy_words, _gaussian_axpy_parallel),
         "rademacher": (_rademacher_axpy_words, _rademacher_axpy_parallel)}
_FILL = {"gaussian": (_gaussian_fill_words, _gaussian_fill_parallel),
         "rademacher": (_rademacher_fill_words, _rademacher_fill_parallel)}
_MASK64 = (1 << 64) - 1


def _key(stream: int) -> np.uint64:
    """``mix(stream)``: the stream's key (computed in Python integers)."""
    x = stream & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return np.uint64(x ^ (x >> 31))


@contextmanager
def parallel_threads(n: int):
    """numba's thread count set to torch's (capped by numba's pool) for elements ``n``;
    ``None`` inside when one thread is used (small ``n`` or one torch thread)."""
    threads = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    if threads <= 1 or n < _PARALLEL_MIN:
        yield None
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield threads
    finally:
        numba.set_num_threads(previous)


def axpy_(flat: torch.Tensor, stream: int, alpha: float, distribution: str) -> None:
    r"""``flat += alpha * z(stream)`` in place, ``flat`` a contiguous 1-D fp32 or fp64 CPU tensor.

    :math:`z` is drawn in fp32 (cast to fp64 for an fp64 ``flat``) and never stored.
    """
    arr = flat.detach().numpy()
    a = arr.dtype.type(alpha)
    serial, parallel = _AXPY[distribution]
    if arr.size < _PARALLEL_MIN:  # the common small tensor: no thread bookkeeping
        serial(arr, _key(stream), a, 0, arr.size)
        return
    with parallel_threads(arr.size) as threads:
        if threads is None:
            serial(arr, _key(stream), a, 0, arr.size)
        else:
            parallel(arr, _key(stream), a)


def draw(n: int, stream: int, distribution: str) -> torch.Tensor:
    """``z(stream)``: the first ``n`` elements of the direction, an fp32 CPU tensor."""
    out = np.empty(n, dtype=np.float32)
    serial, parallel = _FILL[distribution]
    with parallel_threads(n) as threads:
        if threads is None:
            serial(out, _key(stream), 0, n)
        else:
            parallel(out, _key(stream))
    return torch.from_numpy(out)
