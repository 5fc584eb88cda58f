from benchopt import BaseSolver

from optkit.ot import sinkhorn


class Solver(BaseSolver):
    """optkit.ot.sinkhorn (log domain; method "sns" or "sinkhorn"), one benchopt callback per
    sweep or Newton step; ``n_value`` counts passes over C (the result's ``nfev``)."""

    name = "optkit"
    sampling_strategy = "callback"
    requirements = []
    parameters = {"method": ["sns", "sinkhorn"]}

    def set_objective(self, a, b, C, reg):
        self.a, self.b, self.C, self.reg = a, b, C, reg

    def warm_up(self):
        sinkhorn(self.a, self.b, self.C, self.reg, method=self.method, maxiter=25)

    def run(self, callback):
        self.result = dict(f=0 * self.a, g=0 * self.b, counts=dict(n_value=0, nit=0))
        if not callback():
            return
        n = self.a.size

        def step(intermediate_result):
            r = intermediate_result
            self.result = dict(f=r.x[:n], g=r.x[n:], counts=dict(n_value=r.nfev, nit=r.nit))
            if not callback():
                raise StopIteration

        sinkhorn(self.a, self.b, self.C, self.reg, method=self.method, tol=1e-15,
                 maxiter=10**6, callback=step)

    def get_result(self):
        return self.result
