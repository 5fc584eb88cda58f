r"""One-pass numba kernels for the default CPU optimizer steps.

diffGrad's update of one dense, contiguous CPU tensor in a single loop over its elements
(:func:`diffgrad_`, one loop per tensor): read :math:`\theta, g, m, v, g_{t-1}`, write
:math:`\theta, m, v, g_{t-1}`: 9 words of memory traffic per parameter, against ~38 for
the eager kernels' sequence of torch ops. Per element, with the bias corrections
:math:`s = \eta/(1-\beta_1^t)` and :math:`r = 1/\sqrt{1-\beta_2^t}` computed once per
tensor by the caller,

.. math::

    \tilde g &= \pm g \;(+\,\lambda\theta \text{ for coupled L2}), \qquad
    \theta \leftarrow c\,\theta \text{ with } c = 1-\eta\lambda \text{ (decoupled) or } 1 \\
    m &\leftarrow \beta_1 m + (1-\beta_1)\tilde g, \qquad
    v \leftarrow \beta_2 v + (1-\beta_2)\tilde g^2 \\
    \theta &\leftarrow \theta - \frac{s\,m}{(\sqrt v\, r + \epsilon)
        \bigl(1 + e^{-|g_{t-1} - \tilde g|}\bigr)}, \qquad g_{t-1} \leftarrow \tilde g

(:math:`\xi = \sigma(|g_{t-1} - \tilde g|) = 1/(1 + e^{-|g_{t-1} - \tilde g|})`: Dubey et
al., diffGrad, IEEE TNNLS 2020, Eq. 20), the arithmetic in the tensor's own precision.

numba calls libm's scalar ``exp`` (no vector math library without SVML), which kept the
loop scalar and compute-bound (86 ms against 15 ms for 10 × 1000² float32 elements on one
thread, in one measurement); :math:`e^x` for :math:`x \le 0` is therefore
written out as Cephes' ``expf`` / ``exp`` (S. L. Moshier, *Methods and Programs for
Mathematical Functions*, 1989; Cephes Math Library 2.8): :math:`x = n\ln 2 + r` with
:math:`n = \lfloor x\log_2 e + \tfrac12\rfloor` (ln 2 split in two for an exact reduction),
a degree-7 polynomial (float32, ~1 ulp) or the Padé form :math:`1 + 2rP(r^2)/(Q(r^2) - rP(r^2))`
(float64, ~1 ulp) for :math:`e^r`, and :math:`2^n` built in the exponent bits; :math:`x` is
clamped at the smallest normal power (:math:`e^x` below it only ever meets
:math:`1 + e^x = 1`). LLVM then vectorises the whole loop.

The loop is a ``prange`` (numba's parallel gufunc declares its array arguments
``noalias``, without which LLVM's runtime alias checks of five arrays give up vectorising);
the thread count follows ``torch.get_num_threads()`` (one thread below
:data:`PARALLEL_MIN` elements), and starting numba's threading layer leaves torch's count
as it was (:func:`optkit.core.backend.numba_threads`). Compiled on first use per dtype and cached on disk
(``cache=True``). This module compiles numba code: it is imported lazily.
"""

from __future__ import annotations

import math

import llvmlite.ir as ir
import numba
import numpy as np
import torch
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from optkit.core.backend import numba_threads

# Start numba's threading layer now, leaving torch's intra-op thread count as it was.
numba_threads()

__all__ = ["PARALLEL_MIN", "diffgrad_", "threads_for"]

PARALLEL_MIN = 1 << 16  # elements from which a tensor's loop uses more than one thread
# no reassociation, no NaN/inf assumptions: fused multiply-adds and a reciprocal for the division
_FASTMATH = {"contract", "nsz", "arcp"}


@intrinsic
def _i32_as_f32(typingctx, bits):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _i64_as_f64(typingctx, bits):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


# Cephes expf.c (float32)
_F32_LOG2E = np.float32(1.44269504088896341)
_F32_LN2_HI = np.float32(0.693359375)
_F32_LN2_LO = np.float32(-2.12194440e-4)
_F32_MIN_ARG = np.float32(-87.3365448)  # log of the smallest normal float32, 2**-126
_F32_P = tuple(np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                       4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
_F32_HALF = np.float32(0.5)
_F32_ONE = np.float32(1.0)
# Cephes exp.c (float64)
_F64_LOG2E = 1.4426950408889634073599
_F64_LN2_HI = 6.93145751953125e-1
_F64_LN2_LO = 1.42860682030941723212e-6
_F64_MIN_ARG = -708.3964185322641  # log of the smallest normal float64, 2**-1022
_F64_P = (1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1)
_F64_Q = (3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1,
          2.00000000000000000009e0)


@njit(inline="always", fastmath=_FASTMATH)
def _one_plus_exp_f32(x):
    """1 + e^x for float32 x <= 0 (NaN stays NaN)."""
    x = x if not x < _F32_MIN_ARG else _F32_MIN_ARG
    n = np.floor(x * _F32_LOG2E + _F32_HALF)
    r = x - n * _F32_LN2_HI
    r = r - n * _F32_LN2_LO
    p0, p1, p2, p3, p4, p5 = _F32_P
    y = ((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5
    y = y * (r * r) + r + _F32_ONE
    return _F32_ONE + y * _i32_as_f32((np.int32(n) + np.int32(127)) << np.int32(23))


@njit(inline="always", fastmath=_FASTMATH)
def _one_plus_exp_f64(x):
    """1 + e^x for float64 x <= 0 (NaN stays NaN)."""
    x = x if not x < _F64_MIN_ARG else _F64_MIN_ARG
    n = np.floor(x * _F64_LOG2E + 0.5)
    r = x - n * _F64_LN2_HI
    r = r - n * _F64_LN2_LO
    rr = r * r
    p0, p1, p2 = _F64_P
    q0, q1, q2, q3 = _F64_Q
    rp = r * ((p0 * rr + p1) * rr + p2)
    y = 1.0 + 2.0 * (rp / ((((q0 * rr + q1) * rr + q2) * rr + q3) - rp))
    return 1.0 + y * _i64_as_f64((np.int64(n) + np.int64(1023)) << np.int64(52))


def one_plus_exp(x):
    """1 + e^x for x <= 0, in x's precision: in numba-compiled code the vectorisable Cephes
    forms above (chosen by x's type), in Python numpy's ``exp``."""
    return 1 + np.exp(x)


@overload(one_plus_exp, inline="always", fastmath=_FASTMATH)
def _one_plus_exp_overload(x):
    if x == types.float32:
        return lambda x: _one_plus_exp_f32(x)
    if x == types.float64:
        return lambda x: _one_plus_exp_f64(x)
    return None


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _diffgrad_loop(param, grad, exp_avg, exp_avg_sq, prev_grad, beta1, one_minus_beta1, beta2,
                   one_minus_beta2, step_size, inv_bc2_sqrt, eps, grad_sign, coupled,
                   weight_decay, decay_factor):
    for i in prange(param.size):
        theta = param[i]
        g = grad_sign * grad[i]
        if coupled:
            g = g + weight_decay * theta
        m = beta1 * exp_avg[i] + one_minus_beta1 * g
        v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (g * g)
        friction_denominator = one_plus_exp(-abs(prev_grad[i] - g))
        exp_avg[i] = m
        exp_avg_sq[i] = v
        prev_grad[i] = g
        param[i] = decay_factor * theta - step_size * m / (
            (np.sqrt(v) * inv_bc2_sqrt + eps) * friction_denominator)


def threads_for(numel: int) -> int:
    """numba threads for a loop of ``numel`` elements: ``torch.get_num_threads()`` capped by
    numba's pool, one below :data:`PARALLEL_MIN`."""
    if numel < PARALLEL_MIN:
        return 1
    return max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))


def diffgrad_(params, grads, exp_avgs, exp_avg_sqs, prev_grads, steps, *, lr, beta1, beta2,
              eps, weight_decay, decoupled, maximize) -> None:
    r"""One diffGrad step of each tensor, in place (see the module docstring for the maths).

    Parameters
    ----------
    params, grads, exp_avgs, exp_avg_sqs, prev_grads : list of Tensor
        Per parameter: real, contiguous CPU tensors of one dtype, float32 or float64 (complex
        ones as ``view_as_real``); the gradients are only read.
    steps : list of float
        Per parameter, t: this step's count (already incremented).
    lr, beta1, beta2, eps, weight_decay : float
    decoupled, maximize : bool
    """
    coupled = weight_decay != 0 and not decoupled
    decay_factor = 1.0 - lr * weight_decay if decoupled else 1.0
    grad_sign = -1.0 if maximize else 1.0
    previous = current = numba_threads()
    try:
        for tensors, step in zip(zip(params, grads, exp_avgs, exp_avg_sqs, prev_grads), steps):
            arrays = [t.detach().reshape(-1).numpy() for t in tensors]
            if arrays[0].size == 0:
                continue
            threads = threads_for(arrays[0].size)
            if threads != current:
                numba.set_num_threads(threads)
                current = threads
            cast = arrays[0].dtype.type
            step_size = lr / (1.0 - beta1 ** step)
            inv_bc2_sqrt = 1.0 / math.sqrt(1.0 - beta2 ** step)
            _diffgrad_loop(*arrays, cast(beta1), cast(1.0 - beta1), cast(beta2),
                           cast(1.0 - beta2), cast(step_size), cast(inv_bc2_sqrt), cast(eps),
                           cast(grad_sign), coupled, cast(weight_decay), cast(decay_factor))
    finally:
        if current != previous:
            numba.set_num_threads(previous)
