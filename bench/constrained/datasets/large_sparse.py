from benchopt import BaseDataset

from optkit.constrained.large import network_flow, semilinear_control


class Dataset(BaseDataset):
    """Large sparse problems (n >= 10^4) with sparse Hessian matrices: convex-cost flow on a
    random network (n = 10000, m = 2000, linear constraints) and semilinear elliptic control
    on a 71 x 71 grid (n = 10082, m = 5041). See optkit.constrained.large."""

    name = "large-sparse"
    parameters = {"problem": ["network", "pde"]}
    test_parameters = {"problem": ["pde"]}

    def get_data(self):
        problem = network_flow() if self.problem == "network" else semilinear_control()
        return dict(problem=problem)
