"""A live dashboard on Mesa's SolaraViz: ``simrec dashboard SCENARIO`` steps a run in the browser.

Modules, bottom up (only ``components`` and ``app`` import Solara, from the ``viz`` extra):

* :mod:`~simrec.dashboard.live` — :class:`LiveRun`, one run folder stepped a day at a time.
* :mod:`~simrec.dashboard.model` — :class:`DashboardModel`, the Mesa model SolaraViz steps and
  rebuilds on Reset (from a :class:`DashboardSession`, the seed and the variant).
* :mod:`~simrec.dashboard.views` — what the panels show, as plain data.
* :mod:`~simrec.dashboard.figures` — the social-graph and exposure figures (matplotlib).
* :mod:`~simrec.dashboard.components` — the Solara panels; :mod:`~simrec.dashboard.app` — the page.
* :mod:`~simrec.dashboard.server` — the Solara server process behind ``simrec dashboard``.
* :mod:`~simrec.dashboard.assets` — Solara's front-end files for machines without the CDN.

See docs/dashboard.md.
"""
