"""Adversarial item text: the templates, and catalogs that change only the attacked items' field."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.attacks.plan import attack_world
from simrec.attacks.text import (
    FIELDS,
    TEXT_ATTACKS,
    TITLE_ATTACKS,
    adversarial_text,
    attacked_catalog,
)
from simrec.core.rng import child_rng
from simrec.testing.worlds import tiny_scenario, tiny_world

KINDS = tuple(TEXT_ATTACKS)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("kind", KINDS)
def test_only_the_chosen_items_chosen_field_changes_and_the_input_stays(kind: str, field: str) -> None:
    cat = tiny_world().catalog
    titles, text = cat.titles.copy(), cat.text.copy()
    items = np.array([3, 11, 29])
    out = attacked_catalog(cat, items, kind, field, np.random.default_rng(0))
    assert np.array_equal(cat.titles, titles) and np.array_equal(cat.text, text)  # never mutated
    changed, same = (out.titles, out.text) if field == "title" else (out.text, out.titles)
    before = titles if field == "title" else text
    assert np.array_equal(same, titles if field != "title" else text)
    diff = np.flatnonzero(changed != before)
    assert diff.tolist() == items.tolist()
    for i in items:
        old, new = str(before[i]), str(changed[i])
        if field == "title":
            assert new.startswith(old + " ") and new[len(old) + 1 :] in TITLE_ATTACKS[kind]
        elif field == "description":
            assert new.endswith(" " + old) and len(new) > len(old) + 10
        else:
            assert new.startswith(old + ' A viewer wrote: "') and new.endswith('"')
    # everything else is the same object or equal
    assert out.genres is cat.genres and out.popularity is cat.popularity and out.item_ids is cat.item_ids


def test_fixed_width_titles_are_widened_not_cut() -> None:
    cat = tiny_world().catalog
    cat = type(cat)(**{**cat.__dict__, "titles": np.array([str(t) for t in cat.titles])})  # '<U..' dtype
    assert cat.titles.dtype.kind == "U"
    out = attacked_catalog(cat, [0], "superlatives", "title", np.random.default_rng(1))
    assert str(out.titles[0]).startswith(str(cat.titles[0])) and len(str(out.titles[0])) > cat.titles.dtype.itemsize // 4


def test_seeded_choice_of_template_and_the_title_forms() -> None:
    picks = {adversarial_text("injection", "Heat (1995)", np.random.default_rng(s)) for s in range(30)}
    assert len(picks) == len(TEXT_ATTACKS["injection"])  # every template is used
    assert all("$title" not in p for p in picks) and any("Heat (1995)" in p for p in picks)
    a = attacked_catalog(tiny_world().catalog, [1, 2, 5], "social_proof", "review", np.random.default_rng(7))
    b = attacked_catalog(tiny_world().catalog, [1, 2, 5], "social_proof", "review", np.random.default_rng(7))
    assert np.array_equal(a.text, b.text)
    assert all(len(t) <= 32 for forms in TITLE_ATTACKS.values() for t in forms)
    assert all("best" in t for t in TITLE_ATTACKS["superlatives"])
    assert adversarial_text("marker_forgery", "X", np.random.default_rng(0), short=True) in TITLE_ATTACKS["marker_forgery"]
    with pytest.raises(ValueError, match="unknown text attack"):
        adversarial_text("flattery", "X", np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown text field"):
        attacked_catalog(tiny_world().catalog, [1], "injection", "poster", np.random.default_rng(0))
    cat = tiny_world().catalog
    assert attacked_catalog(cat, [1], "none", "title", np.random.default_rng(0)) is cat


def test_attack_world_writes_the_plans_items_and_keeps_the_clean_world() -> None:
    over = ["robustness.text.attack=marker_forgery", "robustness.text.items=4", "robustness.text.field=description"]
    cfg = tiny_scenario(0, over)
    world = tiny_world(0)
    attacked = attack_world(cfg, world)
    plan = attacked.attacks
    assert plan is not None and len(plan.text_items) == 4 and plan.text_attack == "marker_forgery"
    diff = np.flatnonzero(attacked.catalog.text != world.catalog.text)
    assert diff.tolist() == plan.text_items.tolist()
    assert np.array_equal(attacked.catalog.titles, world.catalog.titles)
    # the attack off: the clean world itself; watched by the probe, the same items, their text left alone
    off = [*over[1:], "robustness.text.attack=none"]
    assert attack_world(tiny_scenario(0, off), world) is world
    clean = attack_world(tiny_scenario(0, [*off, "robustness.probe=true"]), world)
    assert clean.attacks is not None and np.array_equal(clean.attacks.text_items, plan.text_items)
    assert clean.catalog is world.catalog
    again = attack_world(cfg, tiny_world(0))
    assert np.array_equal(again.catalog.text, attacked.catalog.text)  # seeded: child_rng(seed, "attack", "wording")
    assert child_rng(0, "attack", "wording").integers(10) == child_rng(0, "attack", "wording").integers(10)
