"""Fuzzing spec §2's common keywords over the conformance table of public entry points
(``tests/conformance/entries_*.py``, :func:`all_entries`): ``maxiter``, ``maxfev``,
``max_time``, ``tol``, ``rng`` and ``callback`` get values of every kind, sign and scale; the
entry must reject them naming the keyword or return a result that tells the truth."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conformance.entry_points import all_entries

from ._inputs import budgets, outcome, scalars, wrong_values

pytestmark = pytest.mark.timeout(300)

ENTRIES = all_entries()
KEYWORDS = {
    "maxiter": budgets,
    "maxfev": budgets,
    "max_time": lambda: st.one_of(scalars(), st.just(0.0)),
    "tol": scalars,
    "rng": lambda: st.one_of(wrong_values(), st.integers(-5, 2**70)),
    "callback": wrong_values,
}


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
@given(data=st.data())
def test_common_keywords(entry, data):
    keyword = data.draw(st.sampled_from(list(KEYWORDS)), label="keyword")
    if keyword == "rng" and not entry.stochastic:
        keyword = "tol"  # a deterministic entry rejects every rng (test_entry_points checks it)
    value = data.draw(KEYWORDS[keyword](), label=keyword)
    kw = {"maxiter": 50, keyword: value}  # a short budget unless it is the fuzzed keyword
    # The "cbo.CBO+core.run" adapter (entries_cbo.py) passes tol on as the solver's own xtol.
    names = [keyword, "xtol"] if keyword == "tol" and entry.name == "cbo.CBO+core.run" else [keyword]
    outcome(f"{entry.name}.{keyword}", lambda: entry.run(**kw), names)
