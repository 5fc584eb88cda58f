r"""⊥Grad: project each gradient orthogonally to its parameter, then step any optimizer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ._common import check_half_eps, check_representable, real_view

__all__ = ["PerpAdamW", "PerpGrad", "PerpSGD"]

#: g⊥ with ‖g⊥‖ <= this many machine epsilons times ‖g‖ is a rounding remainder: set to 0
_ROUNDING_ULPS = 8


class PerpGrad(Optimizer):
    r"""⊥Grad wrapper around any ``torch.optim.Optimizer``.

    Implements L. Prieto, M. Barsbey, P. A. M. Mediano, T. Birdal, "Grokking at the Edge
    of Numerical Stability", ICLR 2025, arXiv 2501.04697, Def. 7 / Eq. 12 (reference code:
    LucasPrietoAl/grokking-at-the-edge-of-numerical-stability, ``orthograd.py``). Per
    parameter tensor, with w = θ and g = ∇L flattened, in fp32 (fp64 stays fp64):

    .. math::

        g_\perp = g - \frac{\langle w, g\rangle}{\langle w, w\rangle + \epsilon}\, w,
        \qquad\text{optionally}\quad g_\perp \leftarrow g_\perp\,
        \frac{\|g\|}{\|g_\perp\| + \epsilon}

    and the base optimizer then steps on g⊥, which is written into ``p.grad``. A g⊥ at
    rounding level, ‖g⊥‖ <= 8 ε_mach ‖g‖ (ε_mach of the computing dtype), is set to exactly
    0: it is the floating-point remainder of a projection whose exact value is 0 (always
    so for a one-element tensor, where g ∥ w), and a scale-free base such as Adam would
    turn it into full steps of size lr. A non-zero
    g⊥ is a descent direction (⟨g, g⊥⟩ = ‖g⊥‖², Prop. 2); the projection removes the
    radial component that scales the logits up (the route to Softmax Collapse).
    ``rescale=False`` (default) is the paper's Eq. 12; ``rescale=True`` keeps ‖g‖ as the
    reference code and pytorch_optimizer's ``OrthoGrad`` do (it explodes when g ∥ w).

    Parameters
    ----------
    base : Optimizer class or instance
        A class is built as ``base(params, **base_kwargs)`` with every keyword (the
        reference passed only lr and weight_decay); an instance is wrapped as is, and then
        ``params`` and ``base_kwargs`` must be empty.
    params : iterable, optional
        The parameters (with a class ``base``).
    rescale : bool, default False
        Default of the per-group key ``perp_rescale``.
    perp_eps : float, default 1e-30
        The ε of the projection (named so that ``eps=`` reaches the base, e.g. AdamW).
    **base_kwargs
        Passed to ``base``.

    Notes
    -----
    The wrapper shares the base's ``param_groups`` and ``state`` (also after
    ``load_state_dict``), so LR schedulers and checkpoints work on either. Groups get
    the keys ``perp`` (project, default True) and ``perp_rescale``. ``step(closure)`` runs
    the closure first, projects, then calls ``base.step()`` without the closure (handing
    it over would recompute the gradient and undo the projection). A base's coupled L2
    decay is added after the projection and so is not projected. Sparse gradients raise
    ``RuntimeError``; complex parameters are projected through ``view_as_real``.
    """

    def __init__(self, base, params=None, *, rescale: bool = False, perp_eps: float = 1e-30,
                 **base_kwargs):
        if isinstance(base, type) and issubclass(base, Optimizer):
            if params is None:
                raise ValueError("params is required when base is an optimizer class")
            try:
                base = base(params, **base_kwargs)
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                # torch's messages do not name the keyword (and a dict for betas is a KeyError)
                kind = ValueError if isinstance(exc, ValueError) else TypeError
                raise kind(f"{base.__name__} rejected its arguments "
                           f"{sorted(base_kwargs) or ['params']}: {type(exc).__name__}: "
                           f"{exc}") from exc
        elif isinstance(base, Optimizer):
            if params is not None or base_kwargs:
                raise ValueError("params and base keyword arguments must be empty when base "
                                 "is an optimizer instance")
        else:
            raise TypeError(f"base must be a torch.optim.Optimizer class or instance, got "
                            f"{type(base).__name__}")
        if not isinstance(rescale, bool):
            raise TypeError(f"rescale must be a bool, got {type(rescale).__name__}")
        if (isinstance(perp_eps, bool) or not isinstance(perp_eps, (int, float))
                or not 0 <= perp_eps < 1):
            raise ValueError(f"Invalid perp_eps value: {perp_eps}")
        for group in base.param_groups:
            _check_base_group(group)
        self.base = base
        self.rescale = rescale
        self.perp_eps = float(perp_eps)
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        self._patch_step_function()
        for group in base.param_groups:
            self._set_group_defaults(group)

    def _set_group_defaults(self, group: dict[str, Any]) -> None:
        group.setdefault("perp", True)
        group.setdefault("perp_rescale", self.rescale)

    # the base's containers, always (its load_state_dict replaces its list)
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.base.param_groups

    @property
    def state(self):
        return self.base.state

    @property
    def defaults(self) -> dict[str, Any]:
        return self.base.defaults

    def __repr__(self) -> str:
        return f"PerpGrad(rescale={self.rescale}, base={self.base!r})"

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self._set_group_defaults(param_group)
        self.base.add_param_group(param_group)
        try:
            _check_base_group(self.base.param_groups[-1])
        except (ValueError, TypeError):
            self.base.param_groups.pop()
            raise

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The base's ``state_dict``, with this wrapper's state-dict hooks run around it."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        state_dict = self.base.state_dict()
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            hook_result = post_hook(self, state_dict)
            if hook_result is not None:
                state_dict = hook_result
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """The base's ``load_state_dict``, with this wrapper's load hooks run around it."""
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            hook_result = pre_hook(self, state_dict)
            if hook_result is not None:
                state_dict = hook_result
        self.base.load_state_dict(state_dict)
        for group in self.base.param_groups:
            self._set_group_defaults(group)
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    @torch.no_grad()
    def project_(self) -> None:
        """Replace every ``p.grad`` of a ``perp`` group by its ⊥ projection, in place."""
        for group in self.param_groups:
            if not group["perp"]:
                continue
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("PerpGrad does not support sparse gradients")
                real_view(p.grad).copy_(_project(p, p.grad, group["perp_rescale"], self.perp_eps))

    def step(self, closure: Callable[[], Any] | None = None):
        """Run ``closure`` (under ``enable_grad``), project the gradients, step the base."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.project_()
        self._step_base()
        return loss

    def _step_base(self) -> None:
        """``base.step()`` with the base's own step hooks, but not the global ones.

        torch's global optimizer step hooks already fired around this wrapper's ``step``;
        running them again for the base would count one step twice.
        """
        base = self.base
        step = type(base).step
        if not getattr(step, "hooked", False):
            step(base)
            return
        args, kwargs = (base,), {}
        for pre_hook in base._optimizer_step_pre_hooks.values():
            result = pre_hook(base, args, kwargs)
            if result is not None:
                args, kwargs = result
        step.__wrapped__(*args, **kwargs)
        for post_hook in base._optimizer_step_post_hooks.values():
            post_hook(base, args, kwargs)


def _project(p: Tensor, grad: Tensor, rescale: bool, eps: float) -> Tensor:
    """g⊥ of ``real_view(grad)`` w.r.t. ``real_view(p)``, in at least fp32."""
    w, g = real_view(p.detach()), real_view(grad)
    dtype = torch.promote_types(w.dtype, torch.float32)
    shape = g.shape
    w, g = w.reshape(-1).to(dtype), g.reshape(-1).to(dtype)
    g_perp = g - (torch.dot(w, g) / (torch.dot(w, w) + eps)) * w
    g_norm, perp_norm = torch.linalg.vector_norm(g), torch.linalg.vector_norm(g_perp)
    # rounding-level remainder of an exact 0 (e.g. every one-element tensor): exactly 0
    keep = perp_norm > _ROUNDING_ULPS * torch.finfo(dtype).eps * g_norm
    if rescale:
        g_perp = g_perp * (g_norm / (perp_norm + eps))
    g_perp = torch.where(keep, g_perp, torch.zeros((), dtype=dtype, device=g.device))
    # saturate at the gradient dtype's range: |g⊥|_2 <= |g|_2, but one entry of g⊥ can exceed
    # every entry of g, and a float16 gradient near its maximum would otherwise become inf
    limit = torch.finfo(real_view(grad).dtype).max
    return g_perp.clamp_(-limit, limit).reshape(shape)


def _check_base_group(group: dict[str, Any]) -> None:
    """A base group's ``lr``, ``eps``, ``weight_decay`` fit the parameters' dtypes
    (:func:`~optkit.optim._common.check_representable`: torch checks only their sign), its
    ``betas`` are a pair, and an Adam-type base on float16 has an ``eps`` that is not 0 in
    float16: the projection makes a gradient exactly zero whenever it is parallel to the
    weight (always on one-element tensors) (:func:`~optkit.optim._common.check_half_eps`)."""
    check_representable(group)
    check_half_eps(group.get("eps"), group["params"])
    betas = group.get("betas")  # torch checks each beta's range, not that there are two
    if betas is not None and (not isinstance(betas, (tuple, list)) or len(betas) != 2):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")


class PerpSGD(PerpGrad):
    """``PerpGrad(torch.optim.SGD, params, **kwargs)``: ⊥SGD, the registry's ``"perp-sgd"``."""

    def __init__(self, params, *, rescale: bool = False, perp_eps: float = 1e-30, **kwargs):
        super().__init__(torch.optim.SGD, params, rescale=rescale, perp_eps=perp_eps, **kwargs)


class PerpAdamW(PerpGrad):
    """``PerpGrad(torch.optim.AdamW, params, weight_decay=weight_decay, **kwargs)``: ⊥AdamW.

    The paper's main optimizer and the registry's ``"perp-adamw"``. ``eps`` is AdamW's;
    the projection's is ``perp_eps``. ``weight_decay`` defaults to 0 (not AdamW's 0.01):
    the projection, not decay, keeps the weight norm from feeding Softmax Collapse.
    """

    def __init__(self, params, *, rescale: bool = False, perp_eps: float = 1e-30,
                 weight_decay: float = 0.0, **kwargs):
        super().__init__(torch.optim.AdamW, params, rescale=rescale, perp_eps=perp_eps,
                         weight_decay=weight_decay, **kwargs)
