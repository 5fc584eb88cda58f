import numpy as np
import pytest

import optkit
from optkit.constrained.hs import HS


def solve_hs(p: HS, hess=True, **options):
    kw = p.scipy_kwargs(hess=hess)
    opts = {"tol": 1e-8, "rng": 0, **options}
    return optkit.minimize(kw.pop("fun"), kw.pop("x0"), method="al-newton", options=opts, **kw)


def assert_optimal(p: HS, res):
    assert res.status == 0, res.message
    assert res.success
    assert res.kkt_residual <= 1e-8
    assert abs(res.fun - p.f_star) <= 1e-6 * max(1.0, abs(p.f_star))
    if p.x_star is not None:
        x, ref = res.x.copy(), np.array(p.x_star)
        x[list(p.sign_free)] = np.abs(x[list(p.sign_free)])
        np.testing.assert_allclose(x, ref, atol=1e-4)


@pytest.fixture
def hs_solve():
    return solve_hs
