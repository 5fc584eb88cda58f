"""``optkit.minimize`` and ``optkit.core.solve`` as entry points."""

import numpy as np

import optkit

from .entry_points import Entry


def _minimize(method, **options):
    callback = options.pop("callback", None)
    tol = options.pop("tol", None)
    d = np.array([1.0, 4.0, 9.0])
    return optkit.minimize(lambda x: 0.5 * float(d @ x**2) + 1.0, np.ones(3), method=method,
                           jac=lambda x: d * x, tol=tol, callback=callback, options=options)


ENTRIES = [
    Entry("core.minimize[gd]", lambda **kw: _minimize("gd", **kw), f_star=1.0, rtol=1e-9),
]
