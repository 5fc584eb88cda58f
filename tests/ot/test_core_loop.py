"""sinkhorn on optkit.core.run: budgets, the result type, reusable solvers, host syncs."""

import numpy as np
import pytest
import torch
from scipy.optimize import OptimizeResult

from optkit.core import run
from optkit.ot import OTResult, sinkhorn
from optkit.ot.log_sinkhorn import SinkhornSolver
from optkit.ot.problem import kernels, make_problem
from optkit.ot.sns import SNSSolver


def _problem(n=40, m=30, rng=0):
    rng = np.random.default_rng(rng)
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), rng.random((n, m))


@pytest.mark.parametrize("method", ["sns", "sinkhorn"])
def test_result_is_an_optimize_result_with_the_common_fields(method):
    a, b, C = _problem()
    res = sinkhorn(a, b, C, 0.02, method=method)
    assert isinstance(res, OTResult) and isinstance(res, OptimizeResult)
    for key in ("x", "fun", "nit", "nfev", "status", "success", "message", "trace",
                "execution_time", "f", "g", "cost", "dual", "marginal_error", "n_sinkhorn"):
        assert key in res
    assert "n_iter" not in res
    np.testing.assert_array_equal(res.x, np.concatenate([res.f, res.g]))
    assert res.fun == res.dual and res.nit == res.n_sinkhorn + res.n_newton
    # nfev counts passes over C: two per sweep at least, and the trace ends on it
    assert res.nfev >= 2 * res.n_sinkhorn and res.trace["n_value"][-1] <= res.nfev


@pytest.mark.parametrize("method", ["sns", "sinkhorn"])
def test_budgets_are_failures(method):
    a, b, C = _problem()
    full = sinkhorn(a, b, C, 0.005, method=method, tol=1e-12)
    assert full.success
    res = sinkhorn(a, b, C, 0.005, method=method, tol=1e-12, maxfev=full.nfev // 2)
    assert res.status == 6 and not res.success and res.nfev < full.nfev
    res = sinkhorn(a, b, C, 0.005, method=method, tol=1e-12, maxiter=3)
    assert res.status == 1 and not res.success and res.nit == 3
    res = sinkhorn(a, b, C, 0.005, method=method, tol=1e-12, max_time=1e-9)
    assert res.status == 9 and not res.success


@pytest.mark.parametrize("cls, kw", [(SinkhornSolver, {}), (SNSSolver, {"n_init": 5})])
def test_one_solver_instance_drives_two_runs(cls, kw):
    """The solver holds configuration only: a second run from the same instance, also
    interleaved with another problem, gives the same answer."""
    solver = cls(**kw)

    def solve(a, b, C):
        problem = make_problem(kernels(C, False), a, b, 0.02, 1e-10, np.zeros(a.size),
                               np.zeros(b.size))
        return run(solver, problem, maxiter=2000, x0=problem.x0, result_type=OTResult)

    first = solve(*_problem())
    other = solve(*_problem(20, 25, rng=1))
    again = solve(*_problem())
    assert first.success and other.success
    np.testing.assert_array_equal(first.x, again.x)
    assert first.nit == again.nit and first.nfev == again.nfev


def test_check_every_reads_the_host_less_often_and_keeps_the_answer():
    a, b, C = _problem()
    one = sinkhorn(a, b, C, 0.02, method="sinkhorn", tol=1e-10)
    ten = sinkhorn(a, b, C, 0.02, method="sinkhorn", tol=1e-10, check_every=10)
    assert one.success and ten.success
    assert ten.nit % 10 == 0 and one.nit <= ten.nit < one.nit + 10
    assert len(ten.trace) == ten.nit // 10 + 1
    np.testing.assert_allclose(ten.plan, one.plan, atol=1e-9)


def _count_host_syncs(monkeypatch, conversions=False):
    """Count the calls that read a tensor on the host (with ``conversions``, also ``bool``,
    ``int`` and indexing by a tensor)."""
    counter = {"n": 0}
    names = ("item", "cpu", "numpy", "__float__", "tolist")
    for name in names + (("__bool__", "__int__", "__index__") if conversions else ()):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            counter["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counter


_CUDA = pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA")])


@pytest.mark.parametrize("device", ["cpu", _CUDA])
@pytest.mark.parametrize("check_every", [1, 10])
def test_torch_sinkhorn_syncs_with_the_host_only_at_stopping_checks(monkeypatch, check_every,
                                                                     device):
    """Spec api §4: on torch input the potentials stay on the device; ``.item()``, ``.cpu()``,
    ``.numpy()`` and ``float()`` run a bounded number of times per stopping check."""
    a, b, C = (torch.from_numpy(v).to(device) for v in _problem(50, 40))
    counter = _count_host_syncs(monkeypatch)
    res = sinkhorn(a, b, C, 0.005, method="sinkhorn", tol=1e-14, maxiter=300,
                   check_every=check_every)
    assert res.nit == 300 and isinstance(res.f, torch.Tensor) and res.f.device == C.device
    checks = res.nit // check_every
    assert counter["n"] <= 3 * checks + 30, counter
    if check_every == 1:
        assert counter["n"] >= checks  # the count sees the per-check reads


def test_a_stopped_run_states_its_error_against_tol():
    a, b, C = _problem()
    done = sinkhorn(a, b, C, 0.02, method="sinkhorn", tol=1e-3).nit

    def stop(intermediate_result):  # stops at the iteration that meets tol
        if intermediate_result.nit >= done:
            raise StopIteration

    res = sinkhorn(a, b, C, 0.02, method="sinkhorn", tol=1e-3, callback=stop)
    assert res.status == 99 and res.marginal_error <= 1e-3
    assert "<= tol" in res.message
    res = sinkhorn(a, b, C, 0.02, method="sinkhorn", tol=1e-12, maxiter=3)
    assert res.status == 1 and "> tol" in res.message


@pytest.mark.parametrize("device", ["cpu", _CUDA])
@pytest.mark.parametrize("check_every", [1, 10])
def test_torch_sns_syncs_once_per_newton_step(monkeypatch, check_every, device):
    """Device-resident SNS (spec §8.4, issue 14): the Hessian, CG and every line-search trial
    stay on the device; the host reads one vector per Newton step (whatever number of trials
    its line search needs), plus the loop's stopping checks, plus (with check_every > 1) the
    error before a Newton step. Every kind of host read counts (float, int, bool, item,
    tolist, cpu, numpy)."""
    a, b, C = (torch.from_numpy(v).to(device) for v in _problem(50, 40))
    counter = _count_host_syncs(monkeypatch, conversions=True)
    res = sinkhorn(a, b, C, 0.002, method="sns", tol=1e-13, check_every=check_every)
    assert res.success and res.n_newton >= 5 and res.f.device == C.device
    # the case backtracks, so a read per trial would exceed the bounds below
    assert res.n_trials >= res.n_newton + 5
    setup = 20  # validation, problem set-up (masses to the host) and the final statistics
    if check_every == 1:
        # every sweep is one check; a Newton step costs one read
        assert counter["n"] <= res.n_sinkhorn + res.n_newton + setup, counter
    else:
        assert counter["n"] <= 2 * res.n_newton + res.nit // 10 + setup, counter
    assert counter["n"] >= res.n_newton  # the count sees the per-step reads
