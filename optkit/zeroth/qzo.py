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
    :math:`\eta C`. ``zo_stats["n_clipped"]`` counts the clipped scalars.

    The paper's defaults (lr 1e-7, eps 1e-3, C 100) are tuned to LLMs and do not
    port: :math:`\partial L / \partial \Delta` sums a group's weight gradients times
    integer levels. Run :func:`~optkit.zeroth.probe_directional_derivatives` first;
    set ``clip`` near the upper quantiles of :math:`|d|` and ``eps`` at a few percent
    of the median scale or less. Unquantized tensors (biases, norms) belong in their
    own parameter group with their own ``lr``/``eps``/``clip``.

    Parameters
    ----------
    params : iterable
        Usually ``scale_parameters(model)``; parameter groups as in :class:`MeZO`.
    lr, eps : float
    clip : float or None
        :math:`C`; ``None`` disables clipping.
    scale_min : float or None
        Absolute floor of the scales after each update; ``None`` disables it.
    **mezo_kwargs
        Any other :class:`MeZO` keyword (``seed``, ``n_directions``, ``restore``...).

    References
    ----------
    S. Shang, J. Zhou, C. Lin, M. Li, K. Zhou, "Fine-tuning Quantized Neural Networks
    with Zeroth-order Optimization", arXiv:2505.13430, 2025, Definition 3.3,
    Algorithm 1, §3.2.2.
    """

    def __init__(self, params, lr: float = 1e-7, eps: float = 1e-3, clip: float | None = 100.0,
                 scale_min: float | None = 1e-7, **mezo_kwargs):
        mezo_kwargs.setdefault("restore", "copy")
        super().__init__(params, lr, eps, clip=clip, scale_min=scale_min, **mezo_kwargs)
