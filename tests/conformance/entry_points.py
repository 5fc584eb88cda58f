"""The table of public entry points that the spec-§1-§3 contract tests run over.

Each subpackage lists its entry points in a module ``tests/conformance/entries_<sub>.py``
as ``ENTRIES = [Entry(...), ...]``; :func:`all_entries` collects them. An entry's ``run``
solves one small fixed problem through the *public* function (``sinkhorn``, ``altmin``,
``bilevel.solve``, ...) and forwards its keywords, which are spec §2's names (``maxiter``,
``maxfev``, ``max_time``, ``tol``, ``rng``, ``callback``, ...), to that function.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scipy.optimize import OptimizeResult


@dataclass(frozen=True)
class Entry:
    """One public entry point on one small problem.

    Parameters
    ----------
    name : str
        Test id, e.g. ``"ot.sinkhorn[sns]"``.
    run : callable
        ``run(**kwargs) -> OptimizeResult``, forwarding ``kwargs`` to the public function.
    f_star : float or None
        The problem's known optimal value (from an independent oracle: a closed form,
        ``ot.emd``, scipy, ...); the default run must reach it within ``rtol``/``atol``.
    stochastic : bool
        The entry point takes ``rng``; same ``rng`` gives the same ``x``, another a different one.
    result_type : type
        The result's class (a subclass of ``OptimizeResult``).
    fields : tuple of str
        Domain fields the result must carry besides the common ones.
    """

    name: str
    run: Callable[..., OptimizeResult]
    f_star: float | None = None
    rtol: float = 1e-6
    atol: float = 1e-8
    stochastic: bool = False
    result_type: type = OptimizeResult
    fields: tuple = field(default_factory=tuple)


def all_entries() -> list[Entry]:
    """Every ``ENTRIES`` of the ``entries_*`` modules beside this file."""
    out = []
    for mod in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if mod.name.startswith("entries_"):
            out.extend(importlib.import_module(f"tests.conformance.{mod.name}").ENTRIES)
    return out
