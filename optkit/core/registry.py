"""The method registry: name -> :class:`MethodInfo` (solver, requirements, options).

Each subpackage registers its methods in a module ``optkit.<sub>._methods`` that
imports nothing heavy; those modules are discovered and imported the first time the
registry is read, so ``import optkit`` stays fast and a new method joins
``minimize``, ``get_method`` and the conformance suite by registering alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Option", "MethodInfo", "register", "get_method_info", "list_methods", "show_options",
           "resolve", "resolve_options", "budget_options"]

#: What a method may require of the problem.
REQUIREMENTS = frozenset({"value", "grad", "hvp", "population", "constraints", "stochastic"})
#: What a method may declare it supports.
SUPPORTS = frozenset({"bounds", "eq_constraints", "ineq_constraints", "torch", "float32",
                      "stochastic", "rng", "torch.optim", "fsdp2", "hess"})


@dataclass(frozen=True)
class Option:
    """One documented option: default value, numpydoc type/description, optional check.

    ``applies`` = ``(other, values)`` restricts the option to runs whose option ``other``
    is one of ``values`` (a variant, a sketch kind, ...): passing it otherwise raises
    ``ValueError`` naming it, so no accepted option is silently ignored.
    """

    default: Any
    doc: str
    check: Callable[[Any, str], Any] | None = None
    applies: tuple[str, tuple] | None = None


def _check_budget(value, name):
    from .validate import check_int

    return None if value is None else check_int(value, name, minimum=1)


def _check_time(value, name):
    from .validate import check_positive

    return None if value is None else check_positive(value, name)


def budget_options() -> dict[str, Option]:
    """The budgets every entry point takes besides ``maxiter`` (``maxfev``, ``max_time``)."""
    return {
        "maxfev": Option(None, "int or None\n    Budget of evaluations of the main oracle "
                               "(reported as ``nfev``); spent, the run stops with status 6.",
                         check=_check_budget),
        "max_time": Option(None, "float or None\n    Wall-time budget in seconds; spent, the run "
                                 "stops with status 9.", check=_check_time),
    }


RNG_OPTION = Option(None, "None, int or numpy.random.Generator\n    The method's randomness "
                          "(SPEC 7); the same value gives the same result.")


def resolve_options(known: Mapping[str, Option], options: Mapping[str, Any] | None, *,
                    owner: str, tol: float | None = None, tol_option: str | None = None,
                    strict: bool = True) -> dict[str, Any]:
    """Defaults filled in, ``tol`` mapped to ``tol_option``, each given value checked.

    The single place where options are validated, for registered methods and for the
    subpackages' facades alike. Unknown names raise ``TypeError`` when ``strict``; the scipy
    face (``strict=False``) ignores them with an ``OptimizeWarning``, as scipy does. An
    option given explicitly that does not apply (see :class:`Option`) raises ``ValueError``.
    """
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    options = dict(options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        if strict:
            hint = _did_you_mean(unknown[0], known)
            raise TypeError(f"unknown option(s) {unknown} for {owner}{hint}; known options: "
                            f"{sorted(known)}")
        import warnings

        from scipy.optimize import OptimizeWarning

        warnings.warn(f"Unknown solver options for {owner}: {', '.join(unknown)}",
                      OptimizeWarning, stacklevel=4)
        for k in unknown:
            del options[k]
    from_tol = None  # the option that ``tol`` set, named in its error messages
    if tol is not None:
        if tol_option is None:
            import warnings

            from scipy.optimize import OptimizeWarning

            warnings.warn(f"{owner} takes no tol; it is ignored (see its options)",
                          OptimizeWarning, stacklevel=4)
        elif tol_option not in options:
            options[tol_option] = tol
            from_tol = tol_option
    for name in ("maxiter", "maxfev"):
        if isinstance(options.get(name), float):
            options[name] = _float_budget(options[name], name)
    out = {}
    for name, opt in known.items():
        value = options.get(name, opt.default)
        if opt.check is not None and name in options:
            try:
                checked = opt.check(value, name)
            except (TypeError, ValueError) as exc:
                if name != from_tol:
                    raise
                raise type(exc)(f"tol (passed on as {name}): {exc}") from exc
            value = value if checked is None else checked
        out[name] = value
    for name, opt in known.items():
        if opt.applies is not None and name in options:
            other, values = opt.applies
            if out[other] not in values:
                raise ValueError(f"option {name!r} does not apply to {other}={out[other]!r} in "
                                 f"{owner}: it is used only when {other} is one of {list(values)}")
    return out


def _float_budget(value: float, name: str):
    """scipy runs ``while k < maxiter``: a float budget counts as its ceiling (inf: unlimited)."""
    import math
    import sys
    import warnings

    if math.isnan(value) or value == -math.inf:
        return value  # the option's own check names it
    if math.isinf(value) and value > 0:
        return sys.maxsize
    if not value.is_integer():
        warnings.warn(f"{name}={value} is not an integer; {math.ceil(value)} is used",
                      RuntimeWarning, stacklevel=5)
    return math.ceil(value)


def _did_you_mean(name: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class MethodInfo:
    """Everything the faces and the conformance suite need to know about a method.

    Parameters
    ----------
    name : str
        The ``method=`` name.
    solver : str or callable
        ``"module:attr"`` (imported on use) or a callable ``solver(**options) -> Solver``.
    summary, reference : str
        One-line description and the paper it implements.
    requires : frozenset
        Oracles the method needs, a subset of :data:`REQUIREMENTS`.
    supports : frozenset
        Features it supports, a subset of :data:`SUPPORTS` (``"hess"``: uses ``hess``/``hessp``
        when given without requiring them).
    options : mapping
        ``name -> Option``. ``maxiter`` is required; ``maxfev``, ``max_time`` and ``disp``
        are added to every method, ``rng`` to those that support ``"rng"``.
    tol_option : str, optional
        The option ``minimize``'s ``tol`` sets (``options.setdefault(tol_option, tol)``).
    test_options : mapping
        Options that make a conformance-suite run short and meaningful.
    optimizer : str, optional
        ``"module:Class"`` of the ``torch.optim.Optimizer`` behind the method, if any;
        its ``optimizer_test_kwargs`` drive the torch-optimizer conformance tests.
    converge_options : mapping or None
        Options under which the method reaches the known optimal value of the
        conformance problem table within ``converge_atol`` (``{}``: its defaults do);
        ``None`` for a method that does not minimize to optimality by design (say why
        in its summary).
    """

    name: str
    solver: str | Callable
    summary: str
    reference: str
    requires: frozenset = frozenset({"value"})
    supports: frozenset = frozenset()
    options: Mapping[str, Option] = field(default_factory=dict)
    tol_option: str | None = None
    test_options: Mapping[str, Any] = field(default_factory=dict)
    optimizer: str | None = None
    optimizer_test_kwargs: Mapping[str, Any] = field(default_factory=dict)
    converge_options: Mapping[str, Any] | None = field(default_factory=dict)
    converge_atol: float = 1e-6

    def __post_init__(self):
        bad = set(self.requires) - REQUIREMENTS
        if bad:
            raise ValueError(f"{self.name}: unknown requirements {sorted(bad)}")
        bad = set(self.supports) - SUPPORTS
        if bad:
            raise ValueError(f"{self.name}: unknown supports {sorted(bad)}")
        if "maxiter" not in self.options:
            raise ValueError(f"{self.name}: options must document 'maxiter'")
        if self.tol_option is not None and self.tol_option not in self.options:
            raise ValueError(f"{self.name}: tol_option {self.tol_option!r} is not an option")

    @property
    def stochastic(self) -> bool:
        return "rng" in self.supports

    def all_options(self) -> dict[str, Option]:
        opts = dict(self.options)
        for name, opt in budget_options().items():
            opts.setdefault(name, opt)
        opts.setdefault("disp", Option(False, "bool\n    Print the final message."))
        if self.stochastic:
            opts.setdefault("rng", RNG_OPTION)
        return opts

    def make_solver(self, options: Mapping[str, Any]):
        """The solver configured by the resolved ``options`` (the run loop's own are dropped)."""
        kwargs = {k: v for k, v in options.items() if k not in LOOP_OPTIONS and k != "rng"}
        return resolve(self.solver)(**kwargs)

    def resolve_options(self, options: Mapping[str, Any] | None, tol: float | None = None,
                        *, strict: bool = True) -> dict[str, Any]:
        """:func:`resolve_options` over this method's options."""
        return resolve_options(self.all_options(), options, owner=f"method {self.name!r}",
                               tol=tol, tol_option=self.tol_option, strict=strict)


#: The options the run loop (:func:`optkit.core.run`) consumes, not the solver.
LOOP_OPTIONS = ("maxiter", "maxfev", "max_time", "disp")

_REGISTRY: dict[str, MethodInfo] = {}
_LOADED = False


def resolve(target: str | Callable) -> Any:
    """Import ``"module:attr"`` lazily; callables are returned unchanged."""
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def register(info: MethodInfo) -> MethodInfo:
    """Add a method. Registering a name twice is an error."""
    if info.name in _REGISTRY and _REGISTRY[info.name] is not info:
        raise ValueError(f"method {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import optkit

    importlib.import_module("optkit.core._methods")
    for mod in pkgutil.iter_modules(optkit.__path__):
        if not mod.ispkg or mod.name in ("core", "_bench"):
            continue
        name = f"optkit.{mod.name}._methods"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def get_method_info(name: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``name``; unknown names list the known ones."""
    _load()
    if not isinstance(name, str):
        raise TypeError(f"method must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}{_did_you_mean(key, _REGISTRY)}; known methods: "
                         f"{sorted(_REGISTRY)}")
    return _REGISTRY[key]


def list_methods() -> list[str]:
    """Names of every registered method, sorted."""
    _load()
    return sorted(_REGISTRY)


def show_options(method: str | None = None, disp: bool = True) -> str | None:
    """Document the options of ``method`` (all methods if ``None``), as scipy's ``show_options``.

    Prints when ``disp`` is true, otherwise returns the text.
    """
    names = [method] if method is not None else list_methods()
    blocks = []
    for name in names:
        info = get_method_info(name)
        lines = [info.name, "=" * len(info.name), info.summary, f"Reference: {info.reference}",
                 f"Requires: {', '.join(sorted(info.requires))}",
                 f"Supports: {', '.join(sorted(info.supports)) or '-'}", "", "Options", "-------"]
        for opt_name, opt in info.all_options().items():
            lines.append(f"{opt_name} : {opt.doc}")
            lines.append(f"    Default: {opt.default!r}.")
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    if disp:
        print(text)
        return None
    return text
