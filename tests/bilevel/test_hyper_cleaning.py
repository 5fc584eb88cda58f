"""Data hyper-cleaning on scikit-learn digits (spec bilevel §5.4)."""

import numpy as np
import pytest

from optkit.bilevel import solve, toys


@pytest.fixture(scope="module")
def problem():
    return toys.hyper_cleaning()


@pytest.fixture(scope="module")
def noisy_acc(problem):
    """Test accuracy of the model trained on all (corrupted) training labels, by L-BFGS."""
    return toys.cleaning_metrics(problem, weights=np.ones(600))["test_acc"]


def test_split_and_corruption(problem):
    assert problem.x0.shape == (600,) and problem.y0.shape == (650,)
    assert problem.data["A_test"].shape == (597, 65)
    assert problem.data["corrupted"].sum() == 300


def test_smoke_penalty_beats_noisy_training(problem, noisy_acc):
    res = solve(problem, sigma=0.1, lr_x=600.0, lr_y=0.5 / 1.1, lr_z=0.5, inner_steps=10,
                maxiter=60)
    m = toys.cleaning_metrics(problem, res.x, res.y, res.z)
    assert m["test_acc"] >= noisy_acc + 0.15
    assert m["f1"] >= 0.8
    assert res.n_outer_grad == 11 * 61 and res.n_inner_grad == 22 * 61


@pytest.mark.slow
def test_penalty_reaches_clean_accuracy(problem):
    res = solve(problem, sigma=0.1, lr_x=600.0, lr_y=0.5 / 1.1, lr_z=0.5, inner_steps=20,
                maxiter=1000)
    m = toys.cleaning_metrics(problem, res.x, res.y, res.z)
    clean = toys.cleaning_metrics(problem, weights=~problem.data["corrupted"])["test_acc"]
    assert m["test_acc"] >= 0.91 and m["test_acc"] >= clean - 0.01
    assert m["f1"] >= 0.89


@pytest.mark.slow
def test_stochastic_single_loop(problem, noisy_acc):
    res = solve(problem, "penalty-sl", sigma=0.1, lr_x=60.0, lr_y=0.5 / 1.1, lr_z=0.5,
                batch_size=64, maxiter=4000, rng=0)
    assert res.status == 1 and not res.success
    m = toys.cleaning_metrics(problem, res.x, res.y, res.z)
    assert m["test_acc"] >= 0.9 and m["f1"] >= 0.88
    assert res.n_samples == 64 * (2 * 4000 + 1) * 3
