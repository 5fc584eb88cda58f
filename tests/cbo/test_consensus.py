"""The consensus point and the ESS schedule against independent high-precision references."""

import mpmath
import numpy as np
import pytest
from scipy.special import logsumexp

from optkit.cbo import consensus, ess_alpha


def _mp_consensus(X, f, alpha, dps=60):
    """v = sum_i exp(-alpha f_i) X_i / sum_j exp(-alpha f_j) in mpmath, no shift."""
    with mpmath.workdps(dps):
        w = [mpmath.exp(-mpmath.mpf(alpha) * mpmath.mpf(float(fi))) for fi in f]
        s = mpmath.fsum(w)
        return np.array([float(mpmath.fsum(wi * mpmath.mpf(float(x)) for wi, x in zip(w, col)) / s)
                         for col in X.T])


def test_consensus_exact_when_every_weight_underflows():
    rng = np.random.default_rng(0)
    N, d, alpha = 40, 5, 1e5
    X = rng.normal(size=(N, d))
    f = 1e6 + 1e3 * rng.random(N)
    # make the three best particles close so that more than one weight matters
    f[:3] = f.min() - np.array([0.0, 2e-5, 4e-5])
    assert np.all(np.exp(-alpha * f) == 0.0)  # the unshifted formula is 0/0 in float64
    v, w = consensus(X[None], f[None], alpha)
    ref = _mp_consensus(X, f, alpha)
    np.testing.assert_allclose(v[0], ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-15)


def test_consensus_tends_to_best_particle_and_matches_direct_formula():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 30, 4))
    f = rng.random((3, 30))
    v, _ = consensus(X, 1e3 + 1e3 * f, 1e5)  # gaps >= ~1e-3 * 1e5: one-hot weights
    np.testing.assert_array_equal(v, X[np.arange(3), f.argmin(1)])
    alpha = np.array([0.5, 2.0, 7.0])
    direct = np.exp(-alpha[:, None] * f)  # no underflow for f in [0, 1]
    ref = np.einsum("mn,mnd->md", direct / direct.sum(1, keepdims=True), X)
    v, w = consensus(X, f, alpha)
    np.testing.assert_allclose(v, ref, rtol=1e-13)
    np.testing.assert_allclose(np.log(w), -alpha[:, None] * f - logsumexp(-alpha[:, None] * f, 1,
                                                                           keepdims=True),
                               rtol=1e-12)


def test_nonfinite_energies_get_zero_weight():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1, 10, 3))
    f = rng.random((1, 10))
    bad = f.copy()
    bad[0, [1, 4, 7]] = [np.nan, np.inf, -np.inf]
    keep = np.setdiff1d(np.arange(10), [1, 4, 7])
    v, w = consensus(X, bad, 3.0)
    v_ref, _ = consensus(X[:, keep], f[:, keep], 3.0)
    np.testing.assert_allclose(v, v_ref, rtol=1e-14)
    assert np.all(w[0, [1, 4, 7]] == 0)
    v, _ = consensus(X, np.full((1, 10), np.nan), 3.0)
    assert np.all(np.isnan(v))


def test_float32_particles_keep_energy_differences():
    # alpha * f ~ 1e8, where a float32 ulp is 8: the weights must still be computed in float64
    X = np.array([[[0.0], [1.0]]], dtype=np.float32)
    f = np.array([[1000.0, 1000.0 + 1e-5]])
    v, w = consensus(X, f, 1e5)
    assert v.dtype == np.float32
    gap = 1e5 * (f[0, 1] - f[0, 0])  # exact in float64 (Sterbenz), ~1
    ref = np.exp(-gap) / (1 + np.exp(-gap))
    np.testing.assert_allclose(w[0, 1], ref, rtol=1e-12)
    np.testing.assert_allclose(v[0, 0], ref, rtol=1e-6)


def test_consensus_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2, 25, 6))
    f = 1e4 * rng.random((2, 25))
    v_np, w_np = consensus(X, f, np.array([1e-3, 1e-2]))
    v_t, w_t = consensus(torch.tensor(X), torch.tensor(f), np.array([1e-3, 1e-2]))
    np.testing.assert_allclose(v_t.numpy(), v_np, rtol=1e-13)
    np.testing.assert_allclose(w_t.numpy(), w_np, rtol=1e-13)


def test_ess_alpha_hits_target_effective_sample_size():
    rng = np.random.default_rng(4)
    f = np.exp(3 * rng.normal(size=(4, 50)))  # energies over several orders of magnitude
    alpha = ess_alpha(f, eta=0.5)
    logw = -alpha[:, None] * f
    ess = np.exp(2 * logsumexp(logw, 1) - logsumexp(2 * logw, 1))
    np.testing.assert_allclose(ess, 25.0, rtol=1e-6)
    flat = ess_alpha(np.ones((1, 10)), eta=0.5)  # equal energies: J_eff = N for every alpha
    np.testing.assert_allclose(flat, 1e5, rtol=1e-6)
