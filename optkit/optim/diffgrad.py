r"""diffGrad as a ``torch.optim.Optimizer``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, _default_to_fused_or_foreach, _get_scalar_dtype

from ._common import (
    check_betas,
    check_eps,
    check_half_eps,
    check_lr,
    check_representable,
    check_weight_decay,
    compiled,
    lr_tensor,
    lr_value,
    real_view,
)

__all__ = ["DiffGrad"]


class DiffGrad(Optimizer):
    r"""diffGrad: Adam whose step is scaled by a friction on the gradient change.

    Implements S. R. Dubey, S. Chakraborty, S. K. Roy, S. Mukherjee, S. K. Singh,
    B. B. Chaudhuri, "diffGrad: An Optimization Method for Convolutional Neural Networks",
    IEEE TNNLS 31(11):4500–4511, 2020, arXiv 1909.11015 (Eq. 20; reference code
    shivram1987/diffGrad, ``diffGrad_v2.py``). Per tensor, at step t:

    .. math::

        \tilde g_t &= g_t \;(+\,\lambda\theta_{t-1}\text{ for coupled L2}) \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\tilde g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\tilde g_t^2 \\
        \xi_t &= \sigma(|\tilde g_{t-1} - \tilde g_t|) \in [\tfrac12, 1), \qquad \tilde g_0 = 0 \\
        \theta_t &= \theta_{t-1} - \eta\,\xi_t\,\frac{m_t/(1-\beta_1^t)}
                    {\sqrt{v_t/(1-\beta_2^t)} + \epsilon}

    With ``decoupled_weight_decay=True`` the decay is θ ← (1 − ηλ)θ first and the raw
    gradient feeds m, v and ξ. The friction ξ is applied at every step (with a constant
    gradient ξ = ½ from step 2: half of Adam's step) and the previous gradient is a
    copy, not a reference to ``p.grad`` (the aliasing bug of the original
    ``diffGrad.py``). ε is added to √v̂ as in the paper and ``torch.optim.Adam``. ``p.grad``
    is never modified. State: ``step``, ``exp_avg``, ``exp_avg_sq``, ``prev_grad``.

    Parameters
    ----------
    params : iterable
        Tensors, ``named_parameters()`` or param-group dicts.
    lr : float or Tensor, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
        On float16 parameters it must not round to 0 in float16 (the default does: pass
        e.g. 1e-4), else a zero gradient gives 0/0 = NaN; ``ValueError`` otherwise.
    weight_decay : float, default 0.0
        λ; coupled L2 (added to the gradient in a temporary) unless ``decoupled_weight_decay``.
    decoupled_weight_decay : bool, default False
    maximize : bool, default False
    foreach : bool, optional
        ``True``: the ``torch._foreach_*`` kernel; ``False``: the single-tensor kernel (the
        reference the others are tested against).
    capturable : bool, default False
        Keep ``step`` on the parameter's device and compute the bias corrections there
        (CUDA graphs, ``torch.compile`` without graph breaks); the step stays in eager torch
        ops.
    fused : bool, optional
        ``True``: the group's update as one ``torch.compile``-d multi-tensor step per device
        and dtype (CPU and CUDA): one vectorised loop per tensor, 9 words of memory traffic
        per parameter, the bias corrections computed once per step outside the loop. The
        first step pays the compilation, and so does a change of the set of tensors with a
        gradient. ``False``: no fused kernel of either kind (eager torch ops only).

    Notes
    -----
    Kernel resolution, per step and parameter group (torch.optim's ``foreach=None,
    fused=None`` convention):

    1. ``fused=True``: the compiled multi-tensor step.
    2. ``foreach=True`` or ``foreach=False``: that eager kernel.
    3. Otherwise (``foreach=None``), with ``fused=None`` (the default) and neither
       ``capturable`` nor tracing by ``torch.compile``: every parameter whose parameter,
       gradient and state are dense, contiguous CPU tensors of one dtype, float32, float64,
       complex64 or complex128 (plain ``Tensor``/``Parameter``, no conjugate or negative
       bit), takes the one-pass numba kernel (``optkit.optim._cpu_kernels``): one loop per
       tensor reading θ, g, m, v, g_prev and writing θ, m, v, g_prev (9 words per parameter
       against ~38 for the eager kernels), threaded over ``torch.get_num_threads()``,
       compiled on first use per dtype (~1–2 s) and then loaded from numba's disk cache.
    4. The remaining parameters (other devices or dtypes, non-contiguous tensors, or
       ``fused=False``): ``foreach`` when every one of them is on an accelerator
       (``torch.optim``'s rule), the single-tensor kernel otherwise.

    All kernels share the state layout (``state_dict`` moves between them) and keep
    per-tensor step counts; they agree up to rounding (the single-tensor and foreach
    kernels bitwise).
    """

    def __init__(self, params, lr: float | Tensor = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *,
                 decoupled_weight_decay: bool = False, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 fused: bool | None = None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, fused=fused)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            check_representable(group)
            check_lr(group["lr"])
            check_betas(group["betas"])
            check_eps(group["eps"])
            check_half_eps(group["eps"], group["params"])
            check_weight_decay(group["weight_decay"])
        except (ValueError, TypeError):
            self.param_groups.pop()
            raise

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("fused", None)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """One diffGrad step; ``closure`` runs under ``enable_grad`` and its loss is returned."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lists: list[list[Tensor]] = [[], [], [], [], [], []]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("DiffGrad does not support sparse gradients")
                state = self.state[p]
                if len(state) == 0:
                    on_device = group["capturable"] or group["fused"]
                    device = p.device if on_device else "cpu"
                    state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype(), device=device)
                    for key in ("exp_avg", "exp_avg_sq", "prev_grad"):
                        state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
                for lst, t in zip(lists, (p, p.grad, state["exp_avg"], state["exp_avg_sq"],
                                          state["prev_grad"], state["step"])):
                    lst.append(t)
            if not lists[0]:
                continue
            options = dict(lr=group["lr"], betas=group["betas"], eps=group["eps"],
                           weight_decay=group["weight_decay"],
                           decoupled=group["decoupled_weight_decay"],
                           maximize=group["maximize"], capturable=group["capturable"])
            if group["fused"]:
                _fused_diffgrad(*lists, **options)
                continue
            if (group["foreach"] is None and group["fused"] is None and not group["capturable"]
                    and not torch.compiler.is_compiling()):
                one_pass = [_one_pass_eligible(ts) for ts in zip(*lists[:5])]
                if any(one_pass):
                    _one_pass_diffgrad(*([t for t, ok in zip(lst, one_pass) if ok]
                                         for lst in lists), **options)
                    lists = [[t for t, ok in zip(lst, one_pass) if not ok] for lst in lists]
                    if not lists[0]:
                        continue
            foreach = group["foreach"]
            if foreach is None:
                _, foreach = _default_to_fused_or_foreach(lists[0], False, False)
            kernel = _foreach_diffgrad if foreach else _single_tensor_diffgrad
            kernel(*lists, **options)
        return loss


def _bias_corrections(step: Tensor, betas, capturable: bool):
    """(1 − β₁ᵗ, √(1 − β₂ᵗ)) as Python floats, or tensors when capturable."""
    beta1, beta2 = betas
    if capturable:
        return 1 - beta1 ** step, (1 - beta2 ** step).sqrt()
    t = step.item()
    return 1 - beta1 ** t, math.sqrt(1 - beta2 ** t)


def _decayed_gradient(p, g, lr, weight_decay, decoupled, maximize):
    """The gradient after ``maximize`` and weight decay: decoupled (AdamW) shrinks ``p`` in
    place, coupled (L2) returns g + λp."""
    if maximize:
        g = torch.neg(g)
    if weight_decay != 0:
        if decoupled:
            p.mul_(1 - lr * weight_decay)
        else:
            g = torch.add(g, p, alpha=weight_decay)
    return g


def _diffgrad_tensor(p, g, m, v, prev, step, *, lr, beta1, beta2, eps, weight_decay, decoupled,
                     maximize, capturable):
    """One tensor's diffGrad update (the body of the single-tensor kernel)."""
    p, g, m, v, prev = (real_view(t) for t in (p, g, m, v, prev))
    g = _decayed_gradient(p, g, lr, weight_decay, decoupled, maximize)
    step.add_(1)
    bc1, bc2_sqrt = _bias_corrections(step, (beta1, beta2), capturable)
    m.mul_(beta1)
    m.add_(g, alpha=1 - beta1)
    v.mul_(beta2)
    v.addcmul_(g, g, value=1 - beta2)
    xi = torch.sub(prev, g)
    xi.abs_()
    xi.sigmoid_()
    prev.copy_(g)
    denom = torch.sqrt(v)
    denom.div_(bc2_sqrt)
    denom.add_(eps)
    xi.mul_(m)
    xi.div_(denom)
    xi.mul_(lr)  # then / bc1: a float and a tensor lr give the same numbers
    xi.div_(bc1)
    p.sub_(xi)


def _single_tensor_diffgrad(params, grads, exp_avgs, exp_avg_sqs, prev_grads, steps, *, lr,
                            betas, eps, weight_decay, decoupled, maximize, capturable):
    for p, g, m, v, prev, step in zip(params, grads, exp_avgs, exp_avg_sqs, prev_grads, steps):
        _diffgrad_tensor(p, g, m, v, prev, step, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps,
                         weight_decay=weight_decay, decoupled=decoupled, maximize=maximize,
                         capturable=capturable)


_ONE_PASS_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _one_pass_eligible(tensors) -> bool:
    """Whether a parameter, its gradient and its state (θ, g, m, v, g_prev) can take the
    one-pass CPU kernel: plain dense contiguous CPU tensors of one supported dtype."""
    dtype = tensors[0].dtype
    return dtype in _ONE_PASS_DTYPES and all(
        type(t) in (Tensor, torch.nn.Parameter) and t.device.type == "cpu"
        and t.layout == torch.strided and t.dtype == dtype and t.is_contiguous()
        and not t.is_conj() and not t.is_neg()
        for t in tensors)


def _one_pass_diffgrad(params, grads, exp_avgs, exp_avg_sqs, prev_grads, steps, *, lr, betas,
                       eps, weight_decay, decoupled, maximize, capturable):
    """The default CPU kernel: one numba loop per tensor, 9 words per parameter
    (:func:`optkit.optim._cpu_kernels.diffgrad_`); the step counts and bias corrections
    are per tensor, as in :func:`_single_tensor_diffgrad`."""
    from ._cpu_kernels import diffgrad_

    torch._foreach_add_(steps, 1)
    diffgrad_([real_view(t) for t in params], [real_view(t) for t in grads],
              [real_view(t) for t in exp_avgs], [real_view(t) for t in exp_avg_sqs],
              [real_view(t) for t in prev_grads], [step.item() for step in steps],
              lr=lr_value(lr), beta1=betas[0], beta2=betas[1], eps=eps,
              weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)


def _diffgrad_tensors(params, grads, exp_avgs, exp_avg_sqs, prev_grads, step_sizes, inv_bc2_sqrts,
                      lr, *, beta1, beta2, eps, weight_decay, decoupled, maximize):
    r"""The fused update of one (device, dtype) bucket (real tensors), traced as one graph.

    Per tensor i the same maths as :func:`_diffgrad_tensor`, written with one division:
    with :math:`\xi = 1/(1 + e^{-|\tilde g_{t-1} - \tilde g_t|})`,

    .. math::

        \theta \leftarrow \theta - \frac{s_i\, m_t}
            {\bigl(\sqrt{v_t}\, r_i + \epsilon\bigr)\bigl(1 + e^{-|\tilde g_{t-1} - \tilde g_t|}\bigr)},
        \qquad s_i = \frac{\eta}{1 - \beta_1^t},\quad r_i = \frac{1}{\sqrt{1 - \beta_2^t}},

    where ``step_sizes[i]`` = s_i and ``inv_bc2_sqrts[i]`` = r_i are computed outside the
    loop (inside it, Inductor evaluated the two powers and the square root once per SIMD
    vector: that, and four divisions, made the former per-tensor compiled step
    compute-bound).
    """
    for i, (p, g, m, v, prev) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs, prev_grads)):
        g = _decayed_gradient(p, g, lr, weight_decay, decoupled, maximize)
        m.mul_(beta1)
        m.add_(g, alpha=1 - beta1)
        v.mul_(beta2)
        v.addcmul_(g, g, value=1 - beta2)
        inv_friction = torch.sub(prev, g).abs_().neg_().exp_().add_(1)
        prev.copy_(g)
        denom = torch.sqrt(v).mul_(inv_bc2_sqrts[i]).add_(eps).mul_(inv_friction)
        p.sub_(torch.mul(m, step_sizes[i]).div_(denom))


def _fused_diffgrad(params, grads, exp_avgs, exp_avg_sqs, prev_grads, steps, *, lr, betas, eps,
                    weight_decay, decoupled, maximize, capturable):
    """One ``torch.compile``-d multi-tensor step per (device, dtype) bucket of the group.

    The steps are counted and the bias corrections computed for the whole bucket at once
    (a handful of eager ops on a vector of step counts, in float64); the compiled graph then
    reads θ, g, m, v, g_prev and writes θ, m, v, g_prev: 9 words per parameter, one ``exp``,
    one ``sqrt`` and one division. ``steps`` live on the parameters' device (``capturable``
    is implied).
    """
    beta1, beta2 = betas
    kernel = compiled(_diffgrad_tensors)
    buckets = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, exp_avgs, exp_avg_sqs, prev_grads, steps])
    for (ps, gs, ms, vs, prevs, sts), _ in buckets.values():
        # complex tensors as real views: the graph (and Inductor's kernels) stays real
        ps, gs, ms, vs, prevs = ([real_view(t) for t in ts] for ts in (ps, gs, ms, vs, prevs))
        torch._foreach_add_(sts, 1)
        device = ps[0].device
        dtype = torch.promote_types(ps[0].dtype, torch.float32)
        t = torch.stack(sts).to(torch.float64)
        lr64 = lr_tensor(lr, torch.float64, device)
        step_sizes = (lr64 / (1 - torch.pow(beta1, t))).to(dtype)
        inv_bc2_sqrts = torch.rsqrt(1 - torch.pow(beta2, t)).to(dtype)
        kernel(ps, gs, ms, vs, prevs, step_sizes, inv_bc2_sqrts, lr_tensor(lr, dtype, device),
               beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
               decoupled=decoupled, maximize=maximize)


def _foreach_diffgrad(params, grads, exp_avgs, exp_avg_sqs, prev_grads, steps, *, lr, betas,
                      eps, weight_decay, decoupled, maximize, capturable):
    beta1, beta2 = betas
    buckets = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, exp_avgs, exp_avg_sqs, prev_grads, steps])
    for (ps, gs, ms, vs, prevs, sts), _ in buckets.values():
        ps, gs, ms, vs, prevs = ([real_view(t) for t in lst] for lst in (ps, gs, ms, vs, prevs))
        if maximize:
            gs = torch._foreach_neg(gs)
        if weight_decay != 0:
            if decoupled:
                torch._foreach_mul_(ps, 1 - lr * weight_decay)
            else:
                gs = torch._foreach_add(gs, ps, alpha=weight_decay)
        torch._foreach_add_(sts, 1)
        corrections = [_bias_corrections(s, betas, capturable) for s in sts]
        bc1s = [c for c, _ in corrections]
        bc2_sqrts = [c for _, c in corrections]
        torch._foreach_mul_(ms, beta1)
        torch._foreach_add_(ms, gs, alpha=1 - beta1)
        torch._foreach_mul_(vs, beta2)
        torch._foreach_addcmul_(vs, gs, gs, value=1 - beta2)
        xis = torch._foreach_sub(prevs, gs)
        torch._foreach_abs_(xis)
        torch._foreach_sigmoid_(xis)
        torch._foreach_copy_(prevs, gs)
        denoms = torch._foreach_sqrt(vs)
        torch._foreach_div_(denoms, bc2_sqrts)
        torch._foreach_add_(denoms, eps)
        torch._foreach_mul_(xis, ms)
        torch._foreach_div_(xis, denoms)
        torch._foreach_mul_(xis, lr)
        torch._foreach_div_(xis, bc1s)
        torch._foreach_sub_(ps, xis)
