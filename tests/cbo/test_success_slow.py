"""Success rates on Rastrigin-20 (slow), and optkit against CBXpy at equal settings (peers)."""

import numpy as np
import pytest

import optkit


def rastrigin(x):
    """Standard (unnormalized) Rastrigin, 10 d + sum [x_i^2 - 10 cos(2 pi x_i)]; minimum 0 at 0."""
    x = np.asarray(x)
    return 10 * x.shape[-1] + np.sum(x**2 - 10 * np.cos(2 * np.pi * x), axis=-1)


def success_rate(x_runs, x_star=0.0):
    return float(np.mean(np.max(np.abs(x_runs - x_star), axis=1) < 0.25))


@pytest.mark.slow
def test_rastrigin20_defaults_at_least_95_percent_within_100k_evaluations():
    """50 vectorized runs, particles U(-3, 3)^20, default options (Consensus Hopping, N = 800).

    Measured (2-core CPU, seed 0): 50/50 at 100k evaluations per run (125 steps).
    """
    runs, budget = 50, 100_000
    res = optkit.minimize(rastrigin, np.zeros(20), method="cbo", options=dict(
        rng=0, spread=3.0, n_runs=runs, vectorized=True, maxiter=budget // 800 - 1))
    assert res.nfev <= runs * budget
    assert success_rate(res.x_runs) >= 0.95


@pytest.mark.slow
def test_rastrigin20_anisotropic_cbo_at_least_95_percent_within_100k_evaluations():
    """The spec's setting: variant "cbo" (anisotropic, sigma 10.1, alpha0 30 x1.05, N 50), 50 runs.

    Measured (2-core CPU): 98% (seed 0) and 96% (seed 1) at 100k evaluations per run; 100% when
    the runs go to their own stopping rules (~140k evaluations per run).
    """
    runs, budget = 50, 100_000
    res = optkit.minimize(rastrigin, np.zeros(20), method="cbo", options=dict(
        rng=0, variant="cbo", spread=3.0, n_runs=runs, vectorized=True,
        maxiter=budget // 50 - 1))
    assert res.nfev <= runs * budget
    assert success_rate(res.x_runs) >= 0.95


@pytest.mark.slow
@pytest.mark.peers
def test_same_settings_as_cbxpy_both_succeed():
    """CBXpy's success_evaluation notebook setting (anisotropic, sigma 10.1, alpha0 30, N 40,
    5000 steps) in both packages, 16 runs each: both solve >= 15 of 16 (spec: 100/100 measured)."""
    cbx = pytest.importorskip("cbx")
    from cbx.dynamics import CBO

    runs, N, d, steps = 16, 40, 20, 5000
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (runs, N, d))
    np.random.seed(1)  # CBXpy's noise comes from numpy's global state
    dyn = CBO(rastrigin, f_dim="3D", x=x, noise="anisotropic", sigma=10.1, alpha=30.0, dt=0.01,
              lamda=1.0, max_it=steps, verbosity=0, check_f_dims=False)
    dyn.optimize()
    assert cbx is not None
    res = optkit.minimize(rastrigin, np.zeros(d), method="cbo", options=dict(
        rng=0, variant="cbo", spread=3.0, n_runs=runs, n_particles=N, vectorized=True,
        maxiter=steps,
        xtol=0.0, patience=steps + 1))
    assert res.nit == steps and res.nfev == runs * N * (steps + 1)
    assert success_rate(dyn.best_particle) >= 15 / 16
    assert success_rate(res.x_runs) >= 15 / 16
