"""The dashboard page: Mesa's SolaraViz (controls, step counter, parameters) and simrec's panels.

:func:`page` returns the Solara component ``Page`` of one :class:`~simrec.dashboard.server.Launch`
(the app file :func:`~simrec.dashboard.server.write_app` generates assigns it). Each browser
page gets its own :class:`~simrec.dashboard.model.DashboardSession` and so its own run;
the runs still open when the server stops are closed (their folders finished) at exit.

SolaraViz is given no components of its own: Mesa 3.3.1 lays them out in Vuetify-2 tabs,
which the Vuetify-3 widgets newer Solara installs do not have; the page lays out its
panels itself, beside SolaraViz's sidebar.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Callable
from typing import Any

import solara
from mesa.visualization import SolaraViz

from simrec.dashboard.components import ExposurePanel, MetricsPanel, SocialPanel, UserPanel
from simrec.dashboard.model import DashboardModel, DashboardSession, model_params
from simrec.dashboard.server import Launch
from simrec.dashboard.views import default_user

__all__ = ["page"]

_open: weakref.WeakSet[DashboardSession] = weakref.WeakSet()
_exit_hook = threading.Lock()
_hooked: list[bool] = []


def _track(session: DashboardSession) -> None:
    """Close ``session`` when the server process exits (once the first page opens)."""
    with _exit_hook:
        if not _hooked:
            atexit.register(_close_all)
            _hooked.append(True)
    _open.add(session)


def _close_all() -> None:
    for session in list(_open):
        session.close()


def page(launch: Launch) -> Callable[[], Any]:
    """The ``Page`` component of ``launch``: one run per browser page, stepped from the browser."""
    cfg = launch.load()

    @solara.component
    def Page() -> None:
        session = solara.use_memo(lambda: DashboardSession(cfg), [])

        def opened() -> Callable[[], None]:
            _track(session)
            return session.close  # the page went away: close its run

        solara.use_effect(opened, [])
        first = solara.use_memo(lambda: DashboardModel(session=session, variant=launch.variant), [])
        model = solara.use_reactive(first)
        focus = solara.use_reactive(-1)
        live = model.value.live
        n_users = live.model.world.population.n_users
        user = focus.value if 0 <= focus.value < n_users else default_user(live)
        title = f"simrec dashboard · {cfg.name}" + (f" · {live.cfg.run_name}" if session.variants else "")
        with solara.Column():
            SolaraViz(model, components=[], model_params=model_params(session, launch.variant), name=title)
            solara.Text(f"One Step is one simulated day ({cfg.run.steps} in this scenario; --set run.steps=N for "
                        f"more). Run folder: {live.folder.path}")  # fmt: skip
            with solara.Columns([1, 1]):
                with solara.Column():
                    MetricsPanel(model.value)
                    ExposurePanel(model.value)
                with solara.Column():
                    SocialPanel(model.value, user)
                    UserPanel(model.value, user, focus.set)

    return Page
