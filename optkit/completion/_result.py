"""The result of :func:`~optkit.completion.altmin`."""

from __future__ import annotations

import numpy as np

from optkit.core.backend import device_of, namespace
from optkit.core.result import OptimizeResult

__all__ = ["CompletionResult"]


class CompletionResult(OptimizeResult):
    """Result of :func:`~optkit.completion.altmin` (a :class:`scipy.optimize.OptimizeResult`).

    Attributes
    ----------
    x : array (m + n, k) or (m + n, k + 1)
        The iterate: the factors stacked, ``x[:m] = U`` and ``x[m:] = V``; with
        ``biases=True`` a last column holds ``row_bias`` (first m rows) and ``col_bias``
        (last n rows). numpy, or a torch tensor when the observed values were tensors.
    fun : float
        The objective :math:`\\sum_\\Omega (u_i^Tv_j + \\text{mean} + \\text{biases} - M_{ij})^2
        + \\lambda\\sum_i c_i\\|u_i\\|^2 + \\lambda\\sum_j c_j\\|v_j\\|^2` (biases included in the
        penalty).
    U, V : array (m, k), (n, k)
        The factors; ``U @ V.T`` (plus ``mean`` and the biases) is the completed matrix.
    mean : float
        Subtracted global mean (0 unless ``center="global"``).
    row_bias, col_bias : array or None
        Row (user) and column (item) biases when ``biases=True``.
    nit : int
        Outer iterations (each two half-steps).
    nfev : int
        Passes over the observed entries made by the half-steps (the main oracle):
        1 per exact half-step, ``2 + cg_steps`` per CG half-step, ``2 +`` the most CGLS
        iterations per sketched half-step.
    success, status, message, trace, execution_time
        As every optkit result. ``success`` means the stopping test held, not that the
        matrix was recovered; a spent budget is ``success=False``.
    solver : str
        The half-step solver.
    parts : int array or None
        With ``split_samples=True``, the part (0 .. 2T) of each observed entry, in the
        order the entries were given.
    """

    def predict(self, rows, cols, clip=None):
        """Completed entries ``mean + row_bias[i] + col_bias[j] + U[i] . V[j]``.

        ``clip=(lo, hi)`` clips the predictions (e.g. ratings to [1, 5]).
        """
        U, V = self["U"], self["V"]
        xp, device = namespace(U), device_of(U)
        r = xp.asarray(np.asarray(rows, dtype=np.int64), device=device)
        c = xp.asarray(np.asarray(cols, dtype=np.int64), device=device)
        out = xp.sum(U[r] * V[c], axis=1) + self["mean"]
        if self.get("row_bias") is not None:
            out = out + self["row_bias"][r] + self["col_bias"][c]
        if clip is not None:
            out = xp.clip(out, *clip)
        return out
