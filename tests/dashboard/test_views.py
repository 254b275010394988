"""What the panels show, read off a live run: exposure curve, graph sample, user view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.dashboard.live import LiveRun
from simrec.dashboard.views import (
    GraphSample,
    UserView,
    default_user,
    favourite_genres,
    live_graph,
    lorenz,
)
from simrec.io.texts import TextRow
from tests.dashboard.helpers import scenario
from tests.helpers import SOCIAL

HYBRID = {"policy.name": "hybrid", "policy.llm.llm_users": 3, "llm.backend": "fake", "agents.memory.store": "memory"}


@pytest.fixture
def social_run(tmp_path: Path):
    live = LiveRun.start(scenario(tmp_path, **SOCIAL))
    live.step()
    yield live
    live.close()


def test_lorenz_curve() -> None:
    x, y = lorenz(np.array([5, 5, 5, 5]))
    np.testing.assert_allclose(y, x)
    x, y = lorenz(np.array([0, 0, 0, 8]))
    np.testing.assert_allclose(y, [0, 0, 0, 0, 1])
    x, y = lorenz(np.zeros(3))
    np.testing.assert_allclose(y, x)


def test_graph_sample_is_a_seeded_snowball_around_the_user(social_run: LiveRun) -> None:
    graph = live_graph(social_run)
    focus = default_user(social_run)
    assert focus == int(np.argmax(graph.in_degree()))  # choice mode: the most followed user
    sample = GraphSample.build(social_run, focus, size=40)
    assert len(sample.nodes) == 40 and focus in sample.nodes and np.all(np.diff(sample.nodes) > 0)
    assert set(graph.following(focus).tolist()) <= set(sample.nodes.tolist())  # its friends come first
    again = GraphSample.build(social_run, focus, size=40)
    assert np.array_equal(again.nodes, sample.nodes) and again.pos == sample.pos
    ties = sample.ties(graph)
    assert len(ties) and np.isin(ties, sample.nodes).all()
    assert set(map(tuple, ties.tolist())) <= set(map(tuple, graph.edges().tolist()))


def test_favourite_genre_is_the_most_watched_in_training(social_run: LiveRun) -> None:
    world = social_run.model.world
    user = int(world.train.user[0])
    counts = world.catalog.genres[world.train.item[world.train.user == user]].sum(axis=0)
    assert favourite_genres(social_run, np.array([user]))[0] == int(np.argmax(counts))


def test_user_view_of_a_choice_user(social_run: LiveRun) -> None:
    user = int(social_run.tap.recent[-1].user[0])
    view = UserView.of(social_run, user)
    assert view.public["user"] == user and "user_id" in view.public
    assert not view.llm_driven and view.persona == ""
    assert view.state["sessions"] == 1 and view.state["followers"] == len(live_graph(social_run).followers(user))
    counts = view.event_counts()
    assert counts["impression"] > 0 and counts["impression"] == counts["click"] + counts["skip"]
    shown = view.shown_events()
    assert set(shown["event"]) <= {"click", "rating", "share", "exit"} and len(shown) <= 10
    assert list(shown.columns) == ["step", "page", "position", "title", "event", "value", "via", "policy"]


def test_user_view_of_an_llm_driven_user_shows_persona_and_texts(tmp_path: Path) -> None:
    live = LiveRun.start(scenario(tmp_path, **HYBRID))
    user = default_user(live)
    assert live.model.policy.llm_users()[user]  # the panel opens on an LLM-driven user
    assert live.parts.texts is not None
    item = 4
    live.parts.texts.add([TextRow(1, 0, 0, user, item, "review", 4.0, "<b>Loved</b> it"),
                          TextRow(1, 0, 0, user, -1, "reflection", 0.0, "I like quiet films")])  # fmt: skip
    live.parts.texts.flush()  # what the model's collect phase does with the texts of a step
    view = UserView.of(live, user)
    assert view.llm_driven and view.persona
    records = view.texts.to_dict("records")
    assert records[0] == {"step": 1, "kind": "review", "stars": 4.0,
                          "title": live.model.world.catalog.titles[item], "text": "<b>Loved</b> it"}  # fmt: skip
    assert records[1]["title"] == "" and np.isnan(records[1]["stars"])  # no stars: shown as –, not 0
    live.close()
