"""Personas: built from training data only, deterministic, compact and fast."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.agents.persona import Persona, build_personas, favourite_items
from simrec.world.build import World, build_world
from tests.helpers import ROOT, ml100k_scenario, small_scenario


@pytest.fixture(scope="module")
def ml_world(tmp_path_factory: pytest.TempPathFactory, ml100k_dir: Path) -> World:
    return build_world(ml100k_scenario(tmp_path_factory.mktemp("persona_ml"), ml100k_dir))


@pytest.fixture(scope="module")
def synth_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    arch = ROOT / "agents" / "archetypes" / "default.yaml"
    cfg = small_scenario(
        tmp_path_factory.mktemp("persona_syn"), **{"environment.data.archetypes": arch}
    )
    return build_world(cfg)


def _usable_genres(world: World) -> np.ndarray:
    names = world.catalog.genre_names
    return np.array([n.lower() != "unknown" for n in names]) & world.catalog.genres.any(axis=0)


def test_demographics_appear(ml_world: World) -> None:
    users = np.arange(30)
    demo = ml_world.population.demographics
    for p in build_personas(ml_world, users):
        row = demo.iloc[p.user]
        assert f"{int(row['age'])}-year-old" in p.demographics
        assert p.demographics in p.text
        assert (
            ("male" in p.text or "man" in p.text)
            if row["gender"] == "M"
            else "female" in p.text or "woman" in p.text
        )
        if row["occupation"] in ("technician", "writer", "student", "programmer", "engineer"):
            assert row["occupation"] in p.text
        assert p.archetype is None  # MovieLens has no planted archetypes
    first = build_personas(ml_world, [0])[0]
    assert first.text.startswith("You are a 24-year-old male technician.")


def test_liked_genres_follow_the_training_genre_affinity(ml_world: World) -> None:
    names = ml_world.catalog.genre_names
    usable = _usable_genres(ml_world)
    users = np.arange(200)
    personas = build_personas(ml_world, users)
    n_liked = 0
    for p in personas:
        aff = np.where(usable, ml_world.population.genre_affinity[p.user], -np.inf)
        if p.liked_genres:
            n_liked += 1
            assert p.liked_genres[0] == names[int(np.argmax(aff))]
            assert p.liked_genres[0] in p.text
        liked = [aff[names.index(g)] for g in p.liked_genres]
        disliked = [
            ml_world.population.genre_affinity[p.user, names.index(g)] for g in p.disliked_genres
        ]
        assert liked == sorted(liked, reverse=True)
        assert not set(p.liked_genres) & set(p.disliked_genres)
        if liked and disliked:
            assert min(liked) > max(disliked)
        assert "unknown" not in p.liked_genres + p.disliked_genres
    assert n_liked > 150  # nearly everyone has a clear favourite genre


def test_favourites_are_the_top_rated_training_items(ml_world: World) -> None:
    train = ml_world.train.to_frame()
    users = np.arange(100)
    personas = build_personas(ml_world, users)
    fav_items = favourite_items(ml_world, users, 3)
    for p, items in zip(personas, fav_items, strict=True):
        mine = train[(train.user == p.user) & (train.rating >= 4)]
        expected = mine.sort_values(["rating", "item"], ascending=[False, True], kind="stable")[
            "item"
        ]
        assert items == expected.drop_duplicates().tolist()[:3]
        assert p.favourites == [str(ml_world.catalog.titles[i]) for i in items]


def test_favourites_never_come_from_held_out_data(ml_world: World) -> None:
    train, held = ml_world.train.to_frame(), ml_world.heldout.to_frame()
    assert len(held) > 0
    users = np.arange(ml_world.population.n_users)
    fav = favourite_items(ml_world, users, 3)
    train_pairs = set(zip(train.user, train.item, strict=True))
    held_only = set(zip(held.user, held.item, strict=True)) - train_pairs
    for u, items in zip(users.tolist(), fav, strict=True):
        for i in items:
            assert (u, i) in train_pairs
            assert (u, i) not in held_only
    # held-out five-star items that beat every training favourite on rating and
    # index still never show up: the persona only sees training data
    top_held = held[held.rating == 5].sort_values("item").groupby("user")["item"].first()
    hits = sum(
        int(top_held[u]) in fav[u] for u in top_held.index if (u, int(top_held[u])) in held_only
    )
    assert hits == 0


def test_personas_are_deterministic_and_ordered(ml_world: World) -> None:
    users = np.array([5, 3, 900, 3])
    a = build_personas(ml_world, users)
    b = build_personas(ml_world, users)
    assert a == b
    assert [p.user for p in a] == users.tolist()
    assert a[1] == a[3]
    assert [p.text for p in a] == [p.text for p in b]


def test_thousand_personas_build_fast_and_stay_short(ml_world: World) -> None:
    users = np.resize(np.arange(ml_world.population.n_users), 1000)
    start = time.perf_counter()
    personas = build_personas(ml_world, users)
    texts = [p.text for p in personas]
    elapsed = time.perf_counter() - start
    assert len(texts) == 1000
    assert elapsed < 1.0, elapsed
    words = np.array([len(t.split()) for t in texts])
    assert words.max() <= 60 and np.median(words) >= 20, (words.min(), words.max())


def test_bad_user_index_is_a_clear_error(ml_world: World) -> None:
    with pytest.raises(ValueError, match="user indices"):
        build_personas(ml_world, [ml_world.population.n_users])


def test_synthetic_personas_name_their_archetype(synth_world: World) -> None:
    latent = synth_world.dataset.latent["archetype"]
    users = np.arange(synth_world.population.n_users)
    personas = build_personas(synth_world, users)
    for p in personas:
        assert p.archetype == latent[p.user]
        assert p.archetype in p.text
        assert p.demographics == ""  # synthetic users have no demographics
    assert len({p.archetype for p in personas}) > 1
    assert build_personas(synth_world, users) == personas


def test_text_reads_well_and_quotes_titles() -> None:
    p = Persona(
        user=0,
        liked_genres=["Sci-Fi", "Action"],
        disliked_genres=["Musical"],
        favourites=[
            "Star Wars (1977)",
            'Say "Anything" (1989)',
            "Shanghai Triad (Yao a yao) (1995)",
        ],
        demographics="18-year-old male student",
        traits="rarely follow the crowd and are patient",
        archetype="explorer",
    )
    assert p.text == (
        "You are an 18-year-old male student, an explorer. You love Sci-Fi and Action; you dislike "
        'Musical. Favourites: "Star Wars", "Say \\"Anything\\"", "Shanghai Triad". '
        "You rarely follow the crowd and are patient."
    )
    bare = Persona(1, [], [], [], "", "", None)
    assert bare.text == ""


def test_implicit_data_still_gets_favourites(ml_world: World) -> None:
    # without ratings, the most recent training items stand in for favourites
    from dataclasses import replace

    from simrec.data.types import Interactions

    tr = ml_world.train
    implicit = Interactions(tr.user, tr.item, np.full(len(tr), np.nan, np.float32), tr.timestamp)
    world = replace(ml_world, train=implicit)
    [items] = favourite_items(world, np.array([0]), 2)
    mine = pd.DataFrame({"item": tr.item, "ts": tr.timestamp})[tr.user == 0]
    latest = mine.sort_values(["ts", "item"], ascending=[False, True]).item.tolist()[:2]
    assert items == latest


def test_page_prompts_fit_the_token_budget_for_real_personas(ml_world: World) -> None:
    from simrec.agents.prompts import render_page_decision
    from tests.agents.test_prompts import FRIENDS, MEMORIES, PAGE, _tokenizer

    count, how = _tokenizer()
    sizes = []
    for p in build_personas(ml_world, np.arange(ml_world.population.n_users)):
        system, user = render_page_decision(p, MEMORIES, PAGE, FRIENDS)
        sizes.append(
            count(
                f"<start_of_turn>user\n{system.content}\n\n{user.content}<end_of_turn>\n<start_of_turn>model\n"
            )
        )
    assert np.percentile(sizes, 95) <= 350 and max(sizes) <= 360, (
        how,
        np.percentile(sizes, [50, 95, 100]),
    )
