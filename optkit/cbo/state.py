"""Run state of :class:`optkit.cbo.CBO` and its random numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optkit.core.backend import is_torch_tensor, namespace, to_numpy
from optkit.core.rng import check_rng, check_torch_rng

__all__ = ["Draws", "SwarmState", "RUNNING", "SWARM_ARRAYS", "snapshot"]

#: The device arrays of a :class:`SwarmState` that a warm start restores (with ``run_status``,
#: ``sigma`` and ``perm_pos``); ``batch`` and ``perm`` are None without batching.
SWARM_ARRAYS = ("X", "energies", "alpha", "best_x", "best_f", "v", "spread", "movement",
                "n_conv", "stall", "ref_f", "diverged", "n_nonfinite", "n_projected", "batch",
                "perm")

#: ``run_status`` of a swarm that is still running (the others hold a STATUS code)
RUNNING = -1


class Draws:
    """The run's random numbers: a numpy ``Generator``, or a torch ``Generator`` on the device."""

    def __init__(self, rng, like):
        self.dtype = like.dtype
        if is_torch_tensor(like):
            import torch

            self.torch, self.device = torch, like.device
            self.gen = check_torch_rng(rng, like.device)
        else:
            self.torch, self.gen = None, check_rng(rng)

    def normal(self, shape):
        if self.torch is None:
            return self.gen.standard_normal(shape, dtype=self.dtype)
        return self.torch.randn(shape, dtype=self.dtype, device=self.device, generator=self.gen)

    def uniform(self, shape):
        if self.torch is None:
            return self.gen.random(shape, dtype=self.dtype)
        return self.torch.rand(shape, dtype=self.dtype, device=self.device, generator=self.gen)

    def permutations(self, m, n):
        if self.torch is None:
            return self.gen.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1)
        keys = self.torch.rand((m, n), generator=self.gen, device=self.device)
        return self.torch.argsort(keys, dim=1)


@dataclass
class SwarmState:
    """Run state of :class:`CBO`. Device arrays stay on the particles' device; ``run_status``,
    ``rows`` and the counters of points are host values updated at the stopping checks."""

    X: Any                      # (M, N, d) particles
    energies: Any               # (M, N) float64 energies of the current positions
    alpha: Any                  # (M,) float64
    best_x: Any                 # (M, d) best evaluated particle per run
    best_f: Any                 # (M,) float64
    v: Any                      # (M, d) last consensus (NaN before the first step)
    spread: Any                 # (M,) max_i ||X_i - v||_inf of the last consensus
    movement: Any               # (M,) ||v_k - v_{k-1}||_inf of the last consensus
    n_conv: Any                 # (M,) consecutive steps with spread and movement <= xtol
    stall: Any                  # (M,) steps since the best value improved by more than ftol
    ref_f: Any                  # (M,) best value at that improvement
    diverged: Any               # (M,) bool: particles became non-finite
    n_nonfinite: Any            # 0-d: non-finite values seen
    n_projected: Any            # 0-d: coordinates projected onto the bounds
    running: Any                # (M,) bool on the device, as run_status (updated at checks)
    rows: Any                   # slice(None) or (A,) device indices of the running runs
    run_status: np.ndarray      # (M,) host: RUNNING or a STATUS code
    n_particles: int
    sigma: float                # current noise strength
    draws: Draws
    evaluate: Any               # (n, d) -> (n,)
    pool: Any                   # process pool to shut down at the end, or None
    lb: Any = None
    ub: Any = None
    batch: Any = None           # (M, B) indices of the current batch, None without batching
    perm: Any = None            # (M, N) current permutations (batching)
    perm_pos: int = 0
    nfev: int = 0

    @property
    def x(self):
        xp = namespace(self.best_x)
        return self.best_x[xp.argmin(self.best_f)]

    @property
    def fun(self):
        return namespace(self.best_f).min(self.best_f)

    def counts(self) -> dict[str, int]:
        return {"n_value": self.nfev, "n_grad": 0, "n_hvp": 0}

    def trace_extra(self) -> dict[str, Any]:
        xp = namespace(self.best_f)
        spread = xp.max(xp.where(self.running, self.spread, 0.0))
        movement = xp.max(xp.where(self.running, self.movement, 0.0))
        host = to_numpy(xp.stack([xp.astype(a, xp.float64) for a in (
            spread, movement, self.n_nonfinite, self.n_projected)]))
        return {"alpha": float(np.median(to_numpy(self.alpha))), "sigma": self.sigma,
                "spread": float(host[0]), "movement": float(host[1]),
                "n_active": int(np.sum(self.run_status == RUNNING)),
                "n_nonfinite": int(host[2]), "n_projected": int(host[3])}


def snapshot(state: SwarmState) -> dict:
    """Copies (on the particles' device: no host transfer) of everything a run needs to go
    on from ``state`` (the ``swarm`` of a result): :data:`SWARM_ARRAYS`, ``run_status``,
    ``sigma`` and ``perm_pos``. The random generator is not in it: pass the run's own
    ``Generator`` again to continue its stream."""
    xp = namespace(state.X)
    out = {name: None if getattr(state, name) is None
           else xp.asarray(getattr(state, name), copy=True) for name in SWARM_ARRAYS}
    out.update(run_status=state.run_status.copy(), sigma=float(state.sigma),
               perm_pos=int(state.perm_pos))
    return out
