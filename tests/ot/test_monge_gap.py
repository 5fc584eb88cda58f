"""Monge gap against Gaussian closed forms (spec §5.4), POT and finite differences."""

import numpy as np
import ot
import pytest
import torch
from scipy.linalg import sqrtm

from optkit.ot import cost_matrix, fit_map, monge_gap

M1 = np.zeros(2)
S1 = np.array([[1.0, 0.5], [0.5, 1.0]])
M2 = np.array([1.0, -0.5])
S2 = np.diag([0.5, 2.0])
R90 = np.array([[0.0, -1.0], [1.0, 0.0]])


def _psd_sqrt(S):
    return np.real(sqrtm(S))


def _brenier():
    r1 = _psd_sqrt(S1)
    ir1 = np.linalg.inv(r1)
    return ir1 @ _psd_sqrt(r1 @ S2 @ r1) @ ir1


def _w2_sq(m, S):
    r1 = _psd_sqrt(S1)
    return float(np.sum((M1 - m) ** 2) + np.trace(S1 + S - 2 * _psd_sqrt(r1 @ S @ r1)))


def _affine_gap(W, c):
    """Closed-form Monge gap of T x = W x + c from mu (spec §5.4)."""
    IW = np.eye(2) - W
    move = float(np.sum((IW @ M1 - c) ** 2) + np.trace(IW @ S1 @ IW.T))
    return move - _w2_sq(W @ M1 + c, W @ S1 @ W.T)


def _rotated_map():
    return _psd_sqrt(S2) @ R90 @ np.linalg.inv(_psd_sqrt(S1))


def test_closed_forms_of_the_protocol():
    A = _brenier()
    np.testing.assert_allclose(A, [[0.8043, -0.2806], [-0.2806, 1.5335]], atol=1e-4)
    assert _w2_sq(M2, S2) == pytest.approx(1.6356, abs=1e-4)
    assert _affine_gap(A, M2) == pytest.approx(0.0, abs=1e-10)
    WR = _rotated_map()
    np.testing.assert_allclose(WR @ S1 @ WR.T, S2, atol=1e-12)   # pushes mu to nu too
    assert _affine_gap(WR, M2) == pytest.approx(3.75, abs=0.01)


def _samples(n=256, rng=0):
    rng = np.random.default_rng(rng)
    return rng.multivariate_normal(M1, S1, size=n)


def _lp_gap(x, y):
    C = cost_matrix(x, y)
    n = x.shape[0]
    w = np.full(n, 1 / n)
    cost, log = ot.emd2(w, w, C, numItermax=10**7, log=True)
    assert log["result_code"] == 1
    return float(np.trace(C) / n - cost)


def test_unit_checks_against_closed_forms():
    """Spec §5.4 fast checks, n = 256, tol 1e-6."""
    x = _samples()
    n = x.shape[0]
    A, WR = _brenier(), _rotated_map()
    y_star, y_rot = x @ A.T + M2, x @ WR.T + M2
    eps_star = 0.05 * float(np.std(cost_matrix(x, y_star)))
    gap_star = monge_gap(x, y_star)
    assert eps_star * np.log(n) <= gap_star <= 2 * eps_star * np.log(n) + 1e-4
    eps_rot = 0.05 * float(np.std(cost_matrix(x, y_rot)))
    gap_rot = monge_gap(x, y_rot)
    assert gap_rot - eps_rot * np.log(n) >= 0.5 * _affine_gap(WR, M2)
    assert _lp_gap(x, y_star) <= 1e-10
    assert _lp_gap(x, y_rot) > 0


@pytest.mark.parametrize("cost", ["sqeuclidean", "half_sqeuclidean", "euclidean", "l1"])
def test_matches_pot_entropic_cost(cost):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((60, 2)), rng.standard_normal((60, 2)) + 0.5
    C = cost_matrix(x, y, cost)
    reg = 0.2 * C.std()
    w = np.full(60, 1 / 60)
    P = ot.sinkhorn(w, w, C, reg, method="sinkhorn_log", stopThr=1e-12, numItermax=5000)
    w_eps = float((C * P).sum() + reg * (P * np.log(P)).sum())
    gap = monge_gap(x, y, cost, reg=reg, tol=1e-11)
    assert gap == pytest.approx(np.trace(C) / 60 - w_eps, abs=1e-8)
    assert monge_gap(x, y, cost, reg=2 * reg, tol=1e-11) >= 2 * reg * np.log(60) - 1e-9


def test_torch_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((20, 2)))
    y0 = torch.from_numpy(rng.standard_normal((20, 2)))
    y = y0.clone().requires_grad_(True)
    gap = monge_gap(x, y, reg=0.3, tol=1e-12)
    gap.backward()
    assert gap.dtype == torch.float64
    h = 1e-6
    for i, k in [(0, 0), (3, 1), (11, 0), (19, 1)]:
        yp, ym = y0.clone(), y0.clone()
        yp[i, k] += h
        ym[i, k] -= h
        fd = (float(monge_gap(x, yp, reg=0.3, tol=1e-13))
              - float(monge_gap(x, ym, reg=0.3, tol=1e-13))) / (2 * h)
        assert float(y.grad[i, k]) == pytest.approx(fd, rel=1e-5, abs=1e-7)
    # the numpy and torch faces agree
    assert float(gap.detach()) == pytest.approx(monge_gap(x.numpy(), y0.numpy(), reg=0.3, tol=1e-12),
                                       abs=1e-10)


def test_bad_inputs():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="same shape"):
        monge_gap(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        monge_gap(np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="reg"):
        monge_gap(np.ones((5, 2)), np.zeros((5, 2)), reg=0.0)
    with pytest.raises(ValueError, match="cost"):
        monge_gap(np.ones((5, 2)), np.zeros((5, 2)), cost="cosine")
    with pytest.raises(TypeError, match="source"):
        fit_map(torch.nn.Linear(2, 2), np.zeros((5, 2)), torch.zeros(5, 2), maxiter=1)
    with pytest.raises(ValueError, match="batch_size"):
        fit_map(torch.nn.Linear(2, 2), torch.zeros(5, 2), torch.zeros(5, 2), batch_size=1)
    with pytest.raises(ValueError, match="cost"):
        fit_map(torch.nn.Linear(2, 2), torch.zeros(5, 2), torch.zeros(5, 2), cost="cosine")
    with pytest.raises(TypeError, match="rng"):
        fit_map(torch.nn.Linear(2, 2), torch.zeros(5, 2), torch.zeros(5, 2), rng=0.5)
    with pytest.raises(TypeError, match="n_iter"):
        fit_map(torch.nn.Linear(2, 2), torch.zeros(5, 2), torch.zeros(5, 2), n_iter=1)


def _small_fit(**kw):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    src, tgt = torch.randn(64, 2, dtype=torch.float64), torch.randn(64, 2, dtype=torch.float64) + 1
    return fit_map(model.double(), src, tgt, batch_size=16, optimizer=torch.optim.SGD(
        model.parameters(), lr=0.1), **{"maxiter": 4, **kw})


def test_fit_map_runs_on_the_core_loop():
    from scipy.optimize import OptimizeResult

    from optkit.ot import FitMapResult

    res = _small_fit(rng=0)
    assert isinstance(res, FitMapResult) and isinstance(res, OptimizeResult)
    assert res.nit == 4 and res.nfev == 5 and res.status == 1 and res.success is False
    assert list(res.trace["nit"]) == [0, 1, 2, 3, 4] and "gap" in res.trace.keys()
    np.testing.assert_array_equal(
        res.x, torch.nn.utils.parameters_to_vector(res.model.parameters()).detach())
    same, other = _small_fit(rng=0), _small_fit(rng=1)
    np.testing.assert_array_equal(res.x, same.x)
    assert not np.array_equal(res.x.numpy(), other.x.numpy())
    gen = torch.Generator().manual_seed(3)
    assert _small_fit(rng=gen).nit == 4


def test_fit_map_averages_the_last_steps():
    seen = []
    res = _small_fit(rng=0, average=2, callback=lambda intermediate_result: seen.append(
        intermediate_result.x))
    np.testing.assert_allclose(res.x, (seen[-1] + seen[-2]) / 2, rtol=1e-12)


def _gaussian(mean, cov):
    L = torch.from_numpy(np.linalg.cholesky(cov)).float()
    m = torch.from_numpy(mean).float()

    def draw(size, generator):
        return torch.randn(size, 2, generator=generator) @ L.T + m

    return draw


def _fit(W0, lam, rng=0):
    torch.manual_seed(rng)
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(W0).float())
        model.bias.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    res = fit_map(model, _gaussian(M1, S1), _gaussian(M2, S2), lam=lam, fit_reg=0.5,
                  maxiter=1000, batch_size=128, optimizer=opt, rng=torch.Generator().manual_seed(rng), average=200)
    model = res.model
    return model.weight.detach().double().numpy(), model.bias.detach().double().numpy(), res.trace


@pytest.mark.slow
@pytest.mark.parametrize("start", ["identity", "r90"])
def test_fit_map_recovers_brenier_map(start):
    """Spec §5.4 protocol: affine model, lambda = 1, from W = I and W = R90."""
    A = _brenier()
    W, c, trace = _fit(np.eye(2) if start == "identity" else R90, lam=1.0)
    assert np.linalg.norm(W - A) / np.linalg.norm(A) <= 0.05
    assert np.linalg.norm(c - M2) <= 0.1
    assert abs(W[0, 1] - W[1, 0]) <= 0.05
    assert np.all(np.isfinite(trace["fun"]))


@pytest.mark.slow
def test_fit_map_without_gap_keeps_a_non_optimal_push_forward():
    """Control: lambda = 0 from R90 fits the push-forward but not the Brenier map."""
    A = _brenier()
    W, c, _ = _fit(R90, lam=0.0)
    assert np.linalg.norm(W - A) / np.linalg.norm(A) >= 0.5
    assert np.linalg.norm(W @ M1 + c - M2) <= 0.1
    assert np.abs(W @ S1 @ W.T - S2).max() <= 0.1
