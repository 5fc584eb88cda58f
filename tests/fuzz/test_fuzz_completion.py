"""Fuzzing ``optkit.completion.altmin`` (issue 16, item 1): the observed triplets (indices,
values of any dtype and scale, NaN, empty), the shape, the rank and the scalar options."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optkit.completion import altmin
from optkit.completion.datasets import low_rank_problem

from ._inputs import budgets, numeric_arrays, outcome, scalars, wrong_values

pytestmark = pytest.mark.timeout(180)

OBSERVED = low_rank_problem(20, 15, 2, 0.6, rng=1)[0]
ROWS, COLS, VALS, _ = OBSERVED
NNZ = ROWS.size


def _call(rows=ROWS, cols=COLS, vals=VALS, shape=(20, 15), rank=2, solver="exact", **kw):
    return altmin((rows, cols, vals, shape), rank, solver=solver, maxiter=15, rng=0, **kw)


@pytest.mark.parametrize("solver", ["exact", "sketch", "cg"])
@given(vals=numeric_arrays((NNZ,)))
def test_values(solver, vals):
    outcome(f"altmin[{solver}].vals", lambda: _call(vals=vals, solver=solver),
            ["vals", "observed"])


@given(arg=st.sampled_from(["rows", "cols"]),
       index=st.one_of(numeric_arrays((NNZ,), torch_too=False),
                       st.builds(lambda k: np.full(NNZ, k), st.integers(-3, 40))))
def test_indices(arg, index):
    outcome(f"altmin.{arg}", lambda: _call(**{arg: index}), [arg, "observed"])


@given(shape=st.one_of(wrong_values(), st.tuples(st.integers(-2, 40), st.integers(-2, 40)),
                       st.tuples(st.floats(0, 40), st.floats(0, 40))))
def test_shape(shape):
    outcome("altmin.shape", lambda: _call(shape=shape), ["shape", "observed"])


@given(data=st.data())
def test_scalar_arguments(data):
    arg = data.draw(st.sampled_from(["rank", "tol", "reg", "maxiter", "solver", "observed"]),
                    label="arg")
    strategy = {"solver": wrong_values(), "observed": wrong_values(), "maxiter": budgets()}
    value = data.draw(strategy.get(arg, scalars()), label=arg)
    if arg == "observed":
        call = lambda: altmin(value, 2)  # noqa: E731
    elif arg == "maxiter":
        call = lambda: altmin(OBSERVED, 2, maxiter=value)  # noqa: E731
    else:
        call = lambda: _call(**{arg: value})  # noqa: E731
    outcome(f"altmin.{arg}", call, [arg])
