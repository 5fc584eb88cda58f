r"""MeZO: memory-efficient zeroth-order (SPSA) optimization with the seed trick.

The random direction :math:`z` is never stored: every tensor's slice of it is
regenerated from a seed derived from ``(base_seed, step, direction, tensor, chunk)``
(on CPU by the counter-based kernels of ``optkit.zeroth._directions``, fused with the
in-place update; on other devices by a ``torch.Generator`` per tensor and chunk), so the
perturbation and the update issue exactly the same random draws, whatever the tensor
shapes, layouts or the order in which the tensors are visited.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Callable, Iterable

import numpy as np
import torch

from optkit.core.rng import check_torch_rng
from optkit.core.validate import check_in, check_int, check_nonnegative, check_positive
from optkit.optim._common import check_representable

__all__ = ["MeZO", "probe_directional_derivatives", "zo_grad_"]

_ESTIMATORS = ("central", "forward")
_UPDATES = ("sgd", "sign", "elementwise_sign")
_RESTORES = ("inplace", "copy")
_NONFINITE = ("raise", "skip")
_DISTRIBUTIONS = ("gaussian", "rademacher")
_RECENT = 256


_MASK = (1 << 64) - 1


def _seed_of(*key: int) -> int:
    """A 63-bit seed from the integer key: a chain of SplitMix64 finalizers (Steele et al., 2014)."""
    h = 0x9E3779B97F4A7C15
    for k in key:
        h = (h ^ (k & _MASK)) + 0x9E3779B97F4A7C15 & _MASK
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _MASK
        h ^= h >> 31
    return h >> 1


_DIRECTIONS = []  # the CPU kernel module, once imported


def _kernels():
    """:mod:`optkit.zeroth._directions` (it compiles numba code: imported on the first CPU draw)."""
    if not _DIRECTIONS:
        from . import _directions

        _DIRECTIONS.append(_directions)
    return _DIRECTIONS[0]


def _blocks_drawn(n_blocks: int, fraction: float) -> int:
    """k: the number of tensors a direction perturbs, round(fraction * B), at least 1."""
    return max(1, round(fraction * n_blocks))


def _check_fraction(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def _check_clip(value, name):
    return None if value is None else check_positive(value, name)


def _check_floor(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number or None, got {value!r}")
    return float(value)


def _check_momentum(value, name):
    value = check_nonnegative(value, name)
    if value >= 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return value


def _loss_value(loss) -> float:
    """The closure's output as a float; non-scalars raise ``ValueError``."""
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise ValueError(f"closure must return a scalar loss, got a tensor of shape "
                             f"{tuple(loss.shape)}")
        if loss.is_complex():
            raise ValueError(f"closure must return a real scalar loss, got dtype {loss.dtype}")
        return float(loss.detach().reshape(()).item())
    arr = np.asarray(loss)
    if arr.size != 1 or not (np.issubdtype(arr.dtype, np.floating)
                             or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"closure must return a real scalar loss, got {loss!r}")
    return float(arr.reshape(()))


class MeZO(torch.optim.Optimizer):
    r"""Zeroth-order SGD with the SPSA estimator at inference memory (MeZO).

    Each step draws :math:`n` directions :math:`z_j` from seeds (Gaussian
    :math:`N(0, I)`, or Rademacher: independent uniform signs :math:`\pm 1`) and, with ``estimator="central"``, evaluates the loss at :math:`\theta
    \pm \varepsilon_g z_j` in place (perturb :math:`+\varepsilon z`, then
    :math:`-2\varepsilon z`, then restore), giving the projected gradients

    .. math::
        d_{j,g} = \frac{L(\theta + \varepsilon z_j) - L(\theta - \varepsilon z_j)}
                       {2 \varepsilon_g},

    (``estimator="forward"``: :math:`d_{j,g} = (L(\theta + \varepsilon z_j) -
    L(\theta)) / \varepsilon_g`, :math:`n + 1` forwards). Group :math:`g` perturbs by
    its own ``eps``, so :math:`d_{j,g} z_j` is unbiased for its block on a quadratic.
    With :math:`d'` the post-processed scalar (``clip`` to :math:`[-C_g, C_g]`; sign
    flipped when ``maximize``) the update of a tensor :math:`\theta_i` of group
    :math:`g` is

    .. math::
        u_i = \begin{cases}
            \tfrac1n \sum_j d'_{j,g}\, z_{j,i} & \texttt{update="sgd"}\\
            \tfrac1n \sum_j \operatorname{sign}(d'_{j,g})\, z_{j,i} & \texttt{update="sign"}\\
            \operatorname{sign}\big(\sum_j d'_{j,g}\, z_{j,i}\big) & \texttt{update="elementwise\_sign"}
        \end{cases}
        \qquad g_i = u_i + \lambda_g \theta_i,

    :math:`b_i \leftarrow \mu_g b_i + g_i` (only when ``momentum`` :math:`\mu_g > 0`,
    else :math:`b_i = g_i`), :math:`\theta_i \leftarrow \max(\theta_i - \eta_g b_i,
    \text{floor}_g)` (the floor only when ``scale_min`` is set; QZO's scale floor).

    ``"sign"`` is ZO-SGD-Sign as ZO-Bench implements it (the sign of the scalar);
    ``"elementwise_sign"`` is ZO-signSGD (Liu et al., ICLR 2019), the sign of the
    averaged estimate. For a quadratic, :math:`d = z^\top \nabla L` exactly, so
    :math:`E[\hat g] = \nabla L`; in general :math:`E[\hat g]` is the gradient of the
    Gaussian-smoothed loss (Nesterov & Spokoiny 2017), and
    :math:`E\|\hat g\|^2 = \frac{D + n + 1}{n} \|\nabla L\|^2` for Gaussian directions.

    **Directions.** ``distribution="gaussian"`` (default, MeZO) or ``"rademacher"``,
    :math:`z_i \in \{-1, +1\}` with probability 1/2 each, SPSA's classic choice (Spall
    1992; Spall 1998 recommends this symmetric Bernoulli law: the SPSA conditions need
    :math:`E[z_i^{-1}]` finite, which it meets and a Gaussian does not, for the
    :math:`\Delta^{-1}` form of the estimator; with :math:`d\,z` as here both are valid).
    Both have :math:`E[z z^\top] = I`, so on a quadratic :math:`E[\hat g] = \nabla L` for
    both; the variance is :math:`E\|\hat g\|^2 = \frac{D + n + 1}{n}\|\nabla L\|^2`
    (Gaussian) and :math:`\frac{D + n - 1}{n}\|\nabla L\|^2` (Rademacher, since
    :math:`\|z\|^2 = D` exactly), and a Rademacher :math:`z` costs one random bit per
    element instead of a Box-Muller transform.

    **Sparse MeZO** (``block_fraction`` :math:`f < 1`). The blocks are the parameter
    tensors (all groups, :math:`B` of them). Each direction :math:`j` of a step
    perturbs only :math:`k = \max(1, \operatorname{round}(f B))` tensors :math:`S_j`,
    drawn uniformly without replacement from the step's seed, i.e. it uses
    :math:`z_{j, S_j}` (zero outside :math:`S_j`), and the update uses
    :math:`\tfrac{B}{k} z_{j, S_j}` in place of :math:`z_j` in every formula above. Each
    tensor is in :math:`S_j` with probability :math:`k/B`, so on a quadratic

    .. math::
        E\big[\tfrac{B}{k}\, d_j\, z_{j,S_j}\big]
        = \tfrac{B}{k}\, E_S\big[P_S\big] \nabla L = \nabla L,

    (:math:`P_S` the projection on the coordinates of :math:`S`): unbiased for the
    *full* gradient, coupling between blocks included; in general it is the gradient of
    the Gaussian-smoothed loss, averaged over :math:`S`. Its second moment,
    :math:`(B/k)^2 E_S[(|S| + 2)\|\nabla_S L\|^2]` (Gaussian, :math:`n = 1`), is about
    :math:`D \|\nabla L\|^2` when the blocks are alike, the dense value, so the default
    learning rate still applies. The perturbation and update passes touch only the
    :math:`k` tensors (plus, when a group has ``weight_decay`` or ``momentum``, the
    deterministic part of its update on every tensor), so a step costs about
    :math:`f` of the dense one's random-direction work. LeZO (Wang et al. 2024) drops the
    :math:`B/k` factor, which makes :math:`E[\hat g] = (k/B) \nabla L` (the same
    direction, a learning rate :math:`k/B` smaller); Sparse MeZO (Liu et al. 2024)
    chooses coordinates by magnitude instead; random block-coordinate ZO descent is
    ZO-BCD (Cai et al. 2021).

    Memory: no per-parameter state unless ``momentum > 0`` (+1x parameter bytes) or
    ``restore="copy"`` (a transient copy of the perturbed tensors). On CPU, fp32 and fp64
    contiguous tensors are perturbed and updated by a kernel that regenerates :math:`z`
    element by element (no buffer); otherwise (other devices, half precision, a
    non-contiguous tensor, ``n_directions > 1``, weight decay, momentum or
    ``"elementwise_sign"``) the transient random buffer is one fp32 chunk of at most
    ``chunk_size`` elements.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups. Per group: ``lr``, ``eps``, ``clip``,
        ``weight_decay``, ``momentum``, ``scale_min``.
    lr : float, optional
        Learning rate :math:`\eta` (>= 0). ``None`` (default) gives :math:`\eta = 20 / D`,
        :math:`D` the number of parameter elements at construction (see Notes, *choosing
        lr and eps*).
    eps : float
        Perturbation size :math:`\varepsilon` (> 0), in the units of the parameters.
    n_directions : int
        Directions per step (n-SPSA); the update averages them (always divided by n).
    estimator : {"central", "forward"}
    update : {"sgd", "sign", "elementwise_sign"}
    momentum : float
        Heavy-ball coefficient in [0, 1) (costs one buffer per parameter).
    weight_decay : float
        Coupled L2 coefficient :math:`\lambda` (>= 0).
    clip : float, optional
        Clip the scalar :math:`d` to :math:`[-C, C]` (QZO's directional-derivative clipping).
    maximize : bool
        Maximize the closure's value instead.
    scale_min : float, optional
        Floor applied to the parameters after each update (never during perturbation).
    rng : None, int, numpy.random.Generator or torch.Generator
        Source of the base seed from which every step's direction seeds are derived
        (kept in ``state_dict``); ``None`` draws it from the OS. Same ``rng``, same run.
    chunk_size : int
        Largest number of elements drawn at once; larger tensors are processed in
        fixed chunks, each with its own generator.
    restore : {"inplace", "copy"}
        ``"inplace"`` undoes the perturbation arithmetically (within 2 ulp in fp32);
        ``"copy"`` saves the parameters and copies them back (bitwise).
    on_nonfinite : {"raise", "skip"}
        On a non-finite loss the parameters are restored, then ``FloatingPointError``
        is raised or the step skipped (counted in ``zo_stats["n_nonfinite"]``).
    check_determinism : bool
        Spend one more forward per step and raise ``RuntimeError`` if two evaluations
        at the same point differ (dropout on, a changing batch...).
    process_group : torch.distributed.ProcessGroup, optional
        Shared-seed data parallelism: every rank holds a full replica and evaluates
        the closure on its own, equally sized, shard of the batch; the base seed is
        broadcast from rank 0 once, and each step all-reduces the 2n (or n + 1) loss
        scalars only, so every rank computes the same :math:`d` and the same update.
        A rank that dies or stops answering makes the all-reduce raise ``RuntimeError`` on
        the others (a dead peer at once, a hung one after the process group's ``timeout``:
        set it with ``torch.distributed.init_process_group(..., timeout=timedelta(...))``;
        the default is 30 min for gloo); the step then leaves the parameters and the step
        counter as they were before it, so the run can be checkpointed and resumed.
    distribution : {"gaussian", "rademacher"}
        Law of the directions' entries: :math:`N(0, 1)` or uniform on :math:`\{-1, +1\}`
        (see *Directions*).
    block_fraction : float
        In (0, 1]: the fraction :math:`f` of parameter tensors each direction perturbs
        (sparse MeZO, see above); 1 (default) perturbs all of them. A fraction, not a
        count, so that one value fits models of any depth; the count is
        :math:`\max(1, \operatorname{round}(f B))`.

    Attributes
    ----------
    zo_stats : dict
        ``n_forward``, ``n_clipped`` (clipped scalars), ``n_nonfinite`` (skipped steps),
        ``n_floor_hits`` (elements set to the floor), ``last_d`` (per group, the last
        direction's :math:`d`), ``recent_abs_d`` (the last 256 :math:`|d|` of group 0).

    Notes
    -----
    **Choosing lr and eps.** One step moves :math:`\theta` by :math:`\eta d z` with
    :math:`E\|\hat g\|^2 = \frac{D + n + 1}{n}\|\nabla L\|^2`, so the step length grows
    like :math:`\sqrt D` and, on an :math:`\ell`-smooth loss, the descent lemma bounds
    the stable learning rate by about :math:`2 n / (\ell (D + n + 1))` (the worst case;
    a low effective rank of the Hessian allows larger steps, MeZO Theorem 1). The
    default :math:`\eta = 20 / D` follows this :math:`1/D` law and makes steady progress
    on small models (a few hundred to a few hundred thousand parameters, losses of
    order 1); for fine-tuning large language models use the paper's grid instead
    (Appendix E: :math:`10^{-6}`-:math:`10^{-7}` for full-parameter OPT, ε = 1e-3). If the
    loss rises or ``FloatingPointError`` is raised, divide lr by 3-10; if it barely moves,
    multiply it by 3. ``eps`` is absolute: keep it a small fraction of the typical
    parameter magnitude (1e-3 for fp32 weights of order 0.1-1) but well above the
    rounding error of a forward pass (the difference of two losses divided by
    :math:`2\varepsilon` amplifies it); :func:`probe_directional_derivatives` shows the
    size of :math:`d` before training.

    The seed of chunk ``c`` of tensor ``i`` (counted over all groups) for direction
    ``j`` of step ``t`` is a SplitMix64 hash of ``(base seed, t, j, i, c)``; the sparse
    tensor subset of direction ``j`` is drawn from the hash of ``(base seed, t, j, -1)``.
    On CPU, the chunk's z is the counter-based stream of that seed (element :math:`e` a
    function of the seed and :math:`e` only: SplitMix64 words, Box-Muller in fp32 for
    Gaussian, one bit per element for Rademacher; ``optkit.zeroth._directions``),
    threaded like torch (``torch.get_num_threads()``) with a result that does not depend
    on the thread count; on another device, ``torch.randn(numel)`` (or random bits) in
    fp32 from a generator there seeded with it. Either way z is taken in row-major
    order and cast to the parameter dtype. Perturbation and update therefore draw
    identical z for any shape, memory layout or visiting order (an error in one tensor
    cannot desynchronize the next), and a step replays bitwise on the same device type
    (CPU and CUDA streams differ). The restore of the last direction is fused with the
    update, so a central step passes over z three times; on CPU each pass is one read
    and one write of the parameters.

    References
    ----------
    S. Malladi, T. Gao, E. Nichani, A. Damian, J. D. Lee, D. Chen, S. Arora,
    "Fine-Tuning Language Models with Just Forward Passes", NeurIPS 2023
    (arXiv:2305.17333), Algorithm 1 and Definition 1. J. C. Spall, "Multivariate
    stochastic approximation using a simultaneous perturbation gradient
    approximation", IEEE TAC 37(3), 1992. J. C. Spall, "Implementation of the
    simultaneous perturbation algorithm for stochastic optimization", IEEE Trans.
    Aerospace and Electronic Systems 34(3), 1998 (the symmetric Bernoulli ±1 directions).
    S. Liu, P.-Y. Chen, X. Chen, M. Hong, "signSGD via Zeroth-Order Oracle", ICLR 2019.
    F. Wang, L. Shen, L. Ding, C. Xue, Y. Liu, C. Ding, "Simultaneous Computation and
    Memory Efficient Zeroth-Order Optimizer for Fine-Tuning Large Language Models"
    (LeZO), arXiv:2410.09823, 2024. Y. Liu, Z. Zhu, C. Gong, M. Cheng, C.-J. Hsieh,
    Y. You, "Sparse MeZO: Less Parameters for Better Performance in Zeroth-Order LLM
    Fine-Tuning", arXiv:2402.15751, 2024. H. Cai, D. McKenzie, W. Yin, Z. Zhang, "A
    Zeroth-Order Block Coordinate Descent Algorithm for Huge-Scale Black-Box
    Optimization", ICML 2021. G. L. Steele, D. Lea, C. H. Flood, "Fast splittable
    pseudorandom number generators", OOPSLA 2014 (SplitMix64).

    Examples
    --------
    >>> model.eval()
    >>> opt = MeZO(model.parameters(), eps=1e-3, rng=0)   # lr = 20 / D
    >>> loss = opt.step(lambda: loss_fn(model(x), y))   # no backward
    >>> fast = MeZO(model.parameters(), rng=0, distribution="rademacher", block_fraction=0.25)
    """

    def __init__(self, params, lr: float | None = None, eps: float = 1e-3, *, n_directions: int = 1,
                 estimator: str = "central", update: str = "sgd", momentum: float = 0.0,
                 weight_decay: float = 0.0, clip: float | None = None, maximize: bool = False,
                 scale_min: float | None = None, rng=None,
                 chunk_size: int = 2 ** 24, restore: str = "inplace", on_nonfinite: str = "raise",
                 check_determinism: bool = False, process_group=None,
                 distribution: str = "gaussian", block_fraction: float = 1.0):
        defaults = dict(lr=lr, eps=eps, clip=clip, weight_decay=weight_decay, momentum=momentum,
                        scale_min=scale_min)
        self._check_group(defaults)
        self.n_directions = check_int(n_directions, "n_directions", minimum=1)
        self.estimator = check_in(estimator, "estimator", _ESTIMATORS)
        self.update = check_in(update, "update", _UPDATES)
        self.restore = check_in(restore, "restore", _RESTORES)
        self.on_nonfinite = check_in(on_nonfinite, "on_nonfinite", _NONFINITE)
        self.chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
        self.distribution = check_in(distribution, "distribution", _DISTRIBUTIONS)
        self.block_fraction = _check_fraction(block_fraction, "block_fraction")
        if not isinstance(maximize, bool):
            raise TypeError(f"maximize must be a bool, got {type(maximize).__name__}")
        self.maximize = maximize
        self.check_determinism = bool(check_determinism)
        self.process_group = process_group
        gen = check_torch_rng(rng)
        self.base_seed = int(torch.randint(0, 2 ** 62, (), generator=gen, device=gen.device))
        self.step_count = 0
        super().__init__(params, defaults)  # add_param_group checks every group
        self._default_lrs()
        if process_group is not None:
            import torch.distributed as dist

            seed_t = torch.tensor([self.base_seed], dtype=torch.int64)
            dist.broadcast(seed_t, src=dist.get_global_rank(process_group, 0), group=process_group)
            self.base_seed = int(seed_t.item())
        self._seeds = {}  # the current step's seeds, keyed by (step, direction, tensor, chunk)
        self._keys = {}  # their CPU kernel keys, same keys
        self._plans = {}  # the current step's chunks of each tensor, keyed by tensor index
        self._generators = {}  # one reusable generator per non-CPU device
        self._blocks = {}  # the current step's perturbed tensors, keyed by (step, direction)
        self.zo_stats = {"n_forward": 0, "n_clipped": 0, "n_nonfinite": 0, "n_floor_hits": 0,
                         "last_d": [0.0] * len(self.param_groups),
                         "recent_abs_d": deque(maxlen=_RECENT)}
        if self.restore == "inplace" and any(
                p.dtype in (torch.float16, torch.bfloat16) for p in self._params()):
            warnings.warn("MeZO with restore='inplace' on half-precision parameters drifts by up "
                          "to ~1% per step (bf16); use fp32 master weights or restore='copy'",
                          RuntimeWarning, stacklevel=2)

    #: ``lr=None`` means ``lr_per_dim / D``, D the number of tuned elements (class docstring)
    lr_per_dim = 20.0

    def _default_lrs(self):
        n_elements = sum(p.numel() for p in self._params())
        for group in self.param_groups:
            if group["lr"] is None:
                group["lr"] = self.lr_per_dim / max(n_elements, 1)

    @staticmethod
    def _check_group(group):
        if group["lr"] is not None:
            check_nonnegative(group["lr"], "lr")
        check_positive(group["eps"], "eps")
        _check_clip(group["clip"], "clip")
        check_nonnegative(group["weight_decay"], "weight_decay")
        _check_momentum(group["momentum"], "momentum")
        _check_floor(group["scale_min"], "scale_min")

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        for p in param_group["params"]:
            if not p.is_floating_point():
                raise TypeError(f"MeZO parameters must be floating point, got {p.dtype}")
        self._check_group(self.param_groups[-1])
        check_representable(self.param_groups[-1])
        stats = getattr(self, "zo_stats", None)
        if stats is not None:  # a group added after construction
            stats["last_d"].append(0.0)
            self._default_lrs()

    # state ------------------------------------------------------------------------------
    def state_dict(self):
        sd = super().state_dict()
        sd["zo"] = {"base_seed": self.base_seed, "step": self.step_count}
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        zo = state_dict.pop("zo", None)
        if zo is None:
            raise ValueError("state_dict has no 'zo' entry (base seed and step): not a MeZO state")
        super().load_state_dict(state_dict)
        self.base_seed = int(zo["base_seed"])
        self.step_count = int(zo["step"])
        self._end_step()

    # z regeneration ---------------------------------------------------------------------
    def _params(self):
        for group in self.param_groups:
            yield from group["params"]

    def _chunks(self, p):
        """(chunk index, flat view or None, start, stop) covering ``p`` in row-major order.

        A non-contiguous tensor has no flat view and is processed whole (one chunk).
        """
        n = p.numel()
        flat = p.view(-1) if p.is_contiguous() else None
        size = self.chunk_size if flat is not None else max(n, 1)
        for c, start in enumerate(range(0, n, size)):
            yield c, flat, start, min(start + size, n)

    def _end_step(self):
        """Forget the step's seeds, kernel keys, chunk plans and sparse selections."""
        self._seeds.clear()
        self._keys.clear()
        self._plans.clear()
        self._blocks.clear()

    def _plan(self, i, p):
        """The chunks of tensor ``i`` (``p``) for this step, built once per step for its three
        passes: ``(chunk index, flat view or None, start, stop, array)``, ``array`` the numpy
        view that the CPU kernel updates in place (``None`` where z is drawn into a buffer)."""
        plan = self._plans.get(i)
        if plan is None:
            plan = self._plans[i] = [
                (c, flat, a, b, flat[a:b].detach().numpy() if self._fusable(p, flat) else None)
                for c, flat, a, b in self._chunks(p)]
        return plan

    def _key(self, j, i, c):
        """The CPU kernel key of this step's chunk ``c`` of tensor ``i``, direction ``j``."""
        index = (self.step_count, j, i, c)
        key = self._keys.get(index)
        if key is None:
            key = self._keys[index] = _kernels().key(self._seed(*index))
        return key

    def _seed(self, step, j, i, c):
        """The seed of chunk c of tensor i for direction j of the step (cached for the step)."""
        key = (step, j, i, c)
        seed = self._seeds.get(key)
        if seed is None:
            seed = self._seeds[key] = _seed_of(self.base_seed, *key)
        return seed

    def _z(self, p, step, j, i, c, n):
        """z (fp32, on p's device) for chunk c of tensor i, direction j.

        On CPU the counter-based stream of :mod:`optkit.zeroth._directions`; on another
        device a torch generator there, freshly seeded from the key.
        """
        seed = self._seed(step, j, i, c)
        if p.device.type == "cpu":
            return _kernels().draw(n, seed, self.distribution)
        gen = self._generators.get(p.device)
        if gen is None:
            gen = self._generators[p.device] = torch.Generator(device=p.device)
        gen.manual_seed(seed)
        if self.distribution == "gaussian":
            return torch.randn(n, generator=gen, dtype=torch.float32, device=p.device)
        bits = torch.randint(0, 2, (n,), generator=gen, dtype=torch.int8, device=p.device)
        return bits.to(torch.float32).mul_(-2.0).add_(1.0)

    @staticmethod
    def _fusable(p, flat):
        """Whether z can be fused into p's chunk by the CPU kernel (no z buffer)."""
        return flat is not None and p.device.type == "cpu" and p.dtype in (torch.float32,
                                                                           torch.float64)

    def _n_blocks(self):
        return sum(len(group["params"]) for group in self.param_groups)

    def _block_scale(self):
        """B / k: the factor that keeps the sparse estimate unbiased (1 without sparsity)."""
        if self.block_fraction == 1.0:
            return 1.0
        n_blocks = self._n_blocks()
        return n_blocks / _blocks_drawn(n_blocks, self.block_fraction)

    def _selected(self, j, i):
        """Whether tensor i is perturbed by direction j of this step (sparse MeZO)."""
        if self.block_fraction == 1.0:
            return True
        key = (self.step_count, j)
        chosen = self._blocks.get(key)
        if chosen is None:
            n_blocks = self._n_blocks()
            draw = np.random.default_rng(_seed_of(self.base_seed, self.step_count, j, -1))
            chosen = self._blocks[key] = frozenset(draw.choice(
                n_blocks, size=_blocks_drawn(n_blocks, self.block_fraction),
                replace=False).tolist())
        return i in chosen

    def _perturb(self, scale: float, j: int):
        """theta += scale * eps_g * z_j for every tensor that direction j perturbs (z in fp32,
        cast to the parameter dtype)."""
        i = 0
        for group in self.param_groups:
            alpha = scale * group["eps"]
            for p in group["params"]:
                if self._selected(j, i):
                    for c, flat, a, b, array in self._plan(i, p):
                        if array is not None:
                            _kernels().axpy_array_(array, self._key(j, i, c), alpha,
                                                   self.distribution)
                            continue
                        z = self._z(p, self.step_count, j, i, c, b - a).to(p.dtype)
                        if flat is None:
                            p.add_(z.view(p.shape), alpha=alpha)
                        else:
                            flat[a:b].add_(z, alpha=alpha)
                        del z  # free the chunk before drawing the next: one buffer at a time
                i += 1

    def _apply(self, coefs: list[list[float]], pending: float):
        """The update; ``coefs[g][j]`` multiplies z_j in group g (see the class docstring).

        ``pending`` (in units of eps_g z_last) is the restore of the last direction, fused
        into this pass so that its z is drawn once for both. A tensor that no direction
        perturbed is left alone unless weight decay or momentum moves it; with one
        direction, no weight decay, no momentum and a CPU fp32/fp64 chunk, restore and
        update are one fused pass of the kernel.
        """
        hits = 0
        i = 0
        last = self.n_directions - 1
        for gi, group in enumerate(self.param_groups):
            lr, wd, mom, floor = group["lr"], group["weight_decay"], group["momentum"], \
                group["scale_min"]
            for p in group["params"]:
                work = torch.promote_types(p.dtype, torch.float32)
                directions = [j for j in range(self.n_directions) if self._selected(j, i)]
                if not directions and not wd and not mom:
                    i += 1
                    continue
                fused = (self.n_directions == 1 and self.update != "elementwise_sign"
                         and not wd and not mom)
                for c, flat, a, b, array in self._plan(i, p):
                    if fused and array is not None:
                        alpha = pending * group["eps"] - lr * coefs[gi][0]
                        _kernels().axpy_array_(array, self._key(0, i, c), alpha, self.distribution)
                        if floor is not None:
                            hits += int((flat[a:b] < floor).sum())
                            flat[a:b].clamp_(min=floor)
                        continue
                    u = None
                    for j in directions:
                        z = self._z(p, self.step_count, j, i, c, b - a).to(work)
                        if pending and j == last:
                            restore = z.to(p.dtype)
                            if flat is None:
                                p.add_(restore.view(p.shape), alpha=pending * group["eps"])
                            else:
                                flat[a:b].add_(restore, alpha=pending * group["eps"])
                            del restore
                        coef = coefs[gi][j]
                        u = z.mul_(coef) if u is None else u.add_(z, alpha=coef)
                        del z
                    if u is None:  # not perturbed: weight decay / momentum only
                        u = torch.zeros(b - a, dtype=work, device=p.device)
                    if self.update == "elementwise_sign":
                        u = u.sign_()
                    target = p.reshape(-1) if flat is None else flat[a:b]
                    if wd:
                        u.add_(target.to(work), alpha=wd)
                    if mom:
                        state = self.state[p]
                        if "momentum_buffer" not in state:
                            state["momentum_buffer"] = torch.zeros_like(p, dtype=work)
                        buf = state["momentum_buffer"].view(-1)[a:b]
                        u = buf.mul_(mom).add_(u)
                    update = u.to(p.dtype)
                    if flat is None:
                        p.add_(update.view(p.shape), alpha=-lr)
                    else:
                        target.add_(update, alpha=-lr)
                    if floor is not None:
                        view = p if flat is None else target
                        hits += int((view < floor).sum())
                        view.clamp_(min=floor)
                    del u, update  # one transient chunk at a time
                i += 1
        self.zo_stats["n_floor_hits"] += hits

    # the step ---------------------------------------------------------------------------
    def _eval(self, closure, check: bool = False) -> float:
        with torch.no_grad():
            value = _loss_value(closure())
        self.zo_stats["n_forward"] += 1
        if check and self.check_determinism:
            with torch.no_grad():
                again = _loss_value(closure())
            self.zo_stats["n_forward"] += 1
            if again != value:
                raise RuntimeError(f"closure is not deterministic: two evaluations at the same point "
                                   f"gave {value!r} and {again!r} (use model.eval() and a fixed batch)")
        return value

    def _reduce(self, losses: list[float]) -> list[float]:
        if self.process_group is None:
            return losses
        import torch.distributed as dist

        t = torch.tensor(losses, dtype=torch.float64)
        dist.all_reduce(t, group=self.process_group)
        return (t / dist.get_world_size(self.process_group)).tolist()

    def _evaluate_directions(self, closure, fuse: bool = False) -> tuple[list[float], float]:
        """Loss values [l+_0, l-_0, l+_1, ...] (central) or [l_0, l_1, ...] (forward), and the
        perturbation left in place (in units of eps z_last): with ``fuse`` and in-place
        restore, the last restore is left to the update pass."""
        self._plans.clear()  # fresh views: a step that raised may be retried on swapped storage
        saved = None
        if self.restore == "copy":  # the tensors some direction perturbs, and their copies
            saved = [(p, p.detach().clone()) for i, p in enumerate(self._params())
                     if any(self._selected(j, i) for j in range(self.n_directions))]

        losses = []
        offset = 0.0  # current perturbation, in units of eps * z_j

        def move(to, j):
            nonlocal offset
            if to == 0.0 and saved is not None:
                for p, s in saved:
                    p.copy_(s)
            else:
                self._perturb(to - offset, j)
            offset = to

        if self.estimator == "forward":
            losses.append(self._eval(closure, check=True))
        for j in range(self.n_directions):
            try:
                move(1.0, j)
                losses.append(self._eval(closure, check=not losses))
                if self.estimator == "central":
                    move(-1.0, j)
                    losses.append(self._eval(closure))
                if not (fuse and saved is None and j == self.n_directions - 1):
                    move(0.0, j)
            except BaseException:
                move(0.0, j)
                raise
        return losses, -offset

    @torch.no_grad()
    def step(self, closure: Callable[[], object]) -> float:
        """One SPSA step; ``closure()`` only evaluates the loss (no backward).

        Returns the mean of the evaluated losses at the perturbed points (central)
        or the loss at the current point (forward).
        """
        if closure is None or not callable(closure):
            raise TypeError("MeZO.step needs a closure that evaluates the loss")
        losses, pending = self._evaluate_directions(closure, fuse=True)
        try:
            losses = self._reduce(losses)
        except BaseException:  # a lost rank, a timeout: leave the parameters as before the step
            if pending:
                self._perturb(pending, self.n_directions - 1)
            raise
        if not all(math.isfinite(v) for v in losses):
            if pending:
                self._perturb(pending, self.n_directions - 1)
            self.step_count += 1
            self._end_step()
            if self.on_nonfinite == "raise":
                raise FloatingPointError(f"non-finite loss {losses} at step {self.step_count - 1}; "
                                         "parameters restored")
            self.zo_stats["n_nonfinite"] += 1
            return float("nan")
        if self.estimator == "central":
            diffs = [(losses[2 * j] - losses[2 * j + 1]) / 2 for j in range(self.n_directions)]
            value = sum(losses) / len(losses)
        else:
            diffs = [losses[j + 1] - losses[0] for j in range(self.n_directions)]
            value = losses[0]
        if self.maximize:
            diffs = [-v for v in diffs]
        n = self.n_directions
        coefs = []
        for gi, group in enumerate(self.param_groups):
            ds = [v / group["eps"] for v in diffs]
            clip = group["clip"]
            if clip is not None:
                self.zo_stats["n_clipped"] += sum(abs(v) > clip for v in ds)
                ds = [min(max(v, -clip), clip) for v in ds]
            self.zo_stats["last_d"][gi] = ds[-1]
            if gi == 0:
                self.zo_stats["recent_abs_d"].extend(abs(v) for v in ds)
            if self.update == "sgd":
                coefs.append([v / n for v in ds])
            elif self.update == "sign":
                coefs.append([math.copysign(1.0, v) / n if v else 0.0 for v in ds])
            else:
                coefs.append(ds)
        scale = self._block_scale()
        if scale != 1.0:  # sparse: the update direction is (B / k) z_S
            coefs = [[v * scale for v in row] for row in coefs]
        self._apply(coefs, pending)
        self.step_count += 1
        self._end_step()
        return value


@torch.no_grad()
def probe_directional_derivatives(params: Iterable, closure: Callable[[], object], eps: float,
                                  n: int = 32, rng=None, distribution: str = "gaussian"
                                  ) -> np.ndarray:
    r"""Sample :math:`n` central-difference directional derivatives without updating.

    Returns :math:`d_j = (L(\theta + \varepsilon z_j) - L(\theta - \varepsilon z_j)) /
    (2\varepsilon)` for :math:`n` seeded Gaussian directions; the parameters are
    restored bitwise. ``rng`` (None, an int, a numpy or torch Generator) draws the
    directions, from ``distribution`` (``"gaussian"`` or ``"rademacher"``, as in
    :class:`MeZO`). Use the quantiles of :math:`|d|` to choose QZO's clip :math:`C` and the
    learning rate before training.
    """
    opt = MeZO(params, lr=0.0, eps=eps, n_directions=check_int(n, "n", minimum=1), rng=rng,
               restore="copy", distribution=distribution)
    losses, _ = opt._evaluate_directions(closure)
    if not all(math.isfinite(v) for v in losses):
        raise FloatingPointError(f"non-finite loss while probing (eps={eps})")
    return np.array([(losses[2 * j] - losses[2 * j + 1]) / (2 * eps) for j in range(n)])


@torch.no_grad()
def zo_grad_(params: Iterable, closure: Callable[[], object], eps: float = 1e-3, rng=None,
             n: int = 1, distribution: str = "gaussian") -> float:
    r"""Set ``p.grad`` to the SPSA estimate :math:`\frac1n \sum_j d_j z_j` for every parameter.

    :math:`d_j = (L(\theta + \varepsilon z_j) - L(\theta - \varepsilon z_j)) / (2\varepsilon)`,
    the parameters restored in place. This lets any first-order ``torch.optim``
    optimizer run on zeroth-order gradients (ZO-Adam: ``zo_grad_(...)`` then
    ``adam.step()``), at the cost of a materialized ``.grad`` (+1x parameter bytes) and
    the optimizer's state. ``rng`` (None, an int, a numpy or torch Generator) draws the
    directions: pass one ``Generator`` to every step so that its stream moves on (a
    fixed int reuses the same directions at every step); ``distribution`` is
    ``"gaussian"`` or ``"rademacher"`` (:class:`MeZO`). Returns the mean loss.
    """
    params = list(params)
    opt = MeZO(params, lr=0.0, eps=eps, n_directions=check_int(n, "n", minimum=1), rng=rng,
               distribution=distribution)
    losses, _ = opt._evaluate_directions(closure)
    if not all(math.isfinite(v) for v in losses):
        raise FloatingPointError(f"non-finite loss {losses}; parameters restored")
    ds = [(losses[2 * j] - losses[2 * j + 1]) / (2 * eps) for j in range(n)]
    for i, p in enumerate(params):
        grad = torch.zeros(p.numel(), dtype=torch.promote_types(p.dtype, torch.float32),
                           device=p.device)
        for c, _, a, b in opt._chunks(p):
            for j, d in enumerate(ds):
                grad[a:b].add_(opt._z(p, 0, j, i, c, b - a), alpha=d / n)
        p.grad = grad.view(p.shape).to(p.dtype)
    return sum(losses) / len(losses)
