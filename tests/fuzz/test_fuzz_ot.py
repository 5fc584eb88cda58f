"""Fuzzing ``optkit.ot``: ``sinkhorn`` (both methods, numpy and torch), ``cost_matrix``,
``monge_gap`` (issue 16, item 1). One argument is fuzzed at a time, the others stay valid."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from optkit.ot import cost_matrix, monge_gap, sinkhorn

from ._inputs import numeric_arrays, outcome, scalars, wrong_values

pytestmark = pytest.mark.timeout(120)

_RNG = np.random.default_rng(3)
A = np.full(6, 1 / 6)
B = np.full(5, 1 / 5)
C = _RNG.random((6, 5))
X = _RNG.standard_normal((6, 2))
Y = _RNG.standard_normal((5, 2))


def _valid(method, torch_input):
    kw = dict(a=A, b=B, C=C, reg=0.1, method=method, maxiter=200)
    if torch_input:
        kw.update(a=torch.from_numpy(A), b=torch.from_numpy(B), C=torch.from_numpy(C))
    return kw


FUZZ = {
    "a": lambda: numeric_arrays((6,), positive=True),
    "b": lambda: numeric_arrays((5,), positive=True),
    "C": lambda: numeric_arrays((6, 5)),
    "reg": scalars,
    "tol": scalars,
    "maxiter": scalars,
    "method": wrong_values,
}


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    """Compile the numba kernels once, outside hypothesis' per-example deadline."""
    for method in ("sns", "sinkhorn"):
        sinkhorn(A, B, C, 0.1, method=method)
        sinkhorn(A.astype(np.float32), B.astype(np.float32), C.astype(np.float32), 0.1,
                 method=method)


def _float64(v):
    return np.asarray(v.double() if isinstance(v, torch.Tensor) else v, dtype=np.float64)


def _marginals_met(kw):
    """success=True: the plan's L1 marginal error, recomputed here in float64 from the
    potentials, is at most tol (the documented stopping test; default 1e-9, 1e-5 for Sinkhorn
    on float32, at least twice the gap of the masses' totals). The plan is zero on zero-mass
    rows and columns, where the potentials are soft c-transforms (OTResult's convention)."""

    def mass(key, n):
        value = None if kw[key] is None else _float64(kw[key])
        return np.full(n, 1.0 / n) if value is None or value.size == 0 else value  # None, []

    def check(res):
        C = _float64(kw["C"])
        a, b = mass("a", C.shape[0]), mass("b", C.shape[1])
        tol = kw.get("tol")
        if tol is None:
            f32 = str(kw["C"].dtype).endswith("float32")
            tol = max(1e-5 if f32 and kw["method"] == "sinkhorn" else 1e-9,
                      2 * abs(a.sum() - b.sum()) / a.sum())
        f, g = _float64(res.f), _float64(res.g)  # the plan in float64, from the potentials
        P = np.exp((f[:, None] + g[None, :] - C) / float(kw["reg"]))
        P[a == 0] = 0.0
        P[:, b == 0] = 0.0
        err = (np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()) / a.sum()
        assert err <= float(tol) * 1.01 + 1e-12, f"success=True with marginal error {err}"

    return check


@pytest.mark.parametrize("method,torch_input", [("sns", False), ("sinkhorn", False),
                                                ("sinkhorn", True)])
@given(data=st.data())
def test_sinkhorn(method, torch_input, data):
    arg = data.draw(st.sampled_from(list(FUZZ)), label="arg")
    kw = _valid(method, torch_input)
    kw[arg] = data.draw(FUZZ[arg](), label=arg)
    outcome(f"sinkhorn[{method}]", lambda: sinkhorn(**kw), [arg], _marginals_met(kw))


@given(data=st.data())
def test_cost_matrix(data):
    arg = data.draw(st.sampled_from(["x", "y", "cost"]), label="arg")
    kw = dict(x=X, y=Y, cost="sqeuclidean")
    kw[arg] = data.draw(numeric_arrays(X.shape if arg == "x" else Y.shape) if arg != "cost"
                        else st.one_of(wrong_values(), st.sampled_from(["euclidean", "l1"])),
                        label=arg)

    def call():
        M = cost_matrix(**kw)
        M = M.detach().double().numpy() if isinstance(M, torch.Tensor) else np.asarray(M)
        inputs_finite = all(np.all(np.isfinite(np.asarray(kw[k], dtype=np.float64)))
                            for k in ("x", "y"))
        assert not inputs_finite or not np.any(np.isnan(M)), "NaN cost from finite points"

    outcome("cost_matrix", call, [arg])


@given(data=st.data())
def test_monge_gap(data):
    arg = data.draw(st.sampled_from(["x", "Tx", "reg", "cost"]), label="arg")
    kw = dict(x=X, Tx=X + 0.5, cost="sqeuclidean", reg=0.5)
    strategy = {"x": numeric_arrays(X.shape), "Tx": numeric_arrays(X.shape), "reg": scalars(),
                "cost": wrong_values()}[arg]
    kw[arg] = data.draw(strategy, label=arg)

    def call():
        gap = monge_gap(**kw)
        value = gap.detach().double().item() if isinstance(gap, torch.Tensor) else float(gap)
        assert np.isfinite(value), f"monge_gap returned {value} silently"

    outcome("monge_gap", call, [arg])


@pytest.mark.parametrize("lazy", [False, True])
@given(data=st.data())
def test_compat_empirical(lazy, data):
    """POT's point-cloud forms (``optkit.ot.compat.empirical_sinkhorn2``): an error names the
    argument as POT spells it."""
    from optkit.ot import compat

    fuzz = {"X_s": lambda: numeric_arrays(X.shape), "X_t": lambda: numeric_arrays(Y.shape),
            "a": lambda: numeric_arrays((6,), positive=True),
            "b": lambda: numeric_arrays((5,), positive=True), "reg": scalars,
            "numIterMax": scalars, "stopThr": scalars, "metric": wrong_values,
            "batchSize": wrong_values}
    arg = data.draw(st.sampled_from(list(fuzz)), label="arg")
    kw = dict(X_s=X, X_t=Y, reg=0.5, a=A, b=B, numIterMax=200, isLazy=lazy)
    kw[arg] = data.draw(fuzz[arg](), label=arg)

    def call():
        value = compat.empirical_sinkhorn2(**kw)
        value = value.detach().double().item() if isinstance(value, torch.Tensor) else value
        assert np.isfinite(float(value)), f"empirical_sinkhorn2 returned {value} silently"

    outcome(f"compat.empirical_sinkhorn2[lazy={lazy}]", call, [arg])
