"""The dashboard's matplotlib figures (``Figure`` objects, no pyplot state): graph and exposure.

The metrics over time are Mesa's own plot component; :func:`style_metrics` is its
``post_process`` (steps counted from 1, markers, a title).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from simrec.dashboard.views import GraphSample, lorenz

__all__ = ["exposure_figure", "graph_figure", "style_metrics"]

#: Figure size of the dashboard's panels (inches at 100 dpi).
PANEL_SIZE = (5.6, 3.6)


def style_metrics(ax: Axes) -> None:
    """Mesa's metrics plot, tidied: x counts simulated days from 1 (the DataCollector's row 0 is
    day 1), markers on every point, a title."""
    for line in ax.get_lines():
        line.set_xdata(np.asarray(line.get_xdata(), dtype=np.float64) + 1)
        line.set_marker("o")
        line.set_markersize(3)
    ax.relim()
    ax.autoscale_view()
    days = max((len(line.get_xdata()) for line in ax.get_lines()), default=0)
    ax.set_xlim(0.5, max(days, 1) + 0.5)  # one day is a point, not a ±0.05 stretch of axis
    ax.set_title("behaviour per simulated day", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend() is not None:
        ax.legend(loc="best", fontsize=8, framealpha=0.7)


def graph_figure(
    sample: GraphSample, ties: np.ndarray, focus: int, genre_names: Sequence[str], active: np.ndarray | None = None
) -> Figure:
    """The sampled users and their ties now; ``focus`` ringed; colour: favourite genre.

    Args:
        sample: The fixed sample and layout.
        ties: ``[E, 2]`` ties among the sample now (:meth:`GraphSample.ties`).
        focus: The user the panel is on.
        genre_names: Names of the genre indices in ``sample.colour``.
        active: ``[n_users]`` bool, users who had a session in the latest step (drawn larger).
    """
    fig = Figure(figsize=PANEL_SIZE, dpi=100)
    ax = fig.subplots()
    pos = sample.pos
    if len(ties):
        segments = [(pos[int(a)], pos[int(b)]) for a, b in ties if int(a) in pos and int(b) in pos]
        ax.add_collection(LineCollection(segments, colors="#999999", linewidths=0.5, alpha=0.6, zorder=1))
    xy = np.array([pos[int(u)] for u in sample.nodes])
    sizes = np.full(len(sample.nodes), 14.0)
    if active is not None:
        sizes[active[sample.nodes]] = 34.0
    colours = np.where(sample.colour >= 0, sample.colour % 20, 0)
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, cmap="tab20", vmin=0, vmax=19, s=sizes, zorder=2, linewidths=0)
    where = np.flatnonzero(sample.nodes == focus)
    if len(where):
        fx, fy = xy[where[0]]
        ax.scatter([fx], [fy], s=160, facecolors="none", edgecolors="crimson", linewidths=2, zorder=3)
        ax.annotate(f"user {focus}", (fx, fy), xytext=(9, 9), textcoords="offset points", fontsize=8, color="crimson",
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    values, counts = np.unique(sample.colour[sample.colour >= 0], return_counts=True)
    commonest = values[np.argsort(-counts, kind="stable")][:6]
    for c in commonest.tolist():  # a short legend: the six commonest genres of the sample
        ax.scatter([], [], color=_tab20(c), s=14, label=str(genre_names[c]) if c < len(genre_names) else str(c))
    if len(commonest):
        ax.legend(loc="lower left", fontsize=6, frameon=False, ncols=2, title="favourite genre", title_fontsize=6)
    ax.set_title(f"social graph: {len(sample.nodes)} users sampled, {len(ties)} ties among them", fontsize=10)
    ax.set_axis_off()
    ax.autoscale_view()
    fig.tight_layout()
    return fig


def _tab20(index: int) -> tuple[float, float, float, float]:
    """The colour ``scatter(..., cmap="tab20", vmin=0, vmax=19)`` gives ``index``."""
    return colormaps["tab20"](index % 20 / 19)


def exposure_figure(exposure: np.ndarray, gini_per_step: Sequence[float]) -> Figure:
    """Left: the Lorenz curve of impressions over the catalog so far; right: its Gini per day."""
    fig = Figure(figsize=PANEL_SIZE, dpi=100)
    left, right = fig.subplots(1, 2)
    x, y = lorenz(exposure)
    left.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=0.8, linestyle="--", label="equal exposure")
    left.plot(x, y, color="tab:purple", linewidth=1.5, label="impressions so far")
    shown = int(np.count_nonzero(exposure))
    left.set_title(f"exposure: {shown:,} of {len(exposure):,} items shown", fontsize=9)
    left.set_xlabel("share of items (least shown first)", fontsize=8)
    left.set_ylabel("share of impressions", fontsize=8)
    left.legend(loc="upper left", fontsize=7, frameon=False)
    left.tick_params(labelsize=7)
    days = np.arange(1, len(gini_per_step) + 1)
    right.plot(days, list(gini_per_step), color="tab:purple", marker="o", markersize=3)
    right.set_title("exposure Gini", fontsize=9)
    right.set_xlabel("day", fontsize=8)
    right.set_ylim(0, 1)
    right.set_xlim(0.5, max(len(days), 1) + 0.5)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.tick_params(labelsize=7)
    right.grid(alpha=0.3)
    fig.tight_layout()
    return fig
