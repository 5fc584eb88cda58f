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
def test_rastrigin20_anisotropic_cbo_at_least_93_percent_of_200_runs_within_100k_evaluations():
    """The spec's setting: variant "cbo" (anisotropic, sigma 10.1, alpha0 30 x1.05, N 50), 200 runs.

    Its true rate at 100k evaluations sits at the 95% mark, so 50 runs cannot test "95%": the
    per-seed count is a random draw, and the draw changes with the CPU (numpy's AVX-512 and AVX2
    cos/exp differ in the last bit and the particle system amplifies that). Measured on an
    AVX2-only CPU: 583/600 over seeds 0-11 at 50 runs (seed 0: 92%, 46/50) and 96.5%, 94%, 97%
    with 200 runs (seeds 0-2); an AVX-512 CPU gave 98% and 96% (seeds 0, 1, 50 runs), as CBXpy's
    N = 20 row at 100k gives 96% (spec section 9). Every failed run sits in the neighbouring
    local minimum (one coordinate at +-1), not short of budget. At a failure rate of 3.5%,
    more than 14 failures in 200 runs has probability 0.005; a drop to 90% is caught with
    probability 0.91.
    """
    runs, budget = 200, 100_000
    res = optkit.minimize(rastrigin, np.zeros(20), method="cbo", options=dict(
        rng=0, variant="cbo", spread=3.0, n_runs=runs, vectorized=True,
        maxiter=budget // 50 - 1))
    assert res.nfev <= runs * budget
    assert success_rate(res.x_runs) >= 0.93


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
