"""optkit.ot.sinkhorn against POT (sinkhorn_log, emd), closed forms and invariances."""

import subprocess
import sys

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from optkit.ot import cost_matrix, sinkhorn

METHODS = ["sns", "sinkhorn"]


def _problem(n=60, m=None, rng=0):
    rng = np.random.default_rng(rng)
    m = n if m is None else m
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), rng.random((n, m))


def _gauge(f, g, a):
    t = float(a @ f) / float(a.sum())
    return f - t, g + t


def _pot(a, b, C, reg):
    P, log = ot.sinkhorn(a, b, C, reg, method="sinkhorn_log", stopThr=1e-13,
                         numItermax=200000, log=True)
    return P, reg * log["log_u"], reg * log["log_v"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape, reg", [((60, 60), 0.05), ((80, 50), 0.02), ((40, 70), 0.01)])
def test_matches_pot_sinkhorn_log(method, shape, reg):
    a, b, C = _problem(*shape)
    P_ref, f_ref, g_ref = _pot(a, b, C, reg)
    res = sinkhorn(a, b, C, reg, method=method, tol=1e-11, maxiter=20000)
    assert res.success, res.message
    assert np.abs(res.plan - P_ref).sum() <= 1e-8
    assert res.cost == pytest.approx(float((C * P_ref).sum()), rel=1e-8)
    for mine, ref in zip(_gauge(res.f, res.g, a), _gauge(f_ref, g_ref, a)):
        np.testing.assert_allclose(mine, ref, atol=1e-8 * (1 + np.abs(ref).max()))
    # values recomputed from the plan: marginal error, entropic cost, dual ~ primal
    P = res.plan
    err = (np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()) / a.sum()
    assert res.marginal_error == pytest.approx(err, rel=1e-6, abs=1e-15)
    ent = float((C * P).sum() + reg * (P * np.log(P)).sum())
    assert res.ent_reg_cost == pytest.approx(ent, rel=1e-9, abs=1e-12)
    primal = float((C * P).sum() + reg * (P * (np.log(P) - 1)).sum())
    assert abs(primal - res.dual) <= 1e-8
    assert res.ent_reg_cost == pytest.approx(res.dual + reg * a.sum(), rel=1e-8)


def test_reaches_tight_tolerance_where_pot_default_stops_earlier():
    a, b, C = _problem(150, rng=3)
    reg = 0.005
    P_pot = ot.sinkhorn(a, b, C, reg, method="sinkhorn_log")  # stopThr 1e-9 (L2), 1000 its
    pot_err = np.abs(P_pot.sum(1) - a).sum() + np.abs(P_pot.sum(0) - b).sum()
    res = sinkhorn(a, b, C, reg, tol=1e-12)
    assert res.success and res.marginal_error <= 1e-12 < pot_err


def test_sns_and_sinkhorn_agree():
    a, b, C = _problem(70, 90, rng=1)
    r1 = sinkhorn(a, b, C, 0.01, method="sns", tol=1e-11)
    r2 = sinkhorn(a, b, C, 0.01, method="sinkhorn", tol=1e-11, maxiter=50000)
    assert r1.n_newton > 0 and r1.nit < r2.nit
    assert np.abs(r1.plan - r2.plan).sum() <= 1e-8
    for u, v in zip(_gauge(r1.f, r1.g, a), _gauge(r2.f, r2.g, a)):
        np.testing.assert_allclose(u, v, atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_entropic_bias_against_emd(method):
    a, b, C = _problem(50, rng=2)
    lp = ot.emd2(a, b, C)
    for reg in (0.05, 0.01, 0.002):
        res = sinkhorn(a, b, C, reg, method=method, tol=1e-10, maxiter=100000)
        assert res.success
        ha, hb = -(a * np.log(a)).sum(), -(b * np.log(b)).sum()
        assert -1e-9 <= res.cost - lp <= reg * min(ha, hb) + 1e-9


def test_random_assignment_paper_count():
    """Spec §6: n = 500, eta = 1200, seed 0, fixed kappa = 10, no polish: <= 20 + 12
    iterations to err <= 1e-13 (Sinkhorn needs tens of thousands), and the plan is close to
    the LAP permutation."""
    rng = np.random.default_rng(0)
    C = rng.random((500, 500))
    res = sinkhorn(None, None, C, eta=1200, tol=1e-13, options={"adaptive": False, "polish": False})
    assert res.success and res.marginal_error <= 1e-13
    assert res.n_sinkhorn == 20 and res.n_newton <= 12
    rows, cols = linear_sum_assignment(C)
    lp = C[rows, cols].mean()
    assert 0 <= res.cost - lp <= np.log(500) / 1200
    assert res.plan[rows, cols].sum() > 0.5
    # default (adaptive) settings converge in tens of iterations too
    res = sinkhorn(None, None, C, eta=1200)
    assert res.success and res.nit <= 60


def test_dual_monotone_over_sinkhorn_and_newton_steps():
    a, b, C = _problem(80, rng=4)
    res = sinkhorn(a, b, C, 0.005, method="sinkhorn", tol=1e-10, maxiter=5000)
    d = res.trace["fun"]
    assert np.all(np.diff(d) >= -1e-13 * (1 + np.abs(d[1:])))
    res = sinkhorn(a, b, C, 0.005, method="sns", tol=1e-12, options={"polish": False})
    kinds = [r["kind"] for r in res.trace.records]
    d = np.array([r["fun"] for r in res.trace.records if r["kind"] == "newton"])
    assert "newton" in kinds
    assert np.all(np.diff(d) >= -64 * np.finfo(float).eps * (1 + np.abs(d[1:])))


@pytest.mark.parametrize("method", METHODS)
def test_invariances(method):
    a, b, C = _problem(40, 30, rng=5)
    reg = 0.02
    kw = dict(method=method, tol=1e-12, maxiter=50000)
    base = sinkhorn(a, b, C, reg, **kw)
    P = base.plan
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(40), rng.standard_normal(30)
    shifted = sinkhorn(a, b, C + u[:, None] + v[None, :], reg, **kw)
    np.testing.assert_allclose(shifted.plan, P, atol=1e-10)
    scaled = sinkhorn(a, b, 3.0 * C, 3.0 * reg, **kw)
    np.testing.assert_allclose(scaled.plan, P, atol=1e-10)
    for x, y in zip(_gauge(scaled.f, scaled.g, a), _gauge(3 * base.f, 3 * base.g, a)):
        np.testing.assert_allclose(x, y, atol=1e-8)
    pr, pc = rng.permutation(40), rng.permutation(30)
    perm = sinkhorn(a[pr], b[pc], C[np.ix_(pr, pc)], reg, **kw)
    np.testing.assert_allclose(perm.plan, P[np.ix_(pr, pc)], atol=1e-10)
    tr = sinkhorn(b, a, C.T.copy(), reg, **kw)
    np.testing.assert_allclose(tr.plan, P.T, atol=1e-10)
    mass = sinkhorn(5 * a, 5 * b, C, reg, **kw)
    np.testing.assert_allclose(mass.plan, 5 * P, atol=1e-9)
    gauge = sinkhorn(a, b, C, reg, init=(base.f + 1.0, base.g - 1.0), **kw)
    np.testing.assert_allclose(gauge.plan, P, atol=1e-10)


def test_closed_form_1d():
    """Uniform 1-D samples: W_1 = mean |x_(i) - y_(i)|, matched by the entropic cost up to
    its bound eps log n."""
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((100, 1)), rng.standard_normal((100, 1)) + 1.0
    w1 = np.abs(np.sort(x[:, 0]) - np.sort(y[:, 0])).mean()
    reg = 1e-2
    res = sinkhorn(None, None, x=x, y=y, cost="l1", reg=reg)
    assert res.success
    assert 0 <= res.cost - w1 <= reg * np.log(100) + 1e-9


def test_point_cloud_costs():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((20, 3))
    d = x[:, None] - y[None]
    expected = {"sqeuclidean": (d**2).sum(-1), "half_sqeuclidean": 0.5 * (d**2).sum(-1),
                "euclidean": np.sqrt((d**2).sum(-1)), "l1": np.abs(d).sum(-1)}
    for name, C in expected.items():
        np.testing.assert_allclose(cost_matrix(x, y, name), C, rtol=1e-12)
        np.testing.assert_allclose(ot.dist(x, y, metric="sqeuclidean"), expected["sqeuclidean"])
    res = sinkhorn(None, None, x=x, y=y, cost="euclidean", reg=0.1)
    ref = sinkhorn(None, None, expected["euclidean"], 0.1)
    np.testing.assert_allclose(res.plan, ref.plan, atol=1e-12)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")  # POT's log(0)
def test_zero_masses():
    a, b, C = _problem(30, 25, rng=8)
    a[[3, 7]] = 0
    b[[0]] = 0
    a, b = a / a.sum(), b / b.sum()
    res = sinkhorn(a, b, C, 0.02, tol=1e-11)
    P_ref, _, _ = _pot(a, b, C, 0.02)
    assert res.success and np.all(np.isfinite(res.f)) and np.all(np.isfinite(res.g))
    assert np.all(res.plan[[3, 7]] == 0) and np.all(res.plan[:, 0] == 0)
    assert np.abs(res.plan - P_ref).sum() <= 1e-8


def test_float32_cost_and_tiny_reg():
    a, b, C = _problem(50, rng=9)
    C32 = C.astype(np.float32)
    res = sinkhorn(a, b, C32, 0.01, method="sinkhorn")
    assert res.success and res.plan.dtype == np.float32 and res.f.dtype == np.float64
    ref = sinkhorn(a, b, C32.astype(np.float64), 0.01, tol=1e-12)
    assert np.abs(res.plan - ref.plan).sum() <= 1e-4
    # tiny reg: log domain, no NaN; non-convergence is reported, not raised
    res = sinkhorn(a, b, C, 1e-6, method="sinkhorn", maxiter=5)
    assert not res.success and np.isfinite(res.marginal_error) and res.status == 1
    assert "Marginal error" in res.message
    assert np.all(np.isfinite(res.f)) and np.all(np.isfinite(res.plan))
    res = sinkhorn(a, b, C, 1e-5, maxiter=300)
    assert np.isfinite(res.marginal_error) and np.all(np.isfinite(res.f))


@pytest.mark.parametrize("method", METHODS)
def test_torch_cpu_matches_numpy(method):
    a, b, C = _problem(50, 40, rng=10)
    ref = sinkhorn(a, b, C, 0.01, method=method, tol=1e-11, maxiter=20000)
    Ct = torch.from_numpy(C)
    res = sinkhorn(torch.from_numpy(a), torch.from_numpy(b), Ct, 0.01, method=method,
                   tol=1e-11, maxiter=20000)
    assert res.success and isinstance(res.f, torch.Tensor) and isinstance(res.plan, torch.Tensor)
    assert res.plan.dtype == torch.float64 and res.f.device == Ct.device
    assert np.abs(res.plan.numpy() - ref.plan).sum() <= 1e-9
    assert res.cost == pytest.approx(ref.cost, rel=1e-9)
    r32 = sinkhorn(None, None, Ct.float(), 0.01, method=method)
    assert r32.plan.dtype == torch.float32


@pytest.mark.parametrize("method", METHODS)
def test_callback_and_stop_iteration(method):
    a, b, C = _problem(40, rng=13)
    seen = []
    res = sinkhorn(a, b, C, 0.01, method=method, callback=lambda intermediate_result:
                   seen.append(intermediate_result))
    assert res.success and len(seen) == len(res.trace) - 1 == res.nit
    assert [r.fun for r in seen] == list(res.trace["fun"][1:])
    assert [r.nit for r in seen] == list(range(1, res.nit + 1))
    x = seen[-1].x
    np.testing.assert_array_equal(x, np.concatenate([res.f, res.g]))

    def stop(intermediate_result):
        if intermediate_result.nit >= 25:
            raise StopIteration

    res = sinkhorn(a, b, C, 0.01, method=method, callback=stop)
    assert not res.success and res.status == 99 and "callback" in res.message
    assert res.nit == 25 and res.marginal_error == pytest.approx(res.trace["err"][-1])


def test_inputs_not_mutated():
    a, b, C = _problem(20, rng=11)
    copies = [v.copy() for v in (a, b, C)]
    sinkhorn(a, b, C, 0.05)
    for v, c in zip((a, b, C), copies):
        np.testing.assert_array_equal(v, c)


def test_bad_inputs():
    a, b, C = _problem(10, 8, rng=12)
    with pytest.raises(ValueError, match="a must be finite and non-negative"):
        sinkhorn(-a, b, C, 0.1)
    with pytest.raises(ValueError, match="b must be finite"):
        sinkhorn(a, np.where(np.arange(8) == 2, np.nan, b), C, 0.1)
    with pytest.raises(ValueError, match="a must be a non-empty 1-D"):
        sinkhorn(a[:, None], b, C, 0.1)
    with pytest.raises(ValueError, match="sum"):
        sinkhorn(2 * a, b, C, 0.1)
    with pytest.raises(ValueError, match="sum"):
        sinkhorn(0 * a, 0 * b, C, 0.1)
    with pytest.raises(ValueError, match="shape"):
        sinkhorn(a, b, C.T, 0.1)
    with pytest.raises(ValueError, match="C must be 2-D"):
        sinkhorn(a, b, C[0], 0.1)
    with pytest.raises(ValueError, match="C must be finite"):
        sinkhorn(a, b, np.where(C > 0.5, np.inf, C), 0.1)
    for reg in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="reg"):
            sinkhorn(a, b, C, reg)
    with pytest.raises(ValueError, match="tol"):
        sinkhorn(a, b, C, 0.1, tol=0)
    with pytest.raises(ValueError, match="maxiter"):
        sinkhorn(a, b, C, 0.1, maxiter=0)
    with pytest.raises(ValueError, match="method"):
        sinkhorn(a, b, C, 0.1, method="newton")
    with pytest.raises(TypeError, match="reg"):
        sinkhorn(a, b, C, 0.1, eta=10)
    with pytest.raises(TypeError, match="reg"):
        sinkhorn(a, b, C)
    with pytest.raises(TypeError, match="complex"):
        sinkhorn(a, b, C + 1j, 0.1)
    with pytest.raises(TypeError, match="float16"):
        sinkhorn(a, b, C.astype(np.float16), 0.1)
    with pytest.raises(TypeError, match="float32 or float64"):
        sinkhorn(None, None, torch.from_numpy(C).half(), 0.1)
    with pytest.raises(TypeError, match="numpy arrays or both torch"):
        sinkhorn(torch.from_numpy(a), b, C, 0.1)
    with pytest.raises(TypeError, match="kapa"):
        sinkhorn(a, b, C, 0.1, options={"kapa": 3})
    with pytest.raises(TypeError, match="maxiter"):  # an argument, not an SNS option
        sinkhorn(a, b, C, 0.1, options={"maxiter": 3})
    with pytest.raises(ValueError, match="n_init"):   # SNS options do not apply to Sinkhorn
        sinkhorn(a, b, C, 0.1, method="sinkhorn", options={"n_init": 3})
    with pytest.raises(ValueError, match="cost"):     # cost= applies to point clouds only
        sinkhorn(a, b, C, 0.1, cost="l1")
    with pytest.raises(ValueError, match="check_every"):
        sinkhorn(a, b, C, 0.1, check_every=0)
    with pytest.raises(TypeError, match="n_iter"):
        sinkhorn(a, b, C, 0.1, n_iter=3)
    with pytest.raises(ValueError, match="kappa"):
        sinkhorn(a, b, C, 0.1, options={"kappa": 1})
    with pytest.raises(TypeError, match="polish"):
        sinkhorn(a, b, C, 0.1, options={"polish": 1})
    with pytest.raises(TypeError, match="either C or"):
        sinkhorn(a, b, reg=0.1)
    res = sinkhorn(a, b, C, eta=10.0)
    assert res.reg == pytest.approx(0.1) and res.success


def test_import_does_not_load_numba_or_torch():
    code = "import sys, optkit.ot; print('numba' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


@pytest.mark.slow
def test_random_assignment_against_slow_sinkhorn():
    """n = 300, eta = 1200: SNS reaches 1e-12 in tens of iterations, where 20000 Sinkhorn
    sweeps stay above 1e-7; SNS's potentials are a
    fixed point of the Sinkhorn map (one sweep from them keeps the error and the plan)."""
    rng = np.random.default_rng(1)
    C = rng.random((300, 300))
    res = sinkhorn(None, None, C, eta=1200, tol=1e-12)
    assert res.success and res.nit <= 80
    slow = sinkhorn(None, None, C, eta=1200, method="sinkhorn", maxiter=20000)
    assert not slow.success and slow.marginal_error > 1e-7
    fixed = sinkhorn(None, None, C, eta=1200, method="sinkhorn", tol=1e-11, init=(res.f, res.g))
    assert fixed.success and fixed.nit == 1
    assert np.abs(fixed.plan - res.plan).sum() <= 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean", "l1"])
@pytest.mark.parametrize("eta", [100, 1200])
def test_point_clouds_hard_cases(cost, eta):
    """Spec §3.6: 2-D clouds, n = 500, sqeuclid / L2 / L1 with max C = 1 converge to 1e-12."""
    rng = np.random.default_rng(0)
    x, y = rng.random((500, 2)), rng.random((500, 2))
    C = cost_matrix(x, y, cost)
    C /= C.max()
    res = sinkhorn(None, None, C, eta=eta, tol=1e-12, maxiter=3000)
    assert res.success, res.message


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", METHODS)
def test_cuda_matches_numpy(method):
    a, b, C = _problem(300, 200, rng=14)
    ref = sinkhorn(a, b, C, 0.005, method=method, tol=1e-10, maxiter=20000)
    Ct = torch.from_numpy(C).cuda()
    res = sinkhorn(torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), Ct, 0.005,
                   method=method, tol=1e-10, maxiter=20000)
    assert res.success and res.f.device == Ct.device and res.plan.device == Ct.device
    assert np.abs(res.plan.cpu().numpy() - ref.plan).sum() <= 1e-8
