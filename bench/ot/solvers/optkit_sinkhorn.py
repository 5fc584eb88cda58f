from benchopt import BaseSolver

from optkit.ot import sinkhorn


class Solver(BaseSolver):
    """optkit.ot.sinkhorn (log domain; method "sns" or "sinkhorn"), one benchopt callback per
    checked sweep or Newton step."""

    name = "optkit"
    sampling_strategy = "callback"
    requirements = []
    parameters = {"method": ["sns", "sinkhorn"]}

    def set_objective(self, a, b, C, reg):
        self.a, self.b, self.C, self.reg = a, b, C, reg

    def warm_up(self):
        sinkhorn(self.a, self.b, self.C, self.reg, method=self.method, max_iter=25)

    def run(self, callback):
        self.result = dict(f=0 * self.a, g=0 * self.b, counts=dict(n_sinkhorn=0, n_newton=0, n_cg=0))
        if not callback():
            return

        def step(r):
            self.result = dict(f=r.f, g=r.g, counts=dict(n_sinkhorn=r.n_sinkhorn,
                                                         n_newton=r.n_newton, n_cg=r.n_cg))
            if not callback():
                raise StopIteration

        sinkhorn(self.a, self.b, self.C, self.reg, method=self.method, tol=1e-15,
                 max_iter=10**6, callback=step)

    def get_result(self):
        return self.result
