"""The HTML convergence plots load plotly.js from a file written beside them, not a CDN."""

from __future__ import annotations

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("plotly")


def test_html_plot_loads_plotly_from_a_local_file(tmp_path):
    from optkit._bench import report

    df = pd.DataFrame({
        "suite": "smooth", "dataset_name": "toy", "solver_name": "a", "idx_rep": 0,
        "stop_val": [1, 2, 3], "time": [0.1, 0.2, 0.3], "objective_value": [3.0, 2.0, 1.0],
        "objective_n_grad": [1.0, 2.0, 3.0],
    })
    (html,) = report.plot_results(df, tmp_path / "curves", png=False, html=True)
    text = html.read_text()
    assert 'src="plotly.min.js"' in text
    assert "cdn.plot.ly" not in text
    local = tmp_path / "plotly.min.js"
    assert local.is_file() and local.stat().st_size > 1_000_000   # the whole library
