from optkit._bench.plots import OracleCurvePlot


class Plot(OracleCurvePlot):
    """Metric against oracle calls."""
