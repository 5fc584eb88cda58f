"""Input strategies and the outcome oracle of the fuzz suite (issue 16, item 1).

The allowed outcomes of a public call on fuzzed input are (spec api.md, "Bad input" and §3):

* a ``ValueError`` or ``TypeError`` whose message names the fuzzed argument;
* a result that tells the truth: ``success=True`` only with a finite ``x`` and ``fun``, and a
  non-finite ``x`` or ``fun`` only with ``success=False`` and a message.

Anything else (another exception type, a silent NaN) fails the test; a hang is caught by the
``pytest-timeout`` mark of every fuzz test.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import OptimizeResult

TALLY: Counter = Counter()
"""Outcome counts per test, summed over the session (printed by ``test_zz_report``)."""

NUMPY_DTYPES = [np.float64, np.float32, np.float16, np.complex128, np.int64, np.int8, np.bool_]
TORCH_DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex64,
                torch.int64, torch.bool]


def scales():
    """Powers of ten from tiny to huge (1e-300 ... 1e300) and the ordinary 1."""
    return st.sampled_from([1.0, 1e-300, 1e-30, 1e-8, 1e-3, 1e3, 1e8, 1e30, 1e300])


@st.composite
def numeric_arrays(draw, shape, *, torch_too=True, positive=False, keep_shape=False):
    """An array near a valid one: the given shape most of the time (or a wrong / empty one),
    any dtype, values on any scale, sometimes a NaN or inf planted in it, as numpy or torch;
    now and then a value of the wrong kind altogether. ``keep_shape``: always ``shape`` (for
    a user's function that only accepts that shape: its own error is not optkit's)."""
    if draw(st.integers(0, 9)) == 0 and not keep_shape:
        return draw(wrong_values())
    if draw(st.integers(0, 4)) == 0 and not keep_shape:
        shape = draw(st.sampled_from([(0,), (0, 0), (), tuple(s + 1 for s in shape),
                                      shape + (1,), shape[:-1] or (2, 2)]))
    n = int(np.prod(shape)) if shape else 1
    values = draw(hnp.arrays(np.float64, n, elements=st.floats(0.1 if positive else -1.0, 1.0)))
    values = values * draw(scales())
    if n and draw(st.integers(0, 5)) == 0:
        values[draw(st.integers(0, n - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    values = values.reshape(shape)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if torch_too and draw(st.booleans()):
            dtype = draw(st.sampled_from(TORCH_DTYPES))
            return torch.from_numpy(values).to(dtype)
        dtype = draw(st.sampled_from(NUMPY_DTYPES))
        return values.astype(dtype)


def wrong_values():
    """Values of the wrong kind for any argument."""
    return st.one_of(
        st.none(), st.booleans(), st.text(max_size=3), st.integers(-10**20, 10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.just(object()), st.just({"a": 1}), st.just([1.0, "x"]), st.just(1j),
        st.lists(st.floats(-1, 1), max_size=3),
    )


def scalars():
    """Real scalars of every sign and scale, NaN and inf, and a few of the wrong kind."""
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.builds(lambda s, m: s * m, scales(), st.sampled_from([1.0, -1.0, 0.5])),
        st.integers(-3, 10**6), st.just(0.0), wrong_values(),
    )


def budgets():
    """Iteration budgets: small integers of either sign, floats, NaN, -inf and values of the
    wrong kind. Not +inf or a huge float: scipy's convention (kept) reads them as "unlimited",
    which on a method without a stopping test runs until ``max_time``."""
    return st.one_of(st.integers(-3, 300), st.floats(-10.0, 300.0),
                     st.sampled_from([float("nan"), float("-inf")]), wrong_values())


def sizes():
    """Counts (particles, runs, ...): small integers of either sign, floats, wrong kinds."""
    return st.one_of(st.integers(-3, 40), st.floats(allow_nan=True, allow_infinity=True),
                     wrong_values())


def _finite(value) -> bool:
    if value is None:
        return True
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.is_complex() or value.is_floating_point():
            return bool(torch.isfinite(value.to(torch.complex128 if value.is_complex()
                                                else torch.float64)).all())
        return True
    arr = np.asarray(value)
    if arr.dtype == object:
        return all(_finite(v) for v in arr.ravel())
    if np.issubdtype(arr.dtype, np.inexact):
        return bool(np.all(np.isfinite(arr)))
    return True


def assert_truthful(res, tolerance_check=None):
    """A result's ``success`` tells the truth (see the module docstring)."""
    assert isinstance(res, OptimizeResult), f"not an OptimizeResult: {type(res).__name__}"
    finite = _finite(res.x) and _finite(res.fun)
    if res.success:
        assert finite, f"success=True with a non-finite result: fun={res.fun}"
        if tolerance_check is not None:
            tolerance_check(res)
    if not finite:
        assert res.success is False and isinstance(res.message, str) and res.message, (
            f"non-finite result without success=False and a message: {res.message!r}")
    return "solved" if res.success else "failed"


def outcome(test_name, call, names, tolerance_check=None, allowed=()):
    """Run ``call()`` and check it ends in an allowed outcome; count it in ``TALLY``.

    ``names``: the argument names one of which a ``ValueError``/``TypeError`` must name.
    ``allowed``: further exception types documented for this entry (e.g. MeZO's
    ``FloatingPointError`` on a non-finite loss).
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = call()
        except (ValueError, TypeError) as exc:
            message = str(exc)
            assert any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", message)
                       for n in names), (
                f"{type(exc).__name__} does not name any of {names}: {message!r}")
            kind = "rejected"
        except allowed:
            kind = "raised-documented"
        else:
            kind = assert_truthful(res, tolerance_check) if res is not None else "returned"
    TALLY[(test_name, kind)] += 1
    return kind


def finite_number(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
