"""POT's own sinkhorn tests (PythonOT/POT, test/test_bregman.py, at aed01202) run against optkit.

Each test below is one of POT's ``test_sinkhorn*`` cases with ``ot.sinkhorn``/``ot.sinkhorn2``
replaced by ``optkit.ot.compat`` (POT's call shapes) or ``optkit.ot.sinkhorn`` (POT's argument
names), and POT itself as the oracle where POT's test compared two of its own variants. Adapted:

- POT's variants that optkit does not have (``sinkhorn_stabilized``,
  ``sinkhorn_epsilon_scaling``, ``greenkhorn``) must raise ``ValueError``; where POT compared them
  with ``sinkhorn``, optkit's result is compared with POT's ``sinkhorn_log`` instead.
- ``reg=0`` (POT: a NaN warning) is a ``ValueError`` naming ``reg``.
- The several-``b`` cases (``test_sinkhorn_multi_b``, ``test_sinkhorn_variants_multi_b``,
  ``test_sinkhorn2_variants_multi_b``, ``test_sinkhorn_variants_log_multib``) run through
  optkit's batches (:mod:`optkit.ot.batch`).
- The empirical (point-cloud) cases (``test_empirical_sinkhorn``, ``test_lazy_empirical_sinkhorn``,
  ``test_empirical_sinkhorn_divergence`` and its gradient and warm-start cases) run through
  ``optkit.ot.compat.empirical_*``, on numpy and torch; gradients are compared with POT's
  autodiff (mass gradients up to the constant of the potentials' gauge).
- Left out: barycenters, unmixing, screenkhorn, the geomloss and Nyström wrappers and the TF/JAX
  backends (not part of ``sinkhorn``).
"""

import warnings
from itertools import product

import numpy as np
import ot
import pytest
import torch

from optkit.ot import compat, sinkhorn

NOT_IN_OPTKIT = ["sinkhorn_stabilized", "sinkhorn_epsilon_scaling", "greenkhorn"]


def _cloud(n, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 2)
    return x, ot.utils.unif(n), ot.dist(x, x)


@pytest.mark.parametrize("verbose, warn", product([True, False], [True, False]))
def test_sinkhorn(verbose, warn, capsys):
    x, u, M = _cloud(100)
    G = compat.sinkhorn(u, u, M, 1, stopThr=1e-10, verbose=verbose, warn=warn)
    np.testing.assert_allclose(u, G.sum(1), atol=1e-05)
    np.testing.assert_allclose(u, G.sum(0), atol=1e-05)
    assert ("Err" in capsys.readouterr().out) == verbose
    with pytest.warns(UserWarning):
        compat.sinkhorn(u, u, M, 1, stopThr=0, numItermax=1)
    with pytest.warns(UserWarning, match="did not converge"):  # the facade warns too
        res = sinkhorn(u, u, M, 1, stopThr=0, numItermax=1)
    assert not res.success


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", *NOT_IN_OPTKIT])
def test_convergence_warning(method):
    n = 100
    a1 = ot.datasets.make_1D_gauss(n, m=30, s=10)
    a2 = ot.datasets.make_1D_gauss(n, m=40, s=10)
    M = ot.utils.dist0(n)
    if method in NOT_IN_OPTKIT:
        with pytest.raises(ValueError, match="method"):
            compat.sinkhorn(a1, a2, M, 1.0, method=method, stopThr=0, numItermax=1)
        return
    with pytest.warns(UserWarning):
        compat.sinkhorn(a1, a2, M, 1.0, method=method, stopThr=0, numItermax=1)
    with pytest.warns(UserWarning):
        compat.sinkhorn2(a1, a2, M, 1, method=method, stopThr=0, numItermax=1, warn=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.sinkhorn2(a1, a2, M, 1, method=method, stopThr=0, numItermax=1, warn=False)
        sinkhorn(a1, a2, M, 1, method=method, stopThr=0, numItermax=1, warn=False)


def test_not_implemented_method():
    rng = np.random.RandomState(42)
    a1, a2 = rng.rand(2, 100)
    a1, a2 = a1 / a1.sum(), a2 / a2.sum()
    M = ot.utils.dist0(100)
    with pytest.raises(ValueError, match="method"):
        compat.sinkhorn(a1, a2, M, 0.01, method="new_method")
    with pytest.raises(ValueError, match="method"):
        compat.sinkhorn2(a1, a2, M, 0.01, method="new_method")
    with pytest.raises(ValueError, match="method"):
        sinkhorn(a1, a2, M, 0.01, method="new_method")


def test_reg_zero_is_an_error():
    """POT's test_nan_warning: reg=0 gives NaNs and a warning in POT, a ValueError here."""
    n = 100
    a1 = ot.datasets.make_1D_gauss(n, m=30, s=10)
    a2 = ot.datasets.make_1D_gauss(n, m=40, s=10)
    with pytest.raises(ValueError, match="reg"):
        compat.sinkhorn(a1, a2, ot.utils.dist0(n), 0, warn=False)


def test_sinkhorn_stabilization():
    """POT compares sinkhorn_log with sinkhorn_stabilized at reg=1e-5 on dist0 (values up to
    99^2); optkit's SNS against POT's sinkhorn_log there, as in POT's test (atol 1e-6)."""
    n = 100
    a1 = ot.datasets.make_1D_gauss(n, m=30, s=10)
    a2 = ot.datasets.make_1D_gauss(n, m=40, s=10)
    M = ot.utils.dist0(n)
    loss1 = ot.sinkhorn2(a1, a2, M, 1e-5, method="sinkhorn_log")
    loss2 = compat.sinkhorn2(a1, a2, M, 1e-5, method="sns", warn=False)
    np.testing.assert_allclose(loss1, loss2, atol=1e-06)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_sinkhorn_multi_b(method):
    rng = np.random.RandomState(0)
    x = rng.randn(10, 2)
    u = ot.utils.unif(10)
    b = rng.rand(10, 3)
    b = b / np.sum(b, 0, keepdims=True)
    M = ot.dist(x, x)
    loss0 = compat.sinkhorn(u, b, M, 0.1, method=method, stopThr=1e-10)
    loss = [compat.sinkhorn2(u, b[:, k], M, 0.1, method=method, stopThr=1e-10) for k in range(3)]
    np.testing.assert_allclose(loss0, loss, atol=1e-4)


def test_sinkhorn_backends():
    _, a, _ = _cloud(100)
    rng = np.random.RandomState(0)
    x, y = rng.randn(100, 2), rng.randn(100, 2)
    M = ot.dist(x, y)
    G = compat.sinkhorn(a, a, M, 1)
    Gb = compat.sinkhorn(torch.from_numpy(a), torch.from_numpy(a), torch.from_numpy(M), 1)
    np.testing.assert_allclose(G, Gb.numpy(), atol=1e-12)
    np.testing.assert_allclose(G, ot.sinkhorn(a, a, M, 1, method="sinkhorn_log"), atol=1e-8)
    value = compat.sinkhorn2(torch.from_numpy(a), torch.from_numpy(a), torch.from_numpy(M), 1)
    assert float(value) == pytest.approx(float((M * G).sum()), rel=1e-10)


def test_sinkhorn2_gradients():
    """POT checks the gradient shapes; here also their values, against POT's autodiff."""
    rng = np.random.RandomState(0)
    x, y = rng.randn(100, 2), rng.randn(100, 2)
    a = ot.utils.unif(100)
    M = ot.dist(x, y)
    mine, pots = [], []
    for fn, out in ((compat.sinkhorn2, mine), (ot.sinkhorn2, pots)):
        a1, b1, M1 = (torch.tensor(v, requires_grad=True) for v in (a, a, M))
        kw = {"method": "sinkhorn_log", "stopThr": 1e-13, "numItermax": 10000}
        fn(a1, b1, M1, 1, **kw).backward()
        assert a1.shape == a1.grad.shape and b1.shape == b1.grad.shape
        assert M1.shape == M1.grad.shape
        out += [a1.grad - a1.grad.mean(), b1.grad - b1.grad.mean(), M1.grad]
    for u, v in zip(mine, pots):
        assert float((u - v).norm()) <= 1e-6 * float(v.norm())


@pytest.mark.parametrize("method", ["sinkhorn_log", "sinkhorn", *NOT_IN_OPTKIT])
def test_sinkhorn_empty(method):
    _, u, M = _cloud(100)
    if method in NOT_IN_OPTKIT:
        with pytest.raises(ValueError, match="method"):
            compat.sinkhorn([], [], M, 1, method=method, stopThr=1e-10, log=True)
        return
    G, log = compat.sinkhorn([], [], M, 1, stopThr=1e-10, method=method, verbose=True, log=True)
    np.testing.assert_allclose(u, G.sum(1), atol=1e-05)
    np.testing.assert_allclose(u, G.sum(0), atol=1e-05)
    assert log["niter"] >= 1 and log["err"][-1] <= 1e-10


def test_sinkhorn_variants():
    _, u, M = _cloud(100)
    ub, Mb = torch.from_numpy(u), torch.from_numpy(M)
    G = compat.sinkhorn(u, u, M, 1, method="sinkhorn", stopThr=1e-10)
    Gl = compat.sinkhorn(ub, ub, Mb, 1, method="sinkhorn_log", stopThr=1e-10).numpy()
    G0 = compat.sinkhorn(ub, ub, Mb, 1, method="sinkhorn", stopThr=1e-10).numpy()
    G_pot = ot.sinkhorn(u, u, M, 1, method="sinkhorn_stabilized", stopThr=1e-10)
    np.testing.assert_allclose(G, G0, atol=1e-05)
    np.testing.assert_allclose(G, Gl, atol=1e-05)
    np.testing.assert_allclose(G0, G_pot, atol=1e-05)
    for method in NOT_IN_OPTKIT:
        with pytest.raises(ValueError, match="method"):
            compat.sinkhorn(ub, ub, Mb, 1, method=method, stopThr=1e-10)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log"])
def test_sinkhorn_variants_dtype_device(method):
    x = np.random.RandomState(42).randn(100, 2)
    u, M = ot.utils.unif(100), ot.dist(x, x)
    for dtype in (torch.float32, torch.float64):
        ub, Mb = torch.tensor(u, dtype=dtype), torch.tensor(M, dtype=dtype)
        Gb = compat.sinkhorn(ub, ub, Mb, 1, method=method, stopThr=1e-10 if dtype ==
                             torch.float64 else 1e-5)
        assert Gb.dtype == Mb.dtype and Gb.device == Mb.device
        lossb = compat.sinkhorn2(ub, ub, Mb, 1, method=method, stopThr=1e-5)
        assert lossb.dtype == Mb.dtype and lossb.device == Mb.device
    for dtype in (np.float32, np.float64):
        assert compat.sinkhorn(u, u, M.astype(dtype), 1, method=method,
                               stopThr=1e-5).dtype == dtype


def test_sinkhorn_variants_multi_b():
    rng = np.random.RandomState(0)
    x = rng.randn(50, 2)
    u = ot.utils.unif(50)
    b = rng.rand(50, 3)
    b = b / np.sum(b, 0, keepdims=True)
    M = ot.dist(x, x)
    G = compat.sinkhorn(u, b, M, 1, method="sinkhorn", stopThr=1e-10)
    np.testing.assert_allclose(G, ot.sinkhorn(u, b, M, 1, method="sinkhorn_log", stopThr=1e-10),
                               atol=1e-05)
    G2 = compat.sinkhorn2(u, b, M, 1, method="sinkhorn_log", stopThr=1e-10)
    np.testing.assert_allclose(G2, ot.sinkhorn2(u, b, M, 1, method="sinkhorn_log",
                                                stopThr=1e-10), atol=1e-05)


@pytest.mark.parametrize("verbose, warn", product([True, False], [True, False]))
def test_sinkhorn_variants_log_multib(verbose, warn):
    rng = np.random.RandomState(0)
    x = rng.randn(50, 2)
    u = ot.utils.unif(50)
    b = rng.rand(50, 3)
    b = b / np.sum(b, 0, keepdims=True)
    M = ot.dist(x, x)
    Gl, logl = compat.sinkhorn(u, b, M, 1, method="sinkhorn_log", stopThr=1e-10, log=True,
                               verbose=verbose, warn=warn)
    G0 = ot.sinkhorn(u, b, M, 1, method="sinkhorn_log", stopThr=1e-10)
    np.testing.assert_allclose(G0, Gl, atol=1e-05)


def test_sinkhorn_variants_log():
    _, u, M = _cloud(50)
    G0, log0 = compat.sinkhorn(u, u, M, 1, method="sinkhorn", stopThr=1e-10, log=True)
    Gl, logl = compat.sinkhorn(u, u, M, 1, method="sinkhorn_log", stopThr=1e-10, log=True)
    Gp, logp = ot.sinkhorn(u, u, M, 1, method="sinkhorn_log", stopThr=1e-10, log=True)
    np.testing.assert_allclose(G0, Gl, atol=1e-05)
    np.testing.assert_allclose(Gp, Gl, atol=1e-05)
    # POT's log: log_u, log_v (potentials / reg) rebuild the plan as in POT
    rebuilt = np.exp(logl["log_u"][:, None] + logl["log_v"][None, :] - M)
    np.testing.assert_allclose(rebuilt, Gl, atol=1e-14)
    np.testing.assert_allclose(logl["u"][:, None] * np.exp(-M) * logl["v"][None, :], Gl,
                               atol=1e-14)


def test_sinkhorn_warmstart():
    m, n = 10, 20
    a, b = ot.unif(m), ot.unif(n)
    M = ot.dist((np.arange(m) * 1.0).reshape(-1, 1), (np.arange(n) * 1.0).reshape(-1, 1))
    _, log = ot.lp.emd(a, b, M, log=True)
    warmstart = (log["u"], log["v"])
    pi_unif, _ = compat.sinkhorn(a, b, M, 1, method="sinkhorn", log=True, warmstart=None)
    pi_sh, _ = compat.sinkhorn(a, b, M, 1, method="sinkhorn", log=True, warmstart=warmstart)
    pi_sh_log, _ = compat.sinkhorn(a, b, M, 1, method="sinkhorn_log", log=True,
                                   warmstart=warmstart)
    np.testing.assert_allclose(pi_unif, pi_sh, atol=1e-05)
    np.testing.assert_allclose(pi_unif, pi_sh_log, atol=1e-05)
    np.testing.assert_allclose(pi_unif, ot.sinkhorn(a, b, M, 1, method="sinkhorn_log"),
                               atol=1e-05)


def test_pot_names_on_the_facade():
    """The names spec §8.5 lists, on optkit.ot.sinkhorn itself, and no others."""
    _, u, M = _cloud(30)
    res = sinkhorn([], [], M, 1, method="sinkhorn_log", numItermax=500, stopThr=1e-11)
    assert res.success and res.method == "sinkhorn" and res.marginal_error <= 1e-11
    with pytest.raises(TypeError, match="numItermax"):
        sinkhorn(u, u, M, 1, maxiter=10, numItermax=10)
    with pytest.raises(TypeError, match="stopThr"):
        sinkhorn(u, u, M, 1, tol=1e-9, stopThr=1e-9)
    with pytest.raises(ValueError, match="stopThr"):
        sinkhorn(u, u, M, 1, stopThr=-1.0)
    with pytest.raises(ValueError, match="numItermax"):
        sinkhorn(u, u, M, 1, numItermax=0)
    with pytest.raises(TypeError, match="numItermax"):
        compat.sinkhorn(u, u, M, 1, numItermax=10.5)
    with pytest.raises(TypeError):
        sinkhorn(u, u, M, 1, log=True)  # POT's return shapes live in optkit.ot.compat


BACKENDS = [np.asarray, torch.from_numpy]


def _line(n, step=1):
    return np.reshape(np.arange(0, n * step, step, dtype=np.float64), (n, 1))


def _np(v):
    return v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)


@pytest.mark.parametrize("nx", BACKENDS)
def test_empirical_sinkhorn(nx):
    n = 10
    a, b, X_s, X_t = ot.unif(n), ot.unif(n), _line(n), _line(n)
    M, M_m = ot.dist(X_s, X_t), ot.dist(X_s, X_t, metric="euclidean")
    X_sb, X_tb = nx(X_s), nx(X_t)
    G_sqe = _np(compat.empirical_sinkhorn(X_sb, X_tb, 1))
    G_log, _ = compat.empirical_sinkhorn(X_sb, X_tb, 0.1, log=True)
    G_m = _np(compat.empirical_sinkhorn(X_sb, X_tb, 1, metric="euclidean"))
    loss = _np(compat.empirical_sinkhorn2(X_sb, X_tb, 1))
    cases = ((G_sqe, M, 1), (_np(G_log), M, 0.1), (G_m, M_m, 1))
    for G, cost, reg in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # POT's kernel sinkhorn at reg 0.1
            ref = ot.sinkhorn(a, b, cost, reg)
        np.testing.assert_allclose(ref.sum(1), G.sum(1), atol=1e-05)
        np.testing.assert_allclose(ref.sum(0), G.sum(0), atol=1e-05)
        if reg == 1:  # at reg 0.1 POT's log-domain Sinkhorn needs ~1e5 sweeps to converge
            exact = ot.sinkhorn(a, b, cost, reg, method="sinkhorn_log", stopThr=1e-12)
            np.testing.assert_allclose(G, exact, atol=1e-8)
    np.testing.assert_allclose(loss, ot.sinkhorn2(a, b, M, 1), atol=1e-05)


@pytest.mark.parametrize("nx", BACKENDS)
def test_lazy_empirical_sinkhorn(nx):
    n, numIterMax = 10, 1000
    a, b, X_s, X_t = ot.unif(n), ot.unif(n), _line(n), _line(n)
    M, M_m = ot.dist(X_s, X_t), ot.dist(X_s, X_t, metric="euclidean")
    X_sb, X_tb = nx(X_s), nx(X_t)
    f, g = compat.empirical_sinkhorn(X_sb, X_tb, 1, numIterMax=numIterMax, isLazy=True,
                                     batchSize=(1, 3), verbose=True)
    G_sqe = np.exp(_np(f)[:, None] + _np(g)[None, :] - M)
    f, g, _ = compat.empirical_sinkhorn(X_sb, X_tb, 1, numIterMax=numIterMax, isLazy=True,
                                        batchSize=5, log=True)
    G_log = np.exp(_np(f)[:, None] + _np(g)[None, :] - M)
    f, g = compat.empirical_sinkhorn(X_sb, X_tb, 1, metric="euclidean", numIterMax=numIterMax,
                                     isLazy=True, batchSize=1)
    G_m = np.exp(_np(f)[:, None] + _np(g)[None, :] - M_m)
    loss, log = compat.empirical_sinkhorn2(X_sb, X_tb, 1, numIterMax=numIterMax, isLazy=True,
                                           batchSize=5, log=True)
    G_lazy = _np(log["lazy_plan"][:])
    np.testing.assert_allclose(G_sqe[1, 1], _np(log["lazy_plan"][1, 1]), atol=1e-03)
    np.testing.assert_allclose(G_sqe[2], _np(log["lazy_plan"][2]), atol=1e-12)
    np.testing.assert_allclose(G_sqe[2:4, [0, 5]], _np(log["lazy_plan"][2:4, [0, 5]]),
                               atol=1e-12)
    for G, ref in ((G_sqe, ot.sinkhorn(a, b, M, 1)), (G_log, ot.sinkhorn(a, b, M, 1)),
                   (G_m, ot.sinkhorn(a, b, M_m, 1))):
        np.testing.assert_allclose(ref.sum(1), G.sum(1), atol=1e-05)
        np.testing.assert_allclose(ref.sum(0), G.sum(0), atol=1e-05)
    np.testing.assert_allclose(_np(loss), ot.sinkhorn2(a, b, M, 1), atol=1e-05)
    np.testing.assert_allclose(G_log, G_lazy, atol=1e-05)
    np.testing.assert_allclose(G_m, ot.sinkhorn(a, b, M_m, 1, stopThr=1e-12), atol=1e-8)


@pytest.mark.parametrize("nx", BACKENDS)
def test_empirical_sinkhorn_divergence(nx):
    n = 10
    a = np.linspace(1, n, n) / np.linspace(1, n, n).sum()
    b, X_s, X_t = ot.unif(n), _line(n), _line(n, 2)
    M, M_s, M_t = ot.dist(X_s, X_t), ot.dist(X_s, X_s), ot.dist(X_t, X_t)
    div = _np(compat.empirical_sinkhorn_divergence(nx(X_s), nx(X_t), 1, a=nx(a), b=nx(b)))
    ref = (ot.sinkhorn2(a, b, M, 1) - ot.sinkhorn2(a, a, M_s, 1) / 2
           - ot.sinkhorn2(b, b, M_t, 1) / 2)
    np.testing.assert_allclose(div, ref, atol=1e-05)
    np.testing.assert_allclose(
        div, ot.bregman.empirical_sinkhorn_divergence(X_s, X_t, 1, a=a, b=b), atol=1e-05)
    lazy, log = compat.empirical_sinkhorn_divergence(nx(X_s), nx(X_t), 1, a=nx(a), b=nx(b),
                                                     isLazy=True, log=True)
    np.testing.assert_allclose(_np(lazy), div, atol=1e-8)
    assert set(log) == {"sinkhorn_loss_ab", "sinkhorn_loss_a", "sinkhorn_loss_b",
                        "log_sinkhorn_ab", "log_sinkhorn_a", "log_sinkhorn_b"}


def test_empirical_sinkhorn_divergence_gradient():
    """POT's case (every input gets a gradient), and the gradients equal POT's autodiff
    through a converged run (masses: up to the gauge constant)."""
    n = 10
    a = np.linspace(1, n, n) / np.linspace(1, n, n).sum()
    b, X_s, X_t = ot.unif(n), _line(n), _line(n, 2)
    ours, pots = ([torch.tensor(v, requires_grad=True) for v in (a, b, X_s, X_t)]
                  for _ in range(2))
    compat.empirical_sinkhorn_divergence(ours[2], ours[3], 1, a=ours[0], b=ours[1]).backward()
    ot.bregman.empirical_sinkhorn_divergence(pots[2], pots[3], 1, a=pots[0], b=pots[1],
                                             stopThr=1e-13).backward()
    for mine, theirs in zip(ours, pots):
        assert mine.grad is not None
        diff = (mine.grad - theirs.grad).numpy()
        if mine.ndim == 1:
            diff -= diff.mean()
        np.testing.assert_allclose(diff, 0, atol=1e-6 * float(theirs.grad.abs().max()))


def test_empirical_sinkhorn_warmstart():
    m, n = 10, 20
    Xs, Xt = _line(m), _line(n)
    M = ot.dist(Xs, Xt)
    _, log = ot.lp.emd(ot.unif(m), ot.unif(n), M, log=True)
    warmstart = (log["u"], log["v"])
    f, g, _ = compat.empirical_sinkhorn(X_s=Xs, X_t=Xt, reg=1, isLazy=True, log=True)
    pi_unif = np.exp(f[:, None] + g[None, :] - M)
    f, g, _ = compat.empirical_sinkhorn(X_s=Xs, X_t=Xt, reg=1, isLazy=True, log=True,
                                        warmstart=warmstart)
    pi_ws_lazy = np.exp(f[:, None] + g[None, :] - M)
    pi_ws_not_lazy, _ = compat.empirical_sinkhorn(X_s=Xs, X_t=Xt, reg=1, isLazy=False,
                                                  log=True, warmstart=warmstart)
    np.testing.assert_allclose(pi_unif, pi_ws_lazy, atol=1e-05)
    np.testing.assert_allclose(pi_unif, pi_ws_not_lazy, atol=1e-05)


def test_empirical_sinkhorn_divergence_warmstart():
    m, n = 10, 20
    Xs, Xt = _line(m), _line(n)
    _, log = ot.lp.emd(ot.unif(m), ot.unif(n), ot.dist(Xs, Xt), log=True)
    warmstart = (log["u"], log["v"])
    sd_unif, _ = compat.empirical_sinkhorn_divergence(X_s=Xs, X_t=Xt, reg=1, isLazy=True,
                                                      log=True)
    sd_ws_lazy, _ = compat.empirical_sinkhorn_divergence(X_s=Xs, X_t=Xt, reg=1, isLazy=True,
                                                         log=True, warmstart=warmstart)
    sd_ws_not_lazy, _ = compat.empirical_sinkhorn_divergence(X_s=Xs, X_t=Xt, reg=1,
                                                             isLazy=False, log=True,
                                                             warmstart=warmstart)
    np.testing.assert_allclose(sd_unif, sd_ws_lazy, atol=1e-05)
    np.testing.assert_allclose(sd_unif, sd_ws_not_lazy, atol=1e-05)
    np.testing.assert_allclose(
        sd_unif, ot.bregman.empirical_sinkhorn_divergence(Xs, Xt, 1), atol=1e-05)


def test_empirical_bad_arguments_name_themselves():
    X = _line(5)
    with pytest.raises(ValueError, match="metric"):
        compat.empirical_sinkhorn(X, X, 1, metric="chebyshev")
    for bad in (0, (2, 0), (1, 2, 3), 2.5, True):
        with pytest.raises(ValueError, match="batchSize"):
            compat.empirical_sinkhorn(X, X, 1, isLazy=True, batchSize=bad)
    with pytest.raises(TypeError, match="isLazy"):
        compat.empirical_sinkhorn2(X, X, 1, isLazy="yes")
    with pytest.raises(ValueError, match="numIterMax"):
        compat.empirical_sinkhorn2(X, X, 1, numIterMax=0)
    with pytest.raises(ValueError, match="X_t"):
        compat.empirical_sinkhorn(X, np.full((3, 1), np.nan), 1, isLazy=True)
    with pytest.raises(TypeError, match="warmstart"):
        compat.empirical_sinkhorn(X, X, 1, warmstart=np.zeros(5))
