"""The dashboard's figures draw what they are given."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from simrec.dashboard.figures import exposure_figure, graph_figure, style_metrics
from simrec.dashboard.live import LiveRun
from simrec.dashboard.views import GraphSample, live_graph
from tests.dashboard.helpers import scenario
from tests.helpers import SOCIAL


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_metrics_style_counts_days_from_one() -> None:
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0.1, 0.2, 0.3], label="ctr")  # what Mesa's plot draws: the DataCollector's rows 0, 1, 2
    ax.legend()
    style_metrics(ax)
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [1, 2, 3] and line.get_marker() == "o"
    assert ax.get_xlim() == (0.5, 3.5)


def test_graph_and_exposure_figures(tmp_path: Path) -> None:
    live = LiveRun.start(scenario(tmp_path, **SOCIAL))
    live.step()
    graph = live_graph(live)
    sample = GraphSample.build(live, 0, size=30)
    ties = sample.ties(graph)
    fig = graph_figure(sample, ties, 0, live.model.world.catalog.genre_names, live.model.state.last_step == 1)
    ax = fig.axes[0]
    assert len(ax.collections[0].get_segments()) == len(ties)  # one segment per tie
    assert f"{len(ties)} ties" in ax.get_title() and png(fig).startswith(b"\x89PNG")
    fig = exposure_figure(live.tap.exposure, live.exposure_gini)
    left, right = fig.axes
    assert np.isclose(left.get_lines()[1].get_ydata()[-1], 1.0)
    assert list(right.get_lines()[0].get_ydata()) == live.exposure_gini
    assert png(fig).startswith(b"\x89PNG")
    live.close()
