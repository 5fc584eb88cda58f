r"""The CBO dynamics: one Euler–Maruyama step of the consensus-based SDE system.

.. math::
    X^i \leftarrow X^i - \lambda\,\Delta t\,(X^i - v_\alpha) + \sigma \sqrt{\Delta t}\; N^i,

with :math:`\xi^i \sim \mathcal N(0, I_d)` and the noise term :math:`N^i`:

- ``"anisotropic"``: :math:`(X^i - v_\alpha) \odot \xi^i` (Carrillo, Jin, Li, Zhu,
  ESAIM:COCV 27, 2021);
- ``"isotropic"``: :math:`\|X^i - v_\alpha\|_2\, \xi^i` (Pinnau, Totzeck, Tse, Martin, M3AS 27,
  2017);
- ``"covariance"``: :math:`C_\alpha^{1/2} \xi^i`, :math:`C_\alpha = \sum_j w_j (X^j - v_\alpha)
  (X^j - v_\alpha)^\top` (consensus-based sampling in optimization mode, Carrillo, Hoffmann,
  Stuart, Vaes, Stud. Appl. Math. 148, 2022, with :math:`\lambda = 1,
  \sigma = \sqrt 2`).

σ is written as in CBXpy; Pinnau et al. write :math:`\sqrt 2 \sigma`.
"""

from __future__ import annotations

import math

from optkit.core.backend import namespace

from .consensus import sqrt_weighted_cov

__all__ = ["em_move", "default_sigma"]


def default_sigma(noise: str, lam: float, d: int) -> float:
    r"""σ = 10.1 (anisotropic), :math:`\sqrt{\lambda/d}` (isotropic: half the stability bound
    :math:`2\lambda > d\sigma^2` of Fornasier, Klock, Riedl, arXiv 2103.15130),
    :math:`\sqrt{2\lambda}` (covariance, as consensus-based sampling)."""
    return {"anisotropic": 10.1, "isotropic": math.sqrt(lam / d),
            "covariance": math.sqrt(2 * lam)}[noise]


def em_move(D, Db, w, xi, *, noise, sigma, lam, dt):
    r"""The Euler–Maruyama displacement of particles at deviation ``D`` from the consensus.

    ``Db`` and ``w`` are the deviations and weights of the particles the consensus used (the
    batch); they enter the covariance noise only.
    """
    xp = namespace(D)
    s, drift = sigma * math.sqrt(dt), lam * dt
    if noise == "anisotropic":  # -drift D + s D * xi, in one product
        return D * (s * xi - drift)
    if noise == "isotropic":
        return (s * xp.sum(D * D, axis=2, keepdims=True) ** 0.5) * xi - drift * D
    root = xp.astype(sqrt_weighted_cov(Db, w), D.dtype)
    return s * xp.matmul(xi, root) - drift * D
