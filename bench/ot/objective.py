import numpy as np
from benchopt import BaseObjective


class Objective(BaseObjective):
    """Balanced entropic OT. Every solver returns dual potentials ``(f, g)`` in optkit's
    convention (``P = exp((f + g - C)/reg)``); ``value`` is the L1 marginal error
    ``(|P1 - a|_1 + |P^T 1 - b|_1)/sum(a)`` re-measured here with optkit's kernels (2.0 for a
    non-finite plan), plus the dual value, ``<C,P> - LP``, ``|D - D_ref|``, the solver's passes over C
    (``n_value``, the oracle axis) and iterations (``nit``; NaN where a peer does not report
    them)."""

    name = "ot"
    url = "https://github.com/optkit/optkit"
    min_benchopt_version = "1.9"
    requirements = []

    def set_data(self, a, b, C, reg, lp, dual_ref):
        self.a, self.b, self.C, self.reg, self.lp, self.dual_ref = a, b, C, reg, lp, dual_ref
        from optkit.ot._numba_kernels import NumbaKernels

        self.kernels = NumbaKernels(C)

    def get_objective(self):
        return dict(a=self.a, b=self.b, C=self.C, reg=self.reg)

    def evaluate_result(self, f, g, counts):
        with np.errstate(all="ignore"):
            r, c, total, cost = self.kernels.stats(np.asarray(f, float), np.asarray(g, float),
                                                   1.0 / self.reg)
            err = (np.abs(r - self.a).sum() + np.abs(c - self.b).sum()) / self.a.sum()
            dual = float(self.a @ f + self.b @ g) - self.reg * total
        ok = bool(np.isfinite(err) and np.isfinite(dual))
        return dict(value=float(err) if ok else 2.0,
                    dual=dual if ok else np.nan,
                    dual_gap=abs(dual - self.dual_ref) if ok else np.nan,
                    cost_minus_lp=float(cost) - self.lp if ok else np.nan,
                    **counts)

    def get_one_result(self):
        return dict(f=np.zeros_like(self.a), g=np.zeros_like(self.b),
                    counts=dict(n_value=0, nit=0))
