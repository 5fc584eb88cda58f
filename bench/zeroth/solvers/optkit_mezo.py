from benchmark_utils import FinetuneSolver

from optkit.zeroth import MeZO


class Solver(FinetuneSolver):
    """optkit MeZO (SPSA, seed trick) on all fp32 weights."""

    name = "optkit-mezo"
    parameters = {"lr": [3e-4], "eps": [1e-3]}

    def setup(self, model):
        return model, MeZO(model.parameters(), lr=self.lr, eps=self.eps, rng=self.seed)

    def one_step(self, closure):
        self.opt.step(closure)
