"""The migration pages' before/after snippets (docs/migration/snippets/*.py) run and agree.

Each snippet has the sections ``setup``, ``# --- before`` (the peer library's code),
``# --- after`` (optkit's), ``# --- check`` (optkit's result against an independent
reference: a closed form, least squares, the known minimizer) and ``# --- compare`` (optkit's
result against the peer's). The pages show the before and after sections.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SNIPPETS = Path(__file__).resolve().parents[1] / "docs" / "migration" / "snippets"
PEER_MODULE = {"pot": "ot", "scipy": "scipy", "torch_optimizer": "torch_optimizer",
               "lion_pytorch": "lion_pytorch", "cbxpy": "cbx", "fancyimpute": "fancyimpute"}
MARKERS = ("# --- before", "# --- after", "# --- check", "# --- compare")

pytestmark = pytest.mark.slow


def sections(name: str) -> dict[str, str]:
    text = (SNIPPETS / f"from_{name}.py").read_text()
    cuts = [text.index(marker) for marker in MARKERS]
    bounds = [0, *cuts, len(text)]
    keys = ("setup", "before", "after", "check", "compare")
    return {key: text[lo:hi] for key, lo, hi in zip(keys, bounds, bounds[1:])}


def run(source: str, name: str) -> None:
    exec(compile(source, str(SNIPPETS / f"from_{name}.py"), "exec"), {"__name__": "__snippet__"})


def test_every_peer_has_a_snippet_and_every_snippet_is_tested():
    assert {p.stem.removeprefix("from_") for p in SNIPPETS.glob("from_*.py")} == set(PEER_MODULE)


@pytest.mark.parametrize("name", sorted(PEER_MODULE))
def test_after_snippet_runs_and_checks(name):
    part = sections(name)
    run(part["setup"] + part["after"] + part["check"], name)


def _patch_fancyimpute_for_new_scikit_learn():
    """fancyimpute 0.7.0 (its last release) passes ``force_all_finite`` to scikit-learn's
    ``check_array``, renamed ``ensure_all_finite`` in scikit-learn 1.8; the migration page
    says so. Patch it as the completion benchmark's fancyimpute solver does."""
    import inspect

    import fancyimpute.soft_impute
    import fancyimpute.solver
    from sklearn.utils import check_array

    if "force_all_finite" in inspect.signature(check_array).parameters:
        return

    def compatible_check_array(X, force_all_finite=True, **kwargs):
        return check_array(X, ensure_all_finite=force_all_finite, **kwargs)

    for module in (fancyimpute.solver, fancyimpute.soft_impute):
        module.check_array = compatible_check_array


@pytest.mark.parametrize("name", sorted(PEER_MODULE))
def test_before_and_after_agree(name):
    if importlib.util.find_spec(PEER_MODULE[name]) is None:
        pytest.skip(f"peer {PEER_MODULE[name]} not installed")
    if name == "fancyimpute":
        _patch_fancyimpute_for_new_scikit_learn()
    run("".join(sections(name).values()), name)
