"""The consensus point of a swarm and the effective-sample-size choice of α (numpy or torch)."""

from __future__ import annotations

import math

from optkit.core.backend import device_of, namespace

__all__ = ["consensus", "ess_alpha", "sqrt_weighted_cov"]

ALPHA_BRACKET = (1e-5, 1e5)


def _f64(a, xp, device):
    return xp.asarray(a, dtype=xp.float64, device=device)


def consensus(X, energies, alpha):
    r"""Weighted consensus point of each swarm, computed stably in float64.

    .. math::
        v_\alpha = \sum_i w_i X^i, \qquad
        w_i = \exp\Big(-\alpha\,(f_i - f_{\min}) - \log \sum_j e^{-\alpha (f_j - f_{\min})}\Big),

    an exact rewriting of :math:`\omega_\alpha(x) = e^{-\alpha f(x)}` normalized (the shift by
    :math:`f_{\min}` cancels), so nothing underflows even when :math:`e^{-\alpha f_i}` is 0 in
    float64 for every particle (Pinnau, Totzeck, Tse, Martin, M3AS 27, 2017).
    Non-finite energies (NaN, ±inf) get weight 0. Pure array code: numpy or torch (any device),
    no host transfer.

    Parameters
    ----------
    X : array, shape (M, N, d)
        Particles of ``M`` swarms (numpy or torch; float32 allowed).
    energies : array, shape (M, N)
        Objective values (converted to float64).
    alpha : float or array, shape (M,)
        Inverse temperature(s), > 0.

    Returns
    -------
    v : array, shape (M, d)
        Consensus points, dtype of ``X``. A swarm without any finite energy gets NaN.
    weights : array, shape (M, N)
        The float64 weights :math:`w_i` (rows sum to 1).
    """
    xp = namespace(X)
    dev = device_of(X)
    E = _f64(energies, xp, dev)
    a = _f64(alpha, xp, dev)
    a = xp.reshape(a, (-1, 1)) if a.ndim else a
    finite = xp.isfinite(E)
    Ef = xp.where(finite, E, math.inf)
    fmin = xp.min(Ef, axis=1, keepdims=True)
    fmin = xp.where(xp.isfinite(fmin), fmin, 0.0)
    w = xp.where(finite, xp.exp(-a * (Ef - fmin)), 0.0)
    # the best finite particle has weight exp(0) = 1, so the sum is >= 1 when any is finite;
    # a row without finite energy gets NaN weights, on purpose
    total = xp.sum(w, axis=1, keepdims=True)
    w = w / xp.where(total > 0, total, math.nan)
    v = xp.matmul(w[:, None, :], xp.astype(X, xp.float64))[:, 0, :]
    return xp.astype(v, X.dtype), w


def ess_alpha(energies, eta=0.5, bracket=ALPHA_BRACKET, n_bisect=40):
    r"""The α with effective sample size :math:`J_{\rm eff}(\alpha) = \eta N`, per swarm.

    :math:`J_{\rm eff}(\alpha) = (\sum_i \omega_i)^2 / \sum_i \omega_i^2` is non-increasing in α
    (:math:`\tfrac{d}{d\alpha}\log J_{\rm eff} = 2(E_{2\alpha}[f] - E_\alpha[f]) \le 0`), so
    bisection on :math:`\log\alpha` in ``bracket`` is well defined; the end points are returned
    when the target lies outside (Carrillo, Hoffmann, Stuart, Vaes, Stud. Appl. Math. 148, 2022).
    Non-finite energies are excluded from :math:`N`. Array code, no host transfer.

    Parameters
    ----------
    energies : array, shape (M, N)
    eta : float
        Target fraction :math:`\eta \in (0, 1]`.

    Returns
    -------
    alpha : array, shape (M,), float64
    """
    xp = namespace(energies)
    dev = device_of(energies)
    E = _f64(energies, xp, dev)
    finite = xp.isfinite(E)
    target = eta * xp.sum(xp.astype(finite, xp.float64), axis=1)
    # the weights exp(-alpha (f - f_min)) of consensus(), shifted once: J_eff is shift-free
    Ef = xp.where(finite, E, math.inf)
    fmin = xp.min(Ef, axis=1, keepdims=True)
    gap = xp.where(finite, Ef - xp.where(xp.isfinite(fmin), fmin, 0.0), math.inf)
    lo = xp.full((E.shape[0],), math.log(bracket[0]), dtype=xp.float64, device=dev)
    hi = xp.full((E.shape[0],), math.log(bracket[1]), dtype=xp.float64, device=dev)
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        w = xp.exp(-xp.exp(mid)[:, None] * gap)
        s1, s2 = xp.sum(w, axis=1), xp.sum(w * w, axis=1)
        too_peaked = s1 * s1 < target * s2
        hi = xp.where(too_peaked, mid, hi)
        lo = xp.where(too_peaked, lo, mid)
    return xp.exp(0.5 * (lo + hi))


def sqrt_weighted_cov(D, w):
    r"""Symmetric square root of :math:`C = \sum_i w_i D_i D_i^\top` per swarm, float64, (M, d, d).

    ``D`` (M, N, d) are deviations from the consensus, ``w`` (M, N) the consensus weights.
    """
    xp = namespace(D)
    Dw = xp.astype(D, xp.float64)
    lam, U = xp.linalg.eigh(xp.matmul(xp.matrix_transpose(Dw * w[:, :, None]), Dw))
    root = xp.sqrt(xp.where(lam > 0, lam, 0.0))
    return xp.matmul(U * root[:, None, :], xp.matrix_transpose(U))
