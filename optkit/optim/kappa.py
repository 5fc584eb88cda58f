r"""The κ family of Lion-κ: update directions ∇κ(c) and the constraints they imply.

Each built-in κ is convex and has an odd gradient whose values lie in the unit ball
of the dual norm; Lion-κ with decoupled weight decay λ then solves
``min f(x) + (1/λ) κ*(λ x)`` (L. Chen, B. Liu, K. Liang, Q. Liu, "Lion Secretly Solves
Constrained Optimization: As Lyapunov Predicts", ICLR 2024, arXiv 2310.05898).

Every direction acts on one tensor ``c`` (the interpolated momentum, in a float dtype
of at least fp32) and may overwrite it. The foreach variants take lists and run the
same operations in the same order, so both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["KAPPAS", "Kappa", "check_kappa_options", "dual_norm"]


def _tiny(c: Tensor) -> float:
    return torch.finfo(c.dtype).tiny


# --- elementwise κ -------------------------------------------------------------------------

def _sign(c, o):
    return c.sign_()


def _sign_fe(cs, o):
    torch._foreach_sign_(cs)
    return cs


def _quadratic(c, o):
    return c


def _quadratic_fe(cs, o):
    return cs


def _huber(c, o):
    return c.div_(o["e"]).clamp_(-1.0, 1.0)


def _huber_fe(cs, o):
    torch._foreach_div_(cs, o["e"])
    torch._foreach_clamp_min_(cs, -1.0)
    torch._foreach_clamp_max_(cs, 1.0)
    return cs


def _tanh(c, o):
    return c.div_(o["e"]).tanh_()


def _tanh_fe(cs, o):
    torch._foreach_div_(cs, o["e"])
    torch._foreach_tanh_(cs)
    return cs


def _relativistic(c, o):
    den = c.mul(c).add_(o["e"] ** 2).sqrt_()
    return c.div_(den)


def _relativistic_fe(cs, o):
    den = torch._foreach_mul(cs, cs)
    torch._foreach_add_(den, o["e"] ** 2)
    torch._foreach_sqrt_(den)
    torch._foreach_div_(cs, den)
    return cs


def _softsign(c, o):
    den = c.abs().add_(o["e"])
    return c.div_(den)


def _softsign_fe(cs, o):
    den = torch._foreach_abs(cs)
    torch._foreach_add_(den, o["e"])
    torch._foreach_div_(cs, den)
    return cs


# --- norm κ (per tensor) --------------------------------------------------------------------

def _l2(c, o):
    norm = torch.linalg.vector_norm(c)
    return c.div_(norm.clamp_min_(_tiny(c)))


def _l2_fe(cs, o):
    norms = list(torch._foreach_norm(cs))
    torch._foreach_clamp_min_(norms, _tiny(cs[0]))
    torch._foreach_div_(cs, norms)
    return cs


def _lp(c, o):
    # ∇‖c‖_p is 0-homogeneous: evaluate on c/‖c‖∞ so |c|^(p-1) cannot overflow.
    p = o["p"]
    c.div_(c.abs().amax().clamp_min_(_tiny(c)))
    norm = torch.linalg.vector_norm(c, ord=p).pow_(p - 1).clamp_min_(_tiny(c))
    return c.abs().pow_(p - 1).mul_(c.sign()).div_(norm)


def _linf(c, o):
    flat = c.reshape(-1)
    i = flat.abs().argmax()  # first maximiser
    d = torch.zeros_like(flat)
    d[i] = flat[i].sign()
    return d.view_as(c)


def _sorted(c, o):
    flat = c.reshape(-1)
    w = o["weights"]
    n = flat.numel()
    w = torch.as_tensor(w[:n] + [0.0] * (n - len(w[:n])), dtype=c.dtype, device=c.device)
    order = flat.abs().argsort(descending=True, stable=True)
    d = torch.empty_like(flat)
    d[order] = w
    return d.mul_(flat.sign()).view_as(c)


def _nuclear(c, o):
    mat = c.reshape(c.shape[0], -1)
    if o["method"] == "svd":
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        # keep only the numerically non-zero singular directions: c = 0 gives 0
        keep = s > s.amax() * (max(mat.shape) * torch.finfo(s.dtype).eps)
        d = (u * keep.to(u.dtype)) @ vh
    else:
        # Newton–Schulz quintic f(σ) = (15σ − 10σ³ + 3σ⁵)/8 from X/‖X‖_F: singular values
        # stay in [0, 1] and rise monotonically towards 1 (approximate polar factor).
        tall = mat.shape[0] > mat.shape[1]
        x = mat.mT if tall else mat
        x = x / torch.linalg.matrix_norm(x).clamp_min(_tiny(c))
        for _ in range(o["ns_steps"]):
            a = x @ x.mT
            x = (15 * x - (10 * a - 3 * a @ a) @ x) / 8
        d = x.mT if tall else x
    return d.reshape(c.shape)


def _loop(fn: Callable) -> Callable:
    def run(cs, o):
        return [fn(c, o) for c in cs]

    return run


@dataclass(frozen=True)
class Kappa:
    """One κ: its direction ∇κ (single and foreach), required options and dual norm."""

    name: str
    single: Callable[[Tensor, Mapping], Tensor]
    foreach: Callable[[list, Mapping], list]
    dual: str | None  # the dual norm bounding ∇κ (the constraint on λθ), None: no constraint
    requires: tuple = ()


KAPPAS: dict[str, Kappa] = {
    k.name: k for k in [
        Kappa("sign", _sign, _sign_fe, "linf"),
        Kappa("l2", _l2, _l2_fe, "l2"),
        Kappa("lp", _lp, _loop(_lp), "lq", ("p",)),
        Kappa("linf", _linf, _loop(_linf), "l1"),
        Kappa("sorted", _sorted, _loop(_sorted), "sorted_dual", ("weights",)),
        Kappa("quadratic", _quadratic, _quadratic_fe, None),
        Kappa("huber", _huber, _huber_fe, "linf", ("e",)),
        Kappa("tanh", _tanh, _tanh_fe, "linf", ("e",)),
        Kappa("relativistic", _relativistic, _relativistic_fe, "linf", ("e",)),
        Kappa("softsign", _softsign, _softsign_fe, "linf", ("e",)),
        Kappa("nuclear", _nuclear, _loop(_nuclear), "op"),
    ]
}

_OPTION_NAMES = {"e", "p", "weights", "scale", "method", "ns_steps"}


def check_kappa_options(kappa: Any, options: Mapping | None) -> dict:
    """Validate ``kappa`` and its options; return the options with defaults filled in."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise TypeError(f"kappa_options must be a dict, got {type(options).__name__}")
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise ValueError(f"unknown kappa_options {unknown}; known: {sorted(_OPTION_NAMES)}")
    if callable(kappa):
        info = None
    elif isinstance(kappa, str) and kappa in KAPPAS:
        info = KAPPAS[kappa]
    else:
        raise ValueError(f"Invalid kappa: {kappa!r}; expected one of {sorted(KAPPAS)} "
                         "or a callable returning the gradient of an odd convex function")
    out = {"scale": 1.0, "method": "svd", "ns_steps": 5, **options}
    for key in info.requires if info is not None else ():
        if key not in options:
            raise ValueError(f"kappa={kappa!r} requires kappa_options[{key!r}]")
    if "e" in out:
        e = out["e"]
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e < math.inf:
            raise ValueError(f"Invalid kappa_options['e']: {e!r} (a positive width)")
        out["e"] = float(e)
    if "p" in out:
        p = out["p"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 1 < p < math.inf:
            raise ValueError(f"Invalid kappa_options['p']: {p!r} (need 1 < p < inf)")
        out["p"] = float(p)
    if "weights" in out:
        w = [float(v) for v in out["weights"]]
        if (not w or w[0] <= 0 or any(v < 0 for v in w)
                or any(b > a for a, b in zip(w, w[1:]))):
            raise ValueError("Invalid kappa_options['weights']: need non-increasing, >= 0, "
                             "first > 0")
        out["weights"] = w
    scale = out["scale"]
    if scale != "sqrt_numel" and (isinstance(scale, bool) or not isinstance(scale, (int, float))
                                  or not 0 < scale < math.inf):
        raise ValueError(f"Invalid kappa_options['scale']: {scale!r} (a positive float or "
                         "'sqrt_numel')")
    if out["method"] not in ("svd", "newton_schulz"):
        raise ValueError(f"Invalid kappa_options['method']: {out['method']!r} "
                         "(expected 'svd' or 'newton_schulz')")
    ns = out["ns_steps"]
    if isinstance(ns, bool) or not isinstance(ns, int) or ns < 1:
        raise ValueError(f"Invalid kappa_options['ns_steps']: {ns!r} (an integer >= 1)")
    return out


def dual_norm(x: Tensor, kappa: str, options: Mapping) -> float:
    """The norm ‖x‖_* of the dual ball that contains every ∇κ (so ‖λθ‖_* ≤ scale holds)."""
    dual = KAPPAS[kappa].dual
    x = x.detach()
    x = (torch.view_as_real(x) if x.is_complex() else x).to(torch.float64)
    flat = x.reshape(-1)
    if dual == "linf":
        return float(flat.abs().max())
    if dual == "l2":
        return float(torch.linalg.vector_norm(flat))
    if dual == "l1":
        return float(flat.abs().sum())
    if dual == "lq":
        p = options["p"]
        return float(torch.linalg.vector_norm(flat, ord=p / (p - 1)))
    if dual == "op":
        return float(torch.linalg.matrix_norm(x.reshape(x.shape[0], -1), ord=2))
    # sorted ℓ1 (OWL) norm: its dual is max_k Σ_{i≤k}|x|_(i) / Σ_{i≤k} w_i
    w = torch.tensor(options["weights"], dtype=torch.float64)
    top = flat.abs().sort(descending=True).values.cumsum(0)
    k = min(len(w), top.numel())
    ratios = top[:k] / w.cumsum(0)[:k]
    tail = top[k:] / w.sum()  # weights beyond len(w) are 0: partial sums stay at Σw
    return float(torch.cat([ratios, tail]).max())
