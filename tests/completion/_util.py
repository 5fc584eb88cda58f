"""Shared helpers: the synthetic model of spec §6 and its dense oracle error."""

import numpy as np

from optkit.completion.datasets import low_rank_problem


def problem(m, n, k, p, seed, noise=0.0):
    """Triplets of a rank-k matrix (+ optional Gaussian noise) and the dense truth M."""
    (rows, cols, vals, shape), u, v = low_rank_problem(m, n, k, p, rng=seed)
    if noise:
        vals = vals + noise * np.random.default_rng(seed + 1).standard_normal(vals.size)
    return (rows, cols, vals, shape), u @ v.T


def dense_error(res, M):
    """||U V^T - M||_F / ||M||_F computed densely (independent of optkit's Gram formula)."""
    U, V = (np.asarray(x.cpu() if hasattr(x, "cpu") else x, dtype=np.float64)
            for x in (res.U, res.V))
    return np.linalg.norm(U @ V.T - M) / np.linalg.norm(M)
