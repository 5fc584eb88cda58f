"""Determinism (issue 16, item 5): same ``rng``, same result

* across 1 and 2 threads (numba's ``set_num_threads``, ``torch.set_num_threads`` and the BLAS
  pool through ``threadpoolctl``): bitwise, for Sinkhorn and SNS (their parallel kernels
  forced on), ``altmin``, CBO and ``al_newton``;
* across the numpy and torch-CPU backends, to a stated tolerance, for the entries that take
  both (gd through ``minimize``, ``sinkhorn``, ``altmin``, CBO);
* after a ``state_dict`` round trip (Lion, DiffGrad, PerpGrad, MeZO, QZO): continuing from a
  loaded state equals continuing without it, bitwise on CPU.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numba
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import optkit
import optkit.ot._numba_kernels as ot_kernels
from optkit.completion import altmin
from optkit.completion.datasets import low_rank_problem, relative_error
from optkit.constrained import al_newton
from optkit.constrained.hs import BY_NAME
from optkit.optim import DiffGrad, Lion, PerpGrad
from optkit.ot import sinkhorn
from optkit.zeroth import QZO, MeZO

pytestmark = pytest.mark.timeout(300)


@contextmanager
def threads(n):
    """Every thread pool optkit's numerics use, set to ``n`` threads."""
    old_numba, old_torch = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        numba.set_num_threads(old_numba)
        torch.set_num_threads(old_torch)


def _ot_data(n=60, m=50, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), rng.random((n, m))


def _sphere(X):
    return np.sum((np.asarray(X) - np.array([0.5, -0.25, 1.0])) ** 2, axis=-1)


def _cbo(x0, rng=0):
    return optkit.minimize(_sphere, x0, method="cbo",
                           options={"vectorized": True, "rng": rng, "n_particles": 30})


def _equal_results(a, b, fields):
    for name in fields:
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)),
                                      err_msg=name)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread")
@pytest.mark.parametrize("method", ["sns", "sinkhorn"])
def test_sinkhorn_same_on_one_and_two_threads(method, monkeypatch):
    # Below _PARALLEL_MIN entries the kernels run single-threaded whatever the setting; force
    # the parallel path so that the two runs really differ in their thread count.
    monkeypatch.setattr(ot_kernels, "_PARALLEL_MIN", 0)
    a, b, C = _ot_data()
    runs = []
    for n in (1, 2):
        with threads(n):
            assert numba.get_num_threads() == n
            runs.append(sinkhorn(a, b, C, 0.05, method=method))
    assert runs[0].success
    _equal_results(*runs, ("f", "g", "plan", "fun"))


def test_altmin_same_on_one_and_two_threads():
    observed = low_rank_problem(80, 60, 3, 0.4, rng=2)[0]
    runs = []
    for n in (1, 2):
        with threads(n):
            runs.append(altmin(observed, 3, rng=0))
    assert runs[0].success
    _equal_results(*runs, ("U", "V", "fun"))


def test_cbo_same_on_one_and_two_threads():
    runs = []
    for n in (1, 2):
        with threads(n):
            runs.append(_cbo(np.zeros(3)))
    assert runs[0].success
    _equal_results(*runs, ("x", "fun", "x_runs"))


def test_al_newton_same_on_one_and_two_threads():
    runs = []
    for n in (1, 2):
        with threads(n):
            runs.append(al_newton(BY_NAME["HS7"].problem(), rng=0))
    assert runs[0].success
    _equal_results(*runs, ("x", "fun", "multipliers"))


# --- numpy vs torch-CPU -------------------------------------------------------------------------


def test_gd_numpy_and_torch_agree():
    """gd on the same quadratic from a numpy and from a torch start point: same iterates
    up to rounding (the torch function's gradient comes from autograd): rtol 1e-12."""
    d = np.array([1.0, 4.0, 9.0])
    dt = torch.from_numpy(d)
    res_np = optkit.minimize(lambda x: 0.5 * float(d @ x**2), np.ones(3), method="gd",
                             jac=lambda x: d * x)
    res_t = optkit.minimize(lambda x: 0.5 * (dt * x**2).sum(), torch.ones(3, dtype=torch.float64),
                            method="gd")
    assert res_np.success and res_t.success and isinstance(res_t.x, torch.Tensor)
    np.testing.assert_allclose(res_t.x.numpy(), res_np.x, rtol=1e-12, atol=1e-15)
    assert res_t.nit == res_np.nit


@pytest.mark.parametrize("method", ["sns", "sinkhorn"])
def test_sinkhorn_numpy_and_torch_agree(method):
    """Same problem as numpy arrays and as CPU tensors: potentials within 1e-10 (the torch
    kernels and the numba kernels sum in different orders)."""
    a, b, C = _ot_data()
    res_np = sinkhorn(a, b, C, 0.05, method=method, tol=1e-10)
    res_t = sinkhorn(*(torch.from_numpy(v) for v in (a, b, C)), 0.05, method=method, tol=1e-10)
    assert res_np.success and res_t.success
    np.testing.assert_allclose(np.asarray(res_t.f), res_np.f, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.asarray(res_t.g), res_np.g, rtol=0, atol=1e-10)
    assert float(res_t.fun) == pytest.approx(float(res_np.fun), rel=1e-12)


def test_altmin_numpy_and_torch_agree():
    """Torch ``vals`` select the torch backend; same rng, same completed matrix within
    1e-9 relative (Frobenius) error."""
    rows, cols, vals, shape = low_rank_problem(80, 60, 3, 0.4, rng=2)[0]
    res_np = altmin((rows, cols, vals, shape), 3, rng=0)
    res_t = altmin((rows, cols, torch.from_numpy(vals), shape), 3, rng=0)
    assert res_np.success and res_t.success
    assert res_t.nit == res_np.nit
    err = relative_error(np.asarray(res_t.U), np.asarray(res_t.V), res_np.U, res_np.V)
    assert err < 1e-9


def test_cbo_numpy_and_torch_agree():
    """CBO draws its noise from a torch Generator for tensors, so the two backends follow
    different sample paths: the stated tolerance is on the answer, not the path. Both reach
    the closed-form minimizer within 1e-4 (30 particles; measured ~3e-5), hence agree to 2e-4.
    """
    res_np = _cbo(np.zeros(3))
    res_t = _cbo(torch.zeros(3, dtype=torch.float64))
    assert res_np.success and res_t.success and isinstance(res_t.x, torch.Tensor)
    center = np.array([0.5, -0.25, 1.0])
    np.testing.assert_allclose(res_np.x, center, rtol=0, atol=1e-4)
    np.testing.assert_allclose(res_t.x.numpy(), center, rtol=0, atol=1e-4)
    np.testing.assert_allclose(res_t.x.numpy(), res_np.x, rtol=0, atol=2e-4)


# --- state_dict round trips -----------------------------------------------------------------


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def _batch(step):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(16, 6, generator=g), torch.randn(16, 1, generator=g)


def _first_order_step(model, opt, step):
    X, y = _batch(step)
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(X), y).backward()
    opt.step()


def _zeroth_order_step(model, opt, step):
    X, y = _batch(step)
    with torch.no_grad():
        opt.step(lambda: torch.nn.functional.mse_loss(model(X), y))


OPTIMIZERS = {
    "lion": (lambda p: Lion(p, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1), _first_order_step),
    "diffgrad": (lambda p: DiffGrad(p, lr=1e-2), _first_order_step),
    "perpgrad": (lambda p: PerpGrad(torch.optim.AdamW, p, lr=1e-2), _first_order_step),
    "mezo": (lambda p: MeZO(p, lr=1e-3, momentum=0.9, rng=0), _zeroth_order_step),
    "qzo": (lambda p: QZO(p, lr=1e-3, rng=0), _zeroth_order_step),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_continues_bitwise(name):
    make, step = OPTIMIZERS[name]
    model = _model()
    opt = make(model.parameters())
    for k in range(5):
        step(model, opt, k)
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    for k in range(5, 10):  # continue without a round trip
        step(model, opt, k)

    resumed = _model(seed=1)  # different weights, overwritten by the load
    resumed.load_state_dict(saved_model)
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(saved_opt)
    for k in range(5, 10):
        step(resumed, opt2, k)
    for p, q in zip(model.parameters(), resumed.parameters()):
        torch.testing.assert_close(q, p, rtol=0, atol=0)
    moved = any(not torch.equal(p, q) for p, q in
                zip(model.parameters(), _model().parameters()))
    assert moved, "the optimizer did not move the parameters"
