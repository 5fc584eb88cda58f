"""altmin on the core run loop: the result's x, budgets, both callback conventions, one
solver instance for several runs, the option table behind the signature, host syncs."""

import inspect

import numpy as np
import pytest

from optkit.completion import CompletionResult, altmin
from optkit.completion._options import OPTIONS
from optkit.core import STATUS

from ._util import problem


@pytest.fixture(scope="module")
def obs():
    return problem(80, 60, 3, 0.4, seed=11)[0]


@pytest.mark.parametrize("biases", [False, True])
def test_x_stacks_the_factors_and_fun_is_the_objective(obs, biases):
    rows, cols, vals, (m, n) = obs
    res = altmin(obs, 3, maxiter=4, tol=0, reg=0.1, biases=biases, center="global", rng=0)
    assert isinstance(res, CompletionResult)
    np.testing.assert_array_equal(res.x[:m, :3], res.U)
    np.testing.assert_array_equal(res.x[m:, :3], res.V)
    if biases:
        assert res.x.shape == (m + n, 4)
        np.testing.assert_array_equal(res.x[:m, 3], res.row_bias)
        np.testing.assert_array_equal(res.x[m:, 3], res.col_bias)
    else:
        assert res.x.shape == (m + n, 3)
    pred = res.predict(rows, cols)
    bu = 0 if res.row_bias is None else res.row_bias
    bv = 0 if res.col_bias is None else res.col_bias
    penalty = 0.1 * (np.sum(res.U**2) + np.sum(bu * bu) + np.sum(res.V**2) + np.sum(bv * bv))
    assert res.fun == pytest.approx(np.sum((pred - vals) ** 2) + penalty, rel=1e-10)
    assert res.trace["fun"][-1] == pytest.approx(res.fun, rel=1e-12)
    assert res.nit == 4 and res.status == STATUS["maxiter"] and res.success is False
    assert res.nfev == 4 * 2 and res.trace["n_value"][-1] == res.nfev  # exact: 1 pass each


def test_passes_per_solver(obs):
    for solver, extra, per_half_step in (("exact", {}, 1), ("cg", {"cg_steps": 4}, 6)):
        res = altmin(obs, 3, solver=solver, maxiter=3, tol=0, rng=0, **extra)
        assert res.nfev == 3 * 2 * per_half_step
    res = altmin(obs, 3, solver="sketch", maxiter=3, tol=0, rng=0)
    assert res.nfev >= 3 * 2 * 2


def test_budgets_are_failures(obs):
    res = altmin(obs, 3, solver="cg", tol=0, maxfev=11, rng=0)
    assert res.status == STATUS["maxfev"] and not res.success and res.nit == 2 and res.nfev == 20
    res = altmin(obs, 3, tol=0, maxiter=10**6, max_time=0.05, rng=0)
    assert res.status == STATUS["max_time"] and not res.success


def test_legacy_callback_gets_a_copy_of_x(obs):
    seen = []

    def cb(xk):
        seen.append(xk.copy())
        xk[:] = np.nan  # a copy: the run is unaffected

    res = altmin(obs, 3, maxiter=3, tol=0, callback=cb, rng=0)
    ref = altmin(obs, 3, maxiter=3, tol=0, rng=0)
    assert len(seen) == 3 and np.array_equal(seen[-1], res.x)
    np.testing.assert_array_equal(res.x, ref.x)


def test_one_solver_instance_drives_several_runs(obs):
    """The solver holds configuration only: two runs through one instance agree."""
    from optkit.completion._blocks import Arrays
    from optkit.completion._observed import canonicalize
    from optkit.completion._options import resolve
    from optkit.completion._solver import AltMin, CompletionProblem
    from optkit.core import run

    opts = resolve({"solver": "sketch"}, 3)
    solver = AltMin(rank=3, half_step=opts["half_step"], tol=0.0, center="none", biases=False,
                    start="svd", clip_mu=None, split_rounds=0)
    observed, proto = canonicalize(obs)
    problem_ = CompletionProblem(obs=observed, arrays=Arrays(proto))
    a = run(solver, problem_, maxiter=3, rng=np.random.default_rng(5))
    b = run(solver, problem_, maxiter=3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.x, altmin(obs, 3, solver="sketch", maxiter=3, tol=0,
                                              rng=5).x)


def test_signature_defaults_are_the_option_table():
    """Every keyword of altmin is an option of the one table, with the table's default
    (``None`` means "not given": the table's default applies)."""
    params = {name: p.default for name, p in inspect.signature(altmin).parameters.items()
              if p.kind is p.KEYWORD_ONLY}
    assert set(params) == set(OPTIONS)
    for name, default in params.items():
        assert default is None or default == OPTIONS[name].default, name


def test_torch_run_syncs_with_the_host_only_at_the_checks(obs):
    """exact on torch: the half-steps and the metrics stay on the device; the host reads
    the objective, the stopping test and one stacked trace row per iteration."""
    torch = pytest.importorskip("torch")
    rows, cols, vals, shape = obs
    tobs = (torch.as_tensor(rows), torch.as_tensor(cols), torch.as_tensor(vals), shape)
    calls = []
    originals = {name: getattr(torch.Tensor, name) for name in ("item", "cpu", "numpy")}

    def counting(name):
        def call(self, *args, **kwargs):
            calls.append(name)
            return originals[name](self, *args, **kwargs)
        return call

    try:
        for name in originals:
            setattr(torch.Tensor, name, counting(name))
        res = altmin(tobs, 3, maxiter=12, tol=0, rng=0)
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)
    checks = res.nit + 1
    assert res.nit == 12 and len(calls) <= 5 * checks + 10, len(calls)
