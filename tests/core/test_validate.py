import numpy as np
import pytest

from optkit.core.validate import (
    as_float_vector,
    check_int,
    check_interval,
    check_positive,
    check_probability,
    check_scalar_value,
    optional,
)


def test_interval_ends():
    assert check_interval(0.5, "c1", 0, 1) == 0.5
    with pytest.raises(ValueError, match=r"c1 must lie in \(0, 1\), got 1.0"):
        check_interval(1.0, "c1", 0, 1)
    assert check_interval(1.0, "grow", 1, np.inf, low_closed=True) == 1.0
    with pytest.raises(TypeError, match="beta must be a real number"):
        check_interval("0.5", "beta", 0, 1)
    with pytest.raises(ValueError, match="must be finite"):
        check_interval(np.nan, "beta", 0, 1)


def test_scalar_checks_name_the_argument():
    with pytest.raises(ValueError, match="lr must be > 0"):
        check_positive(0.0, "lr")
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        check_probability(1.0, "momentum")
    with pytest.raises(TypeError, match="maxiter must be an integer"):
        check_int(True, "maxiter")
    check_opt = optional(check_positive)
    assert check_opt(None, "tol") is None and check_opt(2, "tol") == 2.0
    with pytest.raises(ValueError, match="fun must return a scalar"):
        check_scalar_value(np.ones(2))


def test_float_vector_keeps_float32_and_copies():
    x = np.ones(3, dtype=np.float32)
    y = as_float_vector(x)
    assert y.dtype == np.float32 and y is not x
    assert as_float_vector(np.arange(3)).dtype == np.float64
    assert as_float_vector(2.0).shape == (1,)
