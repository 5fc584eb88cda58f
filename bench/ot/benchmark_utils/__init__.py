"""Shared pieces of the ot suite: instance construction with its LP and entropic references."""

import numpy as np
import ot

from optkit.ot import sinkhorn


def instance(C, eta, a=None, b=None):
    """Scale C to max 1, masses ``a``, ``b`` (uniform by default), reg = 1/eta; the LP value
    from ``ot.emd2`` and the reference dual value from optkit's SNS at tol 1e-12 (computed
    once per dataset)."""
    C = np.ascontiguousarray(C / C.max())
    n, m = C.shape
    a = np.full(n, 1.0 / n) if a is None else a
    b = np.full(m, 1.0 / m) if b is None else b
    lp = ot.emd2(a, b, C, numItermax=10**8)
    ref = sinkhorn(a, b, C, eta=eta, tol=1e-12, maxiter=5000)
    return dict(a=a, b=b, C=C, reg=1.0 / eta, lp=float(lp), dual_ref=ref.dual)
