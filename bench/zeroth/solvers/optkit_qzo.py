from benchmark_utils import FinetuneSolver

from optkit.zeroth import QZO, quantize_model, scale_parameters


class Solver(FinetuneSolver):
    """optkit QZO on the fp32 scales of the int4 (group 32) quantized model."""

    name = "optkit-qzo"
    parameters = {"lr": [1e-5], "eps": [1e-4], "clip": [None]}

    def setup(self, model):
        model, _ = quantize_model(model, bits=4, group_size=32)
        return model, QZO(scale_parameters(model), lr=self.lr, eps=self.eps, clip=self.clip,
                          rng=self.seed)

    def one_step(self, closure):
        self.opt.step(closure)
