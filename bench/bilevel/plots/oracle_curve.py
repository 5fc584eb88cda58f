from optkit._bench.plots import OracleCurvePlot


class Plot(OracleCurvePlot):
    """Metric against oracle calls: first-order (n_grad, per level n_outer_grad/n_inner_grad)
    and second-order (n_hvp) calls are separate axes."""
