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
  integers to a quadrant and :math:`a \in [-\pi/4, \pi/4)`. :math:`\sin` and :math:`\cos`
  are polynomials with the Cephes single-precision coefficients (about 1 ulp). :math:`-2\ln u_1` splits
  :math:`u_1 = 2^e m`, :math:`m \in [\tfrac12, 1)`, in integers and takes
  :math:`\ln m = 2\operatorname{atanh} s`, :math:`s = (m - 1)/(m + 1) \in (-\tfrac13, 0]`,
  from the odd series :math:`s + s^3 P(s^2)` with a cubic :math:`P` (one division, no
  table; at most 3 fp32 half-ulps relative error, against about 9 multiply-adds for
  Cephes ``logf``'s degree-9 polynomial). Both terms of :math:`-2e\ln 2 - 2\ln m` are
  :math:`\ge 0`, so nothing cancels. All integer work runs in 32-bit lanes (numba widens
  integer arithmetic to 64 bits; the ``_u32_op`` intrinsics keep it at 32), so the loops
  vectorize to 16 fp32 lanes on AVX-512; :math:`|z| \le \sqrt{66 \ln 2} \approx 6.8`.
  Why not a ziggurat (Marsaglia & Tsang 2000): its fast path is two table look-ups per
  value, which LLVM emits as ``vgatherdps``/``vpgatherdd``; on the AMD Zen 4 core these
  were measured at ~1.4 cycles per gathered element, and a 256-layer ziggurat pass over
  4.2M parameters took 6.8 ms against 4.1 ms for the Box-Muller of the time (2.2 ms
  without the gathers: the look-ups alone cost more than all of Box-Muller's arithmetic).
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

from optkit.core.backend import numba_threads

# Start numba's threading layer now, leaving torch's intra-op thread count as it was.
numba_threads()

__all__ = ["DISTRIBUTIONS", "axpy_", "axpy_array_", "draw", "key", "parallel_threads"]

DISTRIBUTIONS = ("gaussian", "rademacher")

_FM = {"contract", "nsz", "arcp", "afn"}  # no reassociation: z is rounded before alpha * z
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BLOCK = 1 << 16  # words per parallel task
_PARALLEL_MIN = 1 << 18  # elements from which the kernels use more than one thread
_HALF_PI_2M32 = np.float32(math.pi / 2 / 2.0 ** 32)


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
def _counter(key, m):
    """The counter of word ``m``: ``key + (m + 1) gamma`` (a loop adds ``gamma`` per word)."""
    return key + (np.uint64(m) + np.uint64(1)) * _GOLDEN


@njit(inline="always", fastmath=_FM)
def _word(key, m):
    """Word ``m`` of the stream keyed by ``key``."""
    return _mix(_counter(key, m))


def _u32_op(method):
    """A 32-bit unsigned integer operation as one LLVM instruction (numba widens integer
    arithmetic to 64 bits, which halves the vector lanes of the loops below)."""
    @intrinsic
    def op(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return getattr(builder, method)(args[0], args[1])

        return types.uint32(types.uint32, types.uint32), codegen

    return op


_add32, _sub32, _and32, _or32 = _u32_op("add"), _u32_op("sub"), _u32_op("and_"), _u32_op("or_")
_xor32, _shl32, _shr32 = _u32_op("xor"), _u32_op("shl"), _u32_op("lshr")


@intrinsic
def _i32_to_f32(typingctx, x):
    """The 32 bits read as a signed integer, converted to fp32."""
    def codegen(context, builder, sig, args):
        return builder.sitofp(args[0], ir.FloatType())

    return types.float32(types.uint32), codegen


@intrinsic
def _u32_to_f32(typingctx, x):
    """The 32 bits read as an unsigned integer, converted to fp32 (rounded to nearest)."""
    def codegen(context, builder, sig, args):
        return builder.uitofp(args[0], ir.FloatType())

    return types.float32(types.uint32), codegen


_U32 = np.uint32


# -2 ln u = -2 e ln 2 - 4 atanh(s), u = 2^e m, m in [1/2, 1), s = (m - 1) / (m + 1) in (-1/3, 0];
# atanh(s) = s + s^3 P(s^2), P(x) = sum_k x^k / (2k + 3) replaced by the cubic that fits it by
# least squares at 400 Chebyshev nodes of [0, 1/9] (relative error of ln m below 1.6e-8, a
# quarter of an fp32 ulp). With v = -4s, w = v^2: -4 atanh(s) = v + v w Q(w), Q(w) = P(w/16)/16.
_ATANH_Q = tuple(np.float32(c / 16.0 ** (k + 1)) for k, c in enumerate(
    (0.33333319832876135, 0.2000383542618063, 0.14116978045697198, 0.1343377423032346)))
_MINUS_2LN2 = np.float32(-2.0 * math.log(2.0))


@njit(inline="always", fastmath=_FM, error_model="numpy")
def _minus_2_log(x):
    """``-2 ln x`` for a normal fp32 ``x`` in ``(0, 1]`` (at most ~3 fp32 half-ulps relative
    error; 0 at ``x = 1``): the exponent split off in integers, ``ln m`` by the atanh series
    of the mantissa (one division, a cubic), no table."""
    bits = _f32_as_u32(x)
    e = _sub32(_shr32(bits, _U32(23)), _U32(126))  # the exponent as a two's-complement int32
    m = _u32_as_f32(_or32(_and32(bits, _U32(0x7FFFFF)), _U32(0x3F000000)))  # in [0.5, 1)
    v = (np.float32(4.0) - np.float32(4.0) * m) / (m + np.float32(1.0))  # -4 s, exact numerator
    w = v * v
    q = ((_ATANH_Q[3] * w + _ATANH_Q[2]) * w + _ATANH_Q[1]) * w + _ATANH_Q[0]
    y = _i32_to_f32(e) * _MINUS_2LN2 + ((v * w) * q + v)
    return y if y > np.float32(0.0) else np.float32(0.0)  # x = 1: e = 1, m = 1/2, y ~ 0


@njit(inline="always", fastmath=_FM, error_model="numpy")
def _gaussian_pair(h):
    """Two independent N(0, 1) fp32 values from one 64-bit word (Box-Muller); all integer
    work in 32-bit lanes, the quadrant's signs applied as sign-bit flips."""
    u1 = _u32_to_f32(_U32(h >> np.uint64(32))) * np.float32(2.0 ** -32) + np.float32(2.0 ** -33)
    r = np.float32(math.sqrt(_minus_2_log(u1)))
    # phi = 2 pi lo / 2^32 = (q + t) pi / 2, q the nearest quadrant, t in [-1/2, 1/2): t 2^30 is
    # the low 30 bits of lo read as a signed 30-bit integer, i.e. the int32 lo << 2 over 4
    lo = _U32(h & np.uint64(0xFFFFFFFF))
    q = _shr32(_add32(lo, _U32(1 << 29)), _U32(30))
    a = _i32_to_f32(_shl32(lo, _U32(2))) * _HALF_PI_2M32
    a2 = a * a
    s = ((np.float32(-1.9515295891e-4) * a2 + np.float32(8.3321608736e-3)) * a2
         + np.float32(-1.6666654611e-1)) * a2 * a + a
    c = (((np.float32(2.443315711809948e-5) * a2 + np.float32(-1.388731625493765e-3)) * a2
          + np.float32(4.166664568298827e-2)) * a2 - np.float32(0.5)) * a2 + np.float32(1.0)
    odd = _and32(q, _U32(1)) != _U32(0)  # cos(a + q pi/2), sin(a + q pi/2) from cos a, sin a
    cq = s if odd else c
    sq = c if odd else s
    cq = _u32_as_f32(_xor32(_f32_as_u32(cq), _shl32(_and32(_add32(q, _U32(1)), _U32(2)), _U32(30))))
    sq = _u32_as_f32(_xor32(_f32_as_u32(sq), _shl32(_and32(q, _U32(2)), _U32(30))))
    return r * cq, r * sq


# serial kernels over a range of words (each loop runs from 0 over a slice: LLVM vectorizes
# that form, not a loop from w0) -------------------------------------------------------------

@njit(cache=True, fastmath=_FM, error_model="numpy")
def _gaussian_axpy_words(flat, key, alpha, w0, w1):
    """``flat[2m:2m+2] += alpha * z`` for the words ``m`` in ``[w0, w1)`` (an odd tail takes
    the first value of its word)."""
    n = flat.size
    sub = flat[2 * w0:2 * max(w0, min(w1, n // 2))]
    counter = _counter(key, w0)
    for t in range(sub.size // 2):
        z0, z1 = _gaussian_pair(_mix(counter))
        counter += _GOLDEN
        sub[2 * t] += alpha * z0
        sub[2 * t + 1] += alpha * z1
    if n % 2 == 1 and w0 <= n // 2 < w1:
        z0, _ = _gaussian_pair(_word(key, n // 2))
        flat[n - 1] += alpha * z0


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _gaussian_fill_words(out, key, w0, w1):
    n = out.size
    sub = out[2 * w0:2 * max(w0, min(w1, n // 2))]
    counter = _counter(key, w0)
    for t in range(sub.size // 2):
        z0, z1 = _gaussian_pair(_mix(counter))
        counter += _GOLDEN
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

@njit(parallel=True, cache=True, error_model="numpy")
def _gaussian_axpy_parallel(flat, key, alpha):
    words = (flat.size + 1) // 2
    for t in prange((words + _BLOCK - 1) // _BLOCK):
        _gaussian_axpy_words(flat, key, alpha, t * _BLOCK, (t + 1) * _BLOCK)


@njit(parallel=True, cache=True, error_model="numpy")
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


def key(stream: int) -> np.uint64:
    """``mix(stream)``: the key of the stream numbered ``stream`` (computed in Python integers)."""
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


def axpy_array_(arr: np.ndarray, stream_key: np.uint64, alpha: float, distribution: str) -> None:
    r"""``arr += alpha * z`` in place for the stream of key ``stream_key`` (:func:`key`), ``arr``
    a contiguous 1-D fp32 or fp64 numpy array (the per-call work of :func:`axpy_` without the
    tensor-to-array view and the key, which a caller running three passes computes once).
    """
    a = arr.dtype.type(alpha)
    serial, parallel = _AXPY[distribution]
    if arr.size < _PARALLEL_MIN:  # the common small tensor: no thread bookkeeping
        serial(arr, stream_key, a, 0, arr.size)
        return
    with parallel_threads(arr.size) as threads:
        if threads is None:
            serial(arr, stream_key, a, 0, arr.size)
        else:
            parallel(arr, stream_key, a)


def axpy_(flat: torch.Tensor, stream: int, alpha: float, distribution: str) -> None:
    r"""``flat += alpha * z(stream)`` in place, ``flat`` a contiguous 1-D fp32 or fp64 CPU tensor.

    :math:`z` is drawn in fp32 (cast to fp64 for an fp64 ``flat``) and never stored.
    """
    axpy_array_(flat.detach().numpy(), key(stream), alpha, distribution)


def draw(n: int, stream: int, distribution: str) -> torch.Tensor:
    """``z(stream)``: the first ``n`` elements of the direction, an fp32 CPU tensor."""
    out = np.empty(n, dtype=np.float32)
    serial, parallel = _FILL[distribution]
    with parallel_threads(n) as threads:
        if threads is None:
            serial(out, key(stream), 0, n)
        else:
            parallel(out, key(stream))
    return torch.from_numpy(out)
