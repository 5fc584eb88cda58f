r"""Lion and the Lion-κ family as a ``torch.optim.Optimizer``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, _default_to_fused_or_foreach

from ._common import (
    check_betas,
    check_lr,
    check_representable,
    check_weight_decay,
    compiled,
    lr_tensor,
    lr_value,
    real_view,
)
from .kappa import KAPPAS, check_kappa_options, dual_norm

__all__ = ["Lion"]

_WD_MODES = ("lr_scaled", "initial_lr_normalized")
FUSABLE = frozenset({"sign", "l2", "quadratic", "huber", "tanh", "relativistic", "softsign"})


class Lion(Optimizer):
    r"""Lion (EvoLved Sign Momentum) and Lion-κ.

    Implements X. Chen et al., "Symbolic Discovery of Optimization Algorithms",
    NeurIPS 2023, arXiv 2302.06675 (``kappa="sign"``), and its generalisation Lion-κ of
    L. Chen, B. Liu, K. Liang, Q. Liu, "Lion Secretly Solves Constrained Optimization:
    As Lyapunov Predicts", ICLR 2024, arXiv 2310.05898 (``"nuclear"``: L. Chen, J. Li,
    Q. Liu, "Muon Optimizes Under Spectral Norm Constraints", arXiv 2506.15054).
    For each parameter tensor θ with gradient g (step t, learning rate η_t):

    .. math::

        c_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
        \theta_t &= (1 - \eta_t \rho)\,\theta_{t-1} - \eta_t\, s\, \nabla\kappa(c_t) \\
        m_t &= \beta_2 m_{t-1} + (1-\beta_2) g_t

    with ρ = λ (``weight_decay_mode="lr_scaled"``, decoupled decay as google/automl,
    timm, optax) or ρ = λ/η₀ (``"initial_lr_normalized"``, η₀ the group's ``initial_lr``,
    as lion-pytorch's ``decoupled_weight_decay=True``), and s the ``scale``. No ε, no bias
    correction, sign(0) = 0; the decay is never added to g. The only state is ``exp_avg``
    (m), so Lion keeps half of AdamW's optimizer state.

    With exact gradients and ηρ ≤ 1 the iterates solve
    :math:`\min_x f(x) + \tfrac{1}{\lambda}\kappa^*(\lambda x)`; for norm-type κ this is
    :math:`\min f` s.t. :math:`\|x\|_* \le s/\lambda` per tensor (:meth:`implied_constraints`):

    ==================  ==============================================  ===================================
    ``kappa``           ∇κ(c)                                           problem solved
    ==================  ==============================================  ===================================
    ``"sign"``          sign(c)                                         min f s.t. ‖x‖∞ ≤ 1/λ
    ``"l2"``            c/‖c‖₂                                          min f s.t. ‖x‖₂ ≤ 1/λ
    ``"lp"`` (p)        sign(c)·abs(c)^{p−1}/‖c‖_p^{p−1}                min f s.t. ‖x‖_q ≤ 1/λ, 1/p+1/q=1
    ``"linf"``          sign(c_i*) e_i*, i* first argmax abs(c_i)       min f s.t. ‖x‖₁ ≤ 1/λ
    ``"sorted"`` (w)    w_rank(i) sign(c_i) (sorted ℓ1 / OWL norm)      λx in the dual OWL ball
    ``"quadratic"``     c                                               min f + (λ/2)‖x‖²
    ``"huber"`` (e)     clip(c/e, −1, 1)                                min f + (eλ/2)‖x‖² s.t. ‖x‖∞ ≤ 1/λ
    ``"tanh"`` (e)      tanh(c/e)                                       box + entropy penalty
    ``"relativistic"``  c/√(c² + e²)                                    box + e(1 − √(1 − λ²x²))/λ penalty
    ``"softsign"`` (e)  c/(abs(c) + e)                                  box + barrier-like penalty
    ``"nuclear"``       U Vᵀ, the polar factor of c = U Σ Vᵀ            min f s.t. ‖X‖_op ≤ 1/λ (Muon-like)
    ==================  ==============================================  ===================================

    Parameters
    ----------
    params : iterable
        Tensors, ``named_parameters()`` or param-group dicts.
    lr : float or Tensor, default 1e-4
        η. A one-element tensor stays a tensor (no recompiles under schedulers).
    betas : (float, float), default (0.9, 0.99)
        β₁ (interpolation for the direction) and β₂ (momentum EMA), each in [0, 1).
    weight_decay : float, default 0.0
        λ ≥ 0, decoupled.
    kappa : str or callable, default "sign"
        A name from the table, or a callable ``c -> ∇κ(c)`` of an odd convex κ (with
        no implied constraint reported). Per group.
    kappa_options : dict, optional
        ``e`` (width of the smooth κ, in gradient units: required for them), ``p``
        (``"lp"``, 1 < p < ∞), ``weights`` (``"sorted"``: non-increasing, ≥ 0, first > 0;
        missing trailing weights are 0), ``scale`` (float or ``"sqrt_numel"``, default 1),
        ``method`` (``"nuclear"``: ``"svd"`` default, or ``"newton_schulz"``, an
        approximate polar factor whose singular values stay ≤ 1), ``ns_steps`` (5).
    weight_decay_mode : {"lr_scaled", "initial_lr_normalized"}
        See ρ above.
    maximize : bool
        Ascend instead (g is negated in a temporary; ``p.grad`` is left unchanged).
    foreach : bool, optional
        Use the ``torch._foreach_*`` kernel; ``None`` picks it when every parameter
        lives on an accelerator (torch's rule). Both kernels give the same numbers.
    fused : bool, default False
        Run the group's update as one ``torch.compile``-d multi-tensor step per device and
        dtype (CPU and CUDA; elementwise κ and ``"l2"``): one vectorised loop per tensor,
        5 words of memory traffic per parameter. The first step pays the compilation, and
        so does a change of the set of tensors with a gradient. Equal to the eager kernels
        up to rounding (fused multiply-adds).
    momentum_dtype : torch.dtype, optional
        dtype of ``exp_avg`` (default: the parameter's). The direction c is always
        computed in at least fp32.

    Notes
    -----
    Complex parameters are updated through ``view_as_real``. Norm-type κ act per tensor.
    ``"nuclear"`` needs ≥ 2-D parameters (reshaped to ``(shape[0], -1)``).
    """

    def __init__(self, params, lr: float | Tensor = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, *, kappa: str | Callable = "sign",
                 kappa_options: dict | None = None, weight_decay_mode: str = "lr_scaled",
                 maximize: bool = False, foreach: bool | None = None, fused: bool = False,
                 momentum_dtype: torch.dtype | None = None):
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay, kappa=kappa,
                        kappa_options=kappa_options, weight_decay_mode=weight_decay_mode,
                        maximize=maximize, foreach=foreach, fused=fused,
                        momentum_dtype=momentum_dtype)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        try:
            self._check_group(self.param_groups[-1])
        except (ValueError, TypeError):
            self.param_groups.pop()
            raise

    @staticmethod
    def _check_group(group: dict[str, Any]) -> None:
        check_representable(group)
        lr = check_lr(group["lr"])
        check_betas(group["betas"])
        wd = check_weight_decay(group["weight_decay"])
        if group["weight_decay_mode"] not in _WD_MODES:
            raise ValueError(f"Invalid weight_decay_mode: {group['weight_decay_mode']!r}; "
                             f"expected one of {list(_WD_MODES)}")
        dtype = group["momentum_dtype"]
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"momentum_dtype must be a floating torch.dtype, got {dtype!r}")
        group["kappa_options"] = check_kappa_options(group["kappa"], group["kappa_options"])
        if group["fused"] and group["kappa"] not in FUSABLE:
            raise ValueError(f"fused=True supports kappa in {sorted(FUSABLE)}, "
                             f"got {group['kappa']!r}")
        if "initial_lr" not in group:
            group["initial_lr"] = group["lr"].clone() if isinstance(group["lr"], Tensor) else lr
        decay = wd * lr if group["weight_decay_mode"] == "lr_scaled" else wd
        if decay > 1:
            raise ValueError(f"Invalid weight_decay: the initial decay factor lr*rho = {decay} "
                             "exceeds 1")
        if group["kappa"] == "nuclear":
            names = group.get("param_names")
            for i, p in enumerate(group["params"]):
                name = names[i] if names else f"params[{i}]"
                if p.ndim < 2:
                    raise ValueError(f"kappa='nuclear' needs parameters with ndim >= 2; "
                                     f"{name} has shape {tuple(p.shape)} (put it in a 'sign' group)")
                if p.is_complex():
                    raise ValueError(f"kappa='nuclear' does not support complex parameters ({name})")

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("kappa", "sign")
            if "kappa_options" not in group:
                group["kappa_options"] = check_kappa_options(group["kappa"], None)
            group.setdefault("weight_decay_mode", "lr_scaled")
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("fused", False)
            group.setdefault("momentum_dtype", None)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's loader, except that ``exp_avg`` keeps the group's ``momentum_dtype``."""
        super().load_state_dict(state_dict)
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            dtype = group["momentum_dtype"]
            if dtype is None:
                continue
            for p, pid in zip(group["params"], saved["params"]):
                if pid in state_dict["state"] and p in self.state:
                    self.state[p]["exp_avg"] = state_dict["state"][pid]["exp_avg"].to(
                        dtype=dtype, device=p.device, copy=True)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """One Lion-κ step; ``closure`` (re-evaluating the loss) runs under ``enable_grad``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, moms = [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lion does not support sparse gradients")
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(
                        p, dtype=group["momentum_dtype"] or p.dtype,
                        memory_format=torch.preserve_format)
                params.append(p)
                grads.append(p.grad)
                moms.append(state["exp_avg"])
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:
                _, foreach = _default_to_fused_or_foreach(params, False, False)
            wd = group["weight_decay"]
            if wd == 0:
                rho = None
            elif group["weight_decay_mode"] == "lr_scaled":
                rho = wd
            else:
                rho = wd / group["initial_lr"]
            if group["fused"]:
                kernel = _fused_lion
            else:
                kernel = _foreach_lion if foreach else _single_tensor_lion
            kernel(params, grads, moms, lr=group["lr"], betas=group["betas"], rho=rho,
                   kappa=group["kappa"], options=group["kappa_options"],
                   maximize=group["maximize"])
        return loss

    @torch.no_grad()
    def implied_constraints(self) -> list[dict[str, Any]]:
        """The per-tensor constraint each parameter satisfies at the fixed point.

        Returns one dict per parameter: ``group`` and ``name`` (its
        ``named_parameters`` name or ``"params[i]"``), ``kappa``, ``norm`` (the dual
        norm: ``"linf"``, ``"l2"``, ``"lq"``, ``"l1"``, ``"sorted_dual"``, ``"op"``, or
        ``None`` when κ implies no constraint), ``radius`` (s/λ, or s·η₀/λ in the
        ``"initial_lr_normalized"`` mode; ``inf`` when λ = 0), ``value`` (the
        parameter's current norm) and ``active`` (``value >= 0.99 * radius``). With
        λ = 0.01–0.1 (common for LLMs) the sign box has radius 10–100 and is usually
        inactive; λ = 10 gives 0.1.
        """
        out = []
        for gi, group in enumerate(self.param_groups):
            kappa, opts = group["kappa"], group["kappa_options"]
            norm = KAPPAS[kappa].dual if isinstance(kappa, str) else None
            wd = group["weight_decay"]
            if group["weight_decay_mode"] == "initial_lr_normalized":
                wd = wd / lr_value(group["initial_lr"])
            names = group.get("param_names")
            for i, p in enumerate(group["params"]):
                s = _scale(opts, real_view(p))
                radius = s / wd if wd > 0 and norm is not None else math.inf
                value = dual_norm(p, kappa, opts) if norm is not None else math.nan
                out.append({"group": gi, "name": names[i] if names else f"params[{i}]",
                            "kappa": kappa if isinstance(kappa, str) else "callable",
                            "norm": norm, "radius": radius, "value": value,
                            "active": bool(value >= 0.99 * radius)})
        return out


def _scale(options: dict, p: Tensor) -> float:
    s = options["scale"]
    return math.sqrt(p.numel()) if s == "sqrt_numel" else s


def _direction_single(kappa, c: Tensor, options: dict) -> Tensor:
    if callable(kappa):
        return kappa(c)
    return KAPPAS[kappa].single(c, options)


def _compute_dtype(p: Tensor) -> torch.dtype:
    return torch.promote_types(p.dtype, torch.float32)


def _lion_tensor(p, g, m, *, lr, beta1, beta2, rho, kappa, options, maximize):
    """One tensor's Lion-κ update (the body of the single-tensor and the fused kernels)."""
    p, g, m = real_view(p), real_view(g), real_view(m)
    if maximize:
        g = torch.neg(g)
    cdt = _compute_dtype(p)
    c = m.to(cdt) if m.dtype != cdt else m
    c = torch.mul(c, beta1)
    c.add_(g.to(cdt) if g.dtype != cdt else g, alpha=1 - beta1)
    d = _direction_single(kappa, c, options)
    s = _scale(options, p)
    if s != 1:
        d.mul_(s)
    if rho is not None:
        p.mul_(1 - lr * rho)
    if isinstance(lr, Tensor):
        d.mul_(lr)
        p.sub_(d.to(p.dtype) if d.dtype != p.dtype else d)
    else:
        p.add_(d.to(p.dtype) if d.dtype != p.dtype else d, alpha=-lr)
    m.mul_(beta2)
    m.add_(g, alpha=1 - beta2)


def _single_tensor_lion(params, grads, moms, *, lr, betas, rho, kappa, options, maximize):
    for p, g, m in zip(params, grads, moms):
        _lion_tensor(p, g, m, lr=lr, beta1=betas[0], beta2=betas[1], rho=rho, kappa=kappa,
                     options=options, maximize=maximize)


def _lion_tensors(params, grads, moms, *, lr, beta1, beta2, rho, kappa, options, maximize):
    """Every tensor's update (real tensors) in one traced function: the fused kernel's graph."""
    for p, g, m in zip(params, grads, moms):
        _lion_tensor(p, g, m, lr=lr, beta1=beta1, beta2=beta2, rho=rho, kappa=kappa,
                     options=options, maximize=maximize)


def _fused_lion(params, grads, moms, *, lr, betas, rho, kappa, options, maximize):
    """One ``torch.compile``-d multi-tensor step per (device, dtype) bucket of the group.

    Inductor emits one vectorised loop per tensor that reads θ, g, m and writes θ, m (5 words
    per parameter, against AdamW's 7), all called from one compiled graph: one guard check
    and one Python call per bucket instead of per tensor. The learning rate enters as a 0-d
    tensor, so a scheduler never recompiles.
    """
    step = compiled(_lion_tensors)
    buckets = Optimizer._group_tensors_by_device_and_dtype([params, grads, moms])
    for (ps, gs, ms), _ in buckets.values():
        # complex tensors as real views: the graph (and Inductor's kernels) stays real
        ps, gs, ms = ([real_view(t) for t in ts] for ts in (ps, gs, ms))
        step(ps, gs, ms, lr=lr_tensor(lr, _compute_dtype(ps[0]), ps[0].device), beta1=betas[0],
             beta2=betas[1], rho=rho, kappa=kappa, options=options, maximize=maximize)


def _foreach_lion(params, grads, moms, *, lr, betas, rho, kappa, options, maximize):
    beta1, beta2 = betas
    buckets = Optimizer._group_tensors_by_device_and_dtype([params, grads, moms])
    for (ps, gs, ms), _ in buckets.values():
        ps = [real_view(p) for p in ps]
        gs = [real_view(g) for g in gs]
        ms = [real_view(m) for m in ms]
        if maximize:
            gs = torch._foreach_neg(gs)
        cdt = _compute_dtype(ps[0])
        cs = [m.to(cdt) for m in ms] if ms[0].dtype != cdt else ms
        cs = torch._foreach_mul(cs, beta1)
        torch._foreach_add_(cs, [g.to(cdt) for g in gs] if gs[0].dtype != cdt else gs,
                            alpha=1 - beta1)
        if callable(kappa):
            ds = [kappa(c) for c in cs]
        else:
            ds = KAPPAS[kappa].foreach(cs, options)
        if options["scale"] == "sqrt_numel":
            torch._foreach_mul_(ds, [math.sqrt(p.numel()) for p in ps])
        elif options["scale"] != 1:
            torch._foreach_mul_(ds, options["scale"])
        if rho is not None:
            torch._foreach_mul_(ps, 1 - lr * rho)
        if isinstance(lr, Tensor):
            torch._foreach_mul_(ds, lr)
        if ds[0].dtype != ps[0].dtype:
            ds = [d.to(ps[0].dtype) for d in ds]
        if isinstance(lr, Tensor):
            torch._foreach_sub_(ps, ds)
        else:
            torch._foreach_add_(ps, ds, alpha=-lr)
        torch._foreach_mul_(ms, beta2)
        torch._foreach_add_(ms, gs, alpha=1 - beta2)
