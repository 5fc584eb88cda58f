import numpy as np

rng = np.random.default_rng(0)
x, y = rng.normal(size=(300, 2)), rng.normal(loc=1.0, size=(400, 2))
a, b = np.full(300, 1 / 300), np.full(400, 1 / 400)
M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
M /= M.max()
reg = 1e-2

# --- before
import ot

plan_pot = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-10, numItermax=100_000)
value_pot = ot.sinkhorn2(a, b, M, reg, method="sinkhorn_log", stopThr=1e-10,
                         numItermax=100_000)  # <C, P>
# --- after
import optkit.ot

res = optkit.ot.sinkhorn(a, b, M, reg=reg, method="sns", tol=1e-10)
plan, value = res.plan, res.cost            # res.success, res.nit, res.marginal_error, res.f, res.g
# --- check
assert res.success, res.message
assert res.marginal_error <= 1e-10
# --- compare
np.testing.assert_allclose(plan, plan_pot, atol=1e-8)
np.testing.assert_allclose(value, value_pot, rtol=1e-7)
