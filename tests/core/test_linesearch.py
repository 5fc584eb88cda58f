"""``optkit.core.linesearch.backtracking``: Armijo's rule on closed-form functions."""

import math

import pytest

from optkit.core.linesearch import backtracking


def _quadratic_trial(calls):
    """phi(t) = (t - 1)^2 along the direction -1 from x = 1: slope -2, phi(0) = 1."""

    def trial(t):
        calls.append(t)
        return (t - 1.0) ** 2, -2.0 * t, t

    return trial


def _largest_armijo_step(c1, grid):
    # (t - 1)^2 <= 1 - 2 c1 t  <=>  t <= 2 (1 - c1): the accepted steps form (0, 2(1 - c1)]
    return max(t for t in grid if t <= 2.0 * (1.0 - c1))


@pytest.mark.parametrize("c1", [0.2, 0.9, 0.99])
@pytest.mark.parametrize("first", [2.0**-j for j in range(0, 9)])
def test_grown_first_step_accepts_what_halving_from_max_step_accepts(c1, first):
    max_step = 4.0
    plain_calls, warm_calls = [], []
    plain = backtracking(_quadratic_trial(plain_calls), 1.0, step=max_step, c1=c1)
    warm = backtracking(_quadratic_trial(warm_calls), 1.0, step=first, c1=c1,
                        max_step=max_step)
    grid = [max_step * 0.5**j for j in range(12)]
    assert plain.success and warm.success
    assert plain.step == warm.step == _largest_armijo_step(c1, grid)
    assert warm.value == pytest.approx((warm.step - 1.0) ** 2)
    assert warm.payload == warm.step
    assert warm.ntrials == len(warm_calls)
    # trials: the steps from `first` to the answer, and when grown, the one rejected past it
    grown = first <= warm.step < max_step
    expected = abs(round(math.log2(warm.step / first))) + 1 + grown
    assert warm.ntrials == expected


def test_without_max_step_an_accepted_first_step_is_not_grown():
    calls = []
    out = backtracking(_quadratic_trial(calls), 1.0, step=0.25, c1=1e-4)
    assert out.success and out.step == 0.25 and calls == [0.25]


def test_growth_stops_at_a_point_that_does_not_move():
    def trial(t):
        return None if t > 0.5 else ((t - 1.0) ** 2, -2.0 * t, t)

    out = backtracking(trial, 1.0, step=0.25, c1=1e-4, max_step=2.0)
    assert out.success and out.step == 0.5 and out.ntrials == 2
