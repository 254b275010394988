"""The dashboard's Solara components: metrics, social graph, exposure, user panel.

Each reads Mesa's ``update_counter`` so SolaraViz's Step, play and Reset redraw it.
The metrics plot is Mesa's own (:func:`mesa.visualization.make_plot_component`); the
others draw :mod:`simrec.dashboard.figures` or small HTML tables (every text an agent
wrote is escaped: it is untrusted).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import solara
from mesa.visualization import make_plot_component
from mesa.visualization.utils import update_counter

from simrec.dashboard.figures import exposure_figure, graph_figure, style_metrics
from simrec.dashboard.model import DashboardModel
from simrec.dashboard.views import GraphSample, UserView, live_graph

__all__ = ["ExposurePanel", "MetricsPanel", "SocialPanel", "UserPanel"]

#: The behaviour metrics plotted over time (click rate, mood in [-1, 1], fatigue), with their colours.
BEHAVIOUR = {"ctr": "tab:blue", "mean_satisfaction": "tab:green", "mean_fatigue": "tab:red"}
#: Social metrics noted under the graph, when the run has a living graph.
SOCIAL_NOTES = (("edges", "ties"), ("homophily", "homophily"), ("echo_chamber", "echo chamber"), ("shares", "shares"))

_behaviour_plot, _ = make_plot_component(BEHAVIOUR, post_process=style_metrics)


@solara.component
def MetricsPanel(model: DashboardModel) -> None:
    """Mesa's plot of the behaviour metrics per simulated day, and the latest day's counts."""
    update_counter.get()
    with solara.Card("Metrics over time", style={"min-width": "420px"}):
        _behaviour_plot(model)
        df = model.datacollector.get_model_vars_dataframe()
        if len(df):
            last = df.iloc[-1]
            solara.Text(f"day {int(last['step'])}: {int(last['sessions']):,} sessions · {int(last['clicks']):,} "
                        f"clicks · {int(last['ratings']):,} ratings · {model.live.tap.exposure.sum():,} "
                        "impressions so far")  # fmt: skip
        else:
            solara.Text("no day played yet: press Step")


@solara.component
def SocialPanel(model: DashboardModel, focus: int) -> None:
    """A fixed sample of the social graph (its ties now), the focused user ringed."""
    update_counter.get()
    live = model.live
    sample = solara.use_memo(lambda: GraphSample.build(live, focus), [live, focus])
    graph = live_graph(live)
    active = live.model.state.last_step == live.model.steps  # -1 before the first day: nobody
    fig = graph_figure(sample, sample.ties(graph), focus, live.model.world.catalog.genre_names, active)
    with solara.Card("Social graph", style={"min-width": "420px"}):
        solara.FigureMatplotlib(fig, format="png")
        row = _latest(model)
        notes = [f"{label} {_fmt(row[key])}" for key, label in SOCIAL_NOTES if key in row]
        what = "living graph" if live.model.social is not None else "static graph (no social dynamics)"
        solara.Text(f"{what}; larger dots: users with a session on the latest day"
                    + (f" · {' · '.join(notes)}" if notes else ""))  # fmt: skip


@solara.component
def ExposurePanel(model: DashboardModel) -> None:
    """How concentrated the impressions are: the Lorenz curve so far and the Gini per day."""
    update_counter.get()
    live = model.live
    with solara.Card("Exposure", style={"min-width": "420px"}):
        solara.FigureMatplotlib(exposure_figure(live.tap.exposure, live.exposure_gini), format="png")


@solara.component
def UserPanel(model: DashboardModel, user: int, on_user: Callable[[int], None]) -> None:
    """One user: public fields, state, persona, recent events and what an LLM-driven agent wrote.

    Args:
        model: The dashboard's model.
        user: The user shown.
        on_user: Called with the user index the panel's inputs choose.
    """
    update_counter.get()
    live = model.live
    n_users = live.model.world.population.n_users
    view = UserView.of(live, user)
    with solara.Card("User", style={"min-width": "420px"}):
        mask = live.model.policy.llm_users()
        llm = [int(u) for u in np.flatnonzero(mask)] if mask is not None else []
        with solara.Row():
            solara.InputInt("user index", value=user, on_value=lambda u: on_user(min(max(int(u), 0), n_users - 1)))
            if llm:
                solara.Select("LLM-driven users", values=llm, value=user if user in llm else None,
                              on_value=lambda u: on_user(int(u)) if u is not None else None)  # fmt: skip
        kind = "LLM-driven" if view.llm_driven else "choice model"
        solara.HTML(tag="div", unsafe_innerHTML=_fields({**view.public, "decides with": kind, **view.state}))
        if view.persona:
            solara.HTML(tag="p", unsafe_innerHTML=f"<b>persona</b>: {html.escape(view.persona)}")
        if view.llm_driven or len(view.texts):
            solara.HTML(tag="div", unsafe_innerHTML="<b>what this agent wrote</b>" + _table(view.texts, "nothing yet"))
        counts = view.event_counts()
        solara.Text(f"last {live.tap.keep_steps} days: " + ", ".join(f"{v:,} {k}s" for k, v in counts.items() if v))
        shown = view.shown_events()
        solara.HTML(tag="div", unsafe_innerHTML=_table(shown, "no clicks, ratings, shares or exits in the last days"))


def _latest(model: DashboardModel) -> Mapping[str, float]:
    df = model.datacollector.get_model_vars_dataframe()
    return df.iloc[-1].to_dict() if len(df) else {}


def _fmt(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return "–" if np.isnan(value) else (f"{value:,.0f}" if value.is_integer() else f"{value:.3f}")
    return str(value)


_TABLE_STYLE = "border-collapse:collapse;font-size:12px;margin:4px 0"
_CELL_STYLE = "border-bottom:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top"


def _fields(fields: Mapping[str, object]) -> str:
    cells = "".join(
        f'<tr><th style="{_CELL_STYLE}">{html.escape(str(k))}</th><td style="{_CELL_STYLE}">{html.escape(_fmt(v))}</td></tr>'
        for k, v in fields.items()
    )
    return f'<table style="{_TABLE_STYLE}">{cells}</table>'


def _table(df: pd.DataFrame, empty: str) -> str:
    if not len(df):
        return f"<p><i>{html.escape(empty)}</i></p>"
    head = "".join(f'<th style="{_CELL_STYLE}">{html.escape(str(c))}</th>' for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL_STYLE}">{html.escape(_fmt(v))}</td>' for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f'<table style="{_TABLE_STYLE}"><tr>{head}</tr>{body}</table>'
