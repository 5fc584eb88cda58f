r"""QZO: zeroth-order fine-tuning of the quantization scales of a quantized model."""

from __future__ import annotations

from .spsa import MeZO

__all__ = ["QZO"]


class QZO(MeZO):
    r"""Quantized zeroth-order optimization: SPSA on the per-group scales :math:`\Delta`.

    With weights :math:`w = \Delta \odot (\bar\theta - z_p)` (codes :math:`\bar\theta`
    and zero points frozen), each step draws :math:`z \sim N(0, I)` over the scales
    (regenerated from a seed, never stored) and does (Q-SPSA, Algorithm 1)

    .. math::
        d = \frac{L(\Delta + \varepsilon z) - L(\Delta - \varepsilon z)}{2\varepsilon},\qquad
        d' = \operatorname{clip}(d, -C, C),\qquad
        \Delta \leftarrow \max(\Delta - \eta\, d' z,\ \Delta_{\min}).

    Perturbation and restore work on the fp32 scales with ``restore="copy"``
    (bitwise); the floor :math:`\Delta_{\min}` = ``scale_min`` is applied only in the
    update (clamping during the perturbation would break the restore).

    **What directional-derivative clipping does.** For a locally linear loss with
    gradient :math:`g` and Gaussian :math:`z`, Stein's lemma gives
    :math:`E[\operatorname{clip}_C(g^\top z)\, z] = P(|g^\top z| < C)\, g =
    \operatorname{erf}(C / (\sqrt2 \|g\|))\, g`: the right direction with a step shrunk
    by a data-dependent factor (the paper's Theorem 1 calls the clipped estimator
    unbiased; it is not). The variance bound holds since :math:`d'^2 \le d^2`. When
    :math:`\|g\| \gg C` nearly every step clips and the update is
    :math:`-\eta C \operatorname{sign}(d) z`, ZO-SGD-Sign at learning rate
    :math:`\eta C`. ``zo_stats["n_clipped"]`` counts the clipped scalars. The erf factor is
    Stein's lemma, so Gaussian :math:`z` only; with ``distribution="rademacher"`` the
    clipped estimate is also shrunk but not exactly parallel to :math:`g` (it is for an
    unclipped step, where :math:`E[(g^\top z) z] = g` for both laws).

    **Rademacher directions and sparse steps** apply to the scales as to any MeZO
    parameters: ``distribution="rademacher"`` moves every scale of a perturbed tensor by
    :math:`\pm\varepsilon`, and ``block_fraction`` :math:`f < 1` perturbs and updates
    :math:`\max(1, \operatorname{round}(f B))` of the :math:`B` scale tensors (one per
    quantized layer, plus any other tensor passed) per direction, with the :math:`B/k`
    factor that keeps the estimate unbiased (see :class:`MeZO`); with the default
    ``restore="copy"`` only those tensors are copied.

    **Choosing lr, eps and clip.** The paper's lr 1e-7 (with eps 1e-3, C 100) is tuned
    to LLMs with about 5e7 scales and does not port to small models.
    :math:`\partial L / \partial \Delta` sums a group's weight gradients times integer
    levels, so the scale derivatives are larger and the loss more curved in
    :math:`\Delta` than in the weights: ``lr=None`` (default) gives
    :math:`\eta = 0.05 / D`, :math:`D` the number of scales (the :math:`1/D` law of
    :class:`MeZO`, with a constant 400 times smaller), which makes steady progress
    on small quantized models. For LLMs start from the paper's 1e-7. Run
    :func:`~optkit.zeroth.probe_directional_derivatives` first; set ``clip`` near the
    upper quantiles of :math:`|d|` (a step then moves each scale by at most
    :math:`\eta C |z_i|`) and ``eps`` at a few percent of the median scale or less
    (the default 1e-3 suits scales of order 1e-2 and above). If the loss rises, divide
    lr by 3-10. Unquantized tensors (biases, norms) belong in their own parameter
    group with their own ``lr``/``eps``/``clip``.

    Parameters
    ----------
    params : iterable
        Usually ``scale_parameters(model)``; parameter groups as in :class:`MeZO`.
    lr : float, optional
        Learning rate; ``None`` gives ``0.05 / D`` (see above).
    eps : float
        Absolute perturbation of the scales.
    clip : float or None
        :math:`C`; ``None`` disables clipping.
    scale_min : float or None
        Absolute floor of the scales after each update; ``None`` disables it.
    **mezo_kwargs
        Any other :class:`MeZO` keyword (``rng``, ``n_directions``, ``restore``,
        ``distribution``, ``block_fraction``...).

    References
    ----------
    S. Shang, J. Zhou, C. Lin, M. Li, K. Zhou, "Fine-tuning Quantized Neural Networks
    with Zeroth-order Optimization", arXiv:2505.13430, 2025, Definition 3.3,
    Algorithm 1, §3.2.2.
    """

    lr_per_dim = 0.05

    def __init__(self, params, lr: float | None = None, eps: float = 1e-3,
                 clip: float | None = 100.0,
                 scale_min: float | None = 1e-7, **mezo_kwargs):
        mezo_kwargs.setdefault("restore", "copy")
        super().__init__(params, lr, eps, clip=clip, scale_min=scale_min, **mezo_kwargs)
