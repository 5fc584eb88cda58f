import numpy as np
from scipy.optimize import NonlinearConstraint, rosen, rosen_der

x0 = np.array([-1.2, 1.0])


def circle(x):
    return np.array([x @ x - 1.0])


def circle_jac(x):
    return 2.0 * x[None, :]


on_circle = NonlinearConstraint(circle, 0.0, 0.0, jac=circle_jac)

# --- before
import scipy.optimize

res_bfgs = scipy.optimize.minimize(rosen, x0, method="L-BFGS-B", jac=rosen_der)
res_sqp = scipy.optimize.minimize(rosen, x0, method="SLSQP", jac=rosen_der,
                                  constraints=[on_circle])
# --- after
import optkit

res_gd = optkit.minimize(rosen, x0, method="gd", jac=rosen_der,
                         options={"maxiter": 50_000})     # the same call, an optkit method
res_al = optkit.minimize(rosen, x0, method="al-newton", jac=rosen_der,
                         constraints=on_circle, tol=1e-8)
# or keep scipy's function and hand it the optkit method:
import scipy.optimize

res_gd_in_scipy = scipy.optimize.minimize(rosen, x0, method=optkit.get_method("gd"),
                                          jac=rosen_der, options={"maxiter": 50_000})
# --- check
assert res_gd.success and res_al.success and res_gd_in_scipy.success
np.testing.assert_allclose(res_gd.x, [1.0, 1.0], atol=1e-3)   # Rosenbrock's minimizer
np.testing.assert_allclose(res_gd_in_scipy.x, res_gd.x, atol=1e-12)
np.testing.assert_allclose(res_al.x @ res_al.x, 1.0, atol=1e-8)
# --- compare
np.testing.assert_allclose(res_gd.x, res_bfgs.x, atol=1e-3)
np.testing.assert_allclose(res_al.x, res_sqp.x, atol=1e-5)
