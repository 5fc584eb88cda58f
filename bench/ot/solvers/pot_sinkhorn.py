import warnings

import numpy as np
import ot
from benchopt import BaseSolver


class Solver(BaseSolver):
    """POT ``ot.sinkhorn`` with ``method="sinkhorn_log"`` (log domain) or ``"sinkhorn"``
    (kernel domain, which under/overflows at large eta), ``numItermax`` = benchopt's budget;
    an iteration is two passes over C."""

    name = "pot"
    sampling_strategy = "iteration"
    requirements = ["pip:pot"]
    parameters = {"method": ["sinkhorn_log", "sinkhorn"]}

    def set_objective(self, a, b, C, reg):
        self.a, self.b, self.C, self.reg = a, b, C, reg

    def run(self, maxiter):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, log = ot.sinkhorn(self.a, self.b, self.C, self.reg, method=self.method,
                                 numItermax=max(1, maxiter), stopThr=0.0, log=True)
            if self.method == "sinkhorn_log":
                f, g = self.reg * log["log_u"], self.reg * log["log_v"]
            else:
                f, g = self.reg * np.log(log["u"]), self.reg * np.log(log["v"])
        self.result = dict(f=f, g=g, counts=dict(n_value=2 * log["niter"],
                                                         nit=log["niter"]))

    def get_result(self):
        return self.result
