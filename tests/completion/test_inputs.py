"""Spec §5: every bad input raises the stated error naming the argument; inputs not mutated;
documented handling of empty rows/columns, centering, biases, validation and callbacks."""

import numpy as np
import pytest
import scipy.sparse as sp

from optkit.completion import altmin, half_step

from ._util import problem


@pytest.fixture(scope="module")
def small():
    return problem(40, 30, 2, 0.5, seed=0)[0]


def _with(obs, **kw):
    rows, cols, vals, shape = obs
    d = dict(rows=rows, cols=cols, vals=vals, shape=shape)
    d.update(kw)
    return d["rows"], d["cols"], d["vals"], d["shape"]


def test_duplicates_are_rejected(small):
    rows, cols, vals, shape = small
    dup = _with(small, rows=np.append(rows, rows[3]), cols=np.append(cols, cols[3]),
                vals=np.append(vals, 1.0))
    with pytest.raises(ValueError, match=rf"duplicate.*\({rows[3]}, {cols[3]}\)"):
        altmin(dup, 2)
    # a non-canonical CSR matrix holding a duplicate is rejected too (never summed)
    csr = sp.csr_matrix((vals, (rows, cols)), shape=shape)
    indices = csr.indices.copy()
    indices[csr.indptr[0] + 1] = indices[csr.indptr[0]]
    bad = sp.csr_matrix((csr.data, indices, csr.indptr), shape=shape)
    with pytest.raises(ValueError, match="duplicate"):
        altmin(bad, 2)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("rows", -1, r"rows index -1 out of range.*\[0, 40\)"),
    ("rows", 40, r"rows index 40 out of range"),
    ("cols", 30, r"cols index 30 out of range.*\[0, 30\)"),
])
def test_index_out_of_range(small, field, value, match):
    arr = small[0 if field == "rows" else 1].copy()
    arr[5] = value
    with pytest.raises(ValueError, match=match):
        altmin(_with(small, **{field: arr}), 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_values(small, bad):
    vals = small[2].copy()
    vals[0] = bad
    with pytest.raises(ValueError, match="observed values must be finite"):
        altmin(_with(small, vals=vals), 2)


@pytest.mark.parametrize(("rank", "err", "match"), [
    (30, ValueError, "rank must be < min"), (31, ValueError, "rank"), (0, ValueError, "rank"),
    (-1, ValueError, "rank"), (True, TypeError, "rank"), (2.0, TypeError, "rank"),
    ("2", TypeError, "rank"),
])
def test_bad_rank(small, rank, err, match):
    with pytest.raises(err, match=match):
        altmin(small, rank)


def test_bad_structure(small):
    rows, cols, vals, shape = small
    with pytest.raises(TypeError, match="rows must hold integers"):
        altmin(_with(small, rows=rows.astype(float)), 2)
    with pytest.raises(TypeError, match="cols must hold integers"):
        altmin(_with(small, cols=cols.astype(float)), 2)
    with pytest.raises(ValueError, match="same length"):
        altmin(_with(small, vals=vals[:-1]), 2)
    with pytest.raises(ValueError, match="shape"):
        altmin(_with(small, shape=(40, 0)), 2)
    with pytest.raises(ValueError, match="shape"):
        altmin(_with(small, shape=(40,)), 2)
    with pytest.raises(ValueError, match="no entries"):
        altmin((rows[:0], cols[:0], vals[:0], shape), 2)
    with pytest.raises(TypeError, match="dense array"):
        altmin(np.ones(shape), 2)
    with pytest.raises(TypeError, match="observed"):
        altmin((rows, cols, vals), 2)


@pytest.mark.parametrize(("kw", "err", "match"), [
    ({"solver": "newton"}, ValueError, r"solver must be one of \['exact', 'sketch', 'cg'\]"),
    ({"solver": "sketch", "sketch": "fjlt"}, ValueError, r"sketch must be one of \['countsketch'"),
    ({"reg": -1.0}, ValueError, "reg must be >= 0"),
    ({"solver": "sketch", "eps0": 0.0}, ValueError, "eps0"),
    ({"solver": "sketch", "eps0": 1.0}, ValueError, "eps0"),
    ({"solver": "sketch", "sketch_size": 1}, ValueError, "sketch_size must be >= rank"),
    ({"solver": "cg", "cg_steps": 0}, ValueError, "cg_steps"),
    ({"reg_scaling": "sqrt"}, ValueError, "reg_scaling"),
    ({"center": "row"}, ValueError, "center"),
    ({"init": "zeros"}, ValueError, "init"),
    ({"maxiter": 0}, ValueError, "maxiter"),
    ({"tol": -1.0}, ValueError, "tol"),
    ({"dtype": "float16"}, ValueError, "dtype"),
    ({"solver": "sketch", "verify": "yes"}, ValueError, "verify"),
    ({"biases": 1}, TypeError, "biases"),
    ({"rng": "seed"}, TypeError, "rng"),
    ({"callback": 3}, TypeError, "callback"),
    ({"clip_mu": -1.0}, ValueError, "clip_mu"),
    ({"validation": np.ones(3)}, TypeError, "validation"),
])
def test_bad_options(small, kw, err, match):
    with pytest.raises(err, match=match):
        altmin(small, 2, **kw)


@pytest.mark.parametrize(("solver", "kw"), [
    ("exact", {"sketch_size": 8}), ("exact", {"eps0": 1e-4}), ("exact", {"verify": True}),
    ("exact", {"sketch": "gaussian"}), ("exact", {"cg_steps": 2}), ("sketch", {"cg_steps": 2}),
    ("cg", {"sketch_size": 8}), ("sketch", {"cg_jacobi": True}),
])
def test_option_of_another_solver_is_rejected(small, solver, kw):
    """An option the chosen solver does not use is never silently ignored."""
    [name] = kw
    with pytest.raises(ValueError, match=rf"'{name}' does not apply to solver='{solver}'"):
        altmin(small, 2, solver=solver, **kw)
    with pytest.raises(ValueError, match=rf"'{name}' does not apply to solver='{solver}'"):
        half_step(small, np.ones((40, 2)), solver=solver, **kw)


def test_half_step_rng_only_for_the_sketch(small):
    with pytest.raises(ValueError, match="'rng' does not apply to solver='exact'"):
        half_step(small, np.ones((40, 2)), rng=0)


def test_unknown_option_is_named(small):
    with pytest.raises(TypeError, match="max_iter"):
        altmin(small, 2, max_iter=3)


@pytest.mark.filterwarnings("ignore:.*(no observed entry|fewer than rank)")
def test_below_information_limit_warns():
    obs, _ = problem(100, 100, 5, 0.05, seed=0)
    with pytest.warns(UserWarning, match="degrees of freedom"):
        altmin(obs, 5, maxiter=1)


def test_empty_rows_and_columns_keep_zero_factors():
    (rows, cols, vals, _), M = problem(60, 50, 2, 0.5, seed=1)
    keep = (rows != 7) & (cols != 11)
    obs = (rows[keep], cols[keep], vals[keep], (60, 50))
    for solver in ("exact", "sketch", "cg"):
        with pytest.warns(UserWarning, match="no observed entry"):
            res = altmin(obs, 2, solver=solver, maxiter=3, center="global")
        assert np.all(res.U[7] == 0) and np.all(res.V[11] == 0)
        assert res.predict([7], [11])[0] == pytest.approx(vals[keep].mean())


def test_thin_columns_warn_and_stay_finite():
    (rows, cols, vals, shape), _ = problem(60, 50, 3, 0.5, seed=2)
    keep = (cols != 4) | (rows < 2)  # column 4 keeps 1 entry (< rank) at most
    with pytest.warns(UserWarning, match="fewer than rank"):
        res = altmin((rows[keep], cols[keep], vals[keep], shape), 3, maxiter=3)
    assert np.isfinite(res.U).all() and np.isfinite(res.V).all()


@pytest.mark.parametrize("solver", ["exact", "sketch", "cg"])
def test_inputs_not_mutated(solver):
    obs, _ = problem(50, 40, 2, 0.5, seed=3)
    copies = [np.copy(a) for a in obs[:3]]
    val = tuple(np.copy(a[:20]) for a in obs[:3])
    val_copies = [np.copy(a) for a in val]
    mat = sp.csr_array((obs[2], (obs[0], obs[1])), shape=obs[3])
    mat_copy = mat.copy()
    altmin(obs, 2, solver=solver, maxiter=3, validation=val, center="global", biases=True,
           reg=0.1)
    altmin(mat, 2, solver=solver, maxiter=3)
    for a, b in zip(obs[:3] + val, copies + val_copies):
        assert np.array_equal(a, b)
    assert (mat != mat_copy).nnz == 0 and np.array_equal(mat.indices, mat_copy.indices)


def test_validation_trace_biases_and_predict():
    (rows, cols, vals, shape), M = problem(200, 150, 3, 0.4, seed=4)
    offset = 3.0 + np.random.default_rng(0).standard_normal(200)[rows]  # row effects
    vals = vals + offset
    tr = np.arange(rows.size) % 5 != 0
    res = altmin((rows[tr], cols[tr], vals[tr], shape), 3, center="global", biases=True,
                 reg=1e-3, maxiter=40, validation=(rows[~tr], cols[~tr], vals[~tr]), rng=0)
    pred = res.predict(rows[~tr], cols[~tr])
    rmse = np.sqrt(np.mean((pred - vals[~tr]) ** 2))
    assert res.trace["val_rmse"][-1] == pytest.approx(rmse, rel=1e-9)
    assert rmse < 0.05 * np.std(vals)
    assert res.mean == pytest.approx(vals[tr].mean())
    clipped = res.predict(rows[~tr], cols[~tr], clip=(2.5, 3.5))
    assert clipped.min() >= 2.5 and clipped.max() <= 3.5


def test_callback_and_stop_iteration():
    obs, _ = problem(100, 80, 2, 0.4, seed=5)
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result.nit)
        if intermediate_result.nit == 3:
            raise StopIteration

    res = altmin(obs, 2, maxiter=20, tol=0, callback=cb)
    assert seen == [1, 2, 3] and res.status == 99 and not res.success and res.nit == 3


def test_regularized_solution_is_stationary():
    """With ridge and ALS-WR weights, the final factors satisfy both optimality conditions
    (each half-step is exact), checked densely."""
    (rows, cols, vals, shape), _ = problem(60, 50, 3, 0.5, seed=6, noise=0.1)
    lam = 0.2
    res = altmin((rows, cols, vals, shape), 3, reg=lam, reg_scaling="count", maxiter=200,
                 tol=1e-10, rng=0)
    U, V = res.U, res.V
    W = np.zeros(shape)
    W[rows, cols] = 1
    R = W * (U @ V.T)
    R[rows, cols] -= vals
    cu = np.bincount(rows, minlength=60)[:, None]
    cv = np.bincount(cols, minlength=50)[:, None]
    assert np.abs(R @ V + lam * cu * U).max() < 1e-6
    assert np.abs(R.T @ U + lam * cv * V).max() < 1e-6
    assert np.abs(U @ V.T).max() > 0.1  # a non-trivial stationary point
