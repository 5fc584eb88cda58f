from benchopt import BaseDataset

from optkit.constrained.large import network_flow, semilinear_control, separable_quartic


class Dataset(BaseDataset):
    """Large sparse problems (n >= 10^4) with sparse Hessian matrices: convex-cost flow on a
    random network (n = 10000, m = 2000, linear constraints) and semilinear elliptic control
    on a 71 x 71 grid (n = 10082, m = 5041), separable quartic under 100 random sparse linear
    constraints (n = 10000). See optkit.constrained.large."""

    name = "large-sparse"
    parameters = {"problem": ["network", "pde", "quartic"]}
    test_parameters = {"problem": ["pde"]}

    def get_data(self):
        make = {"network": network_flow, "pde": semilinear_control,
                "quartic": separable_quartic}[self.problem]
        return dict(problem=make())
