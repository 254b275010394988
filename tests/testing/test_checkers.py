"""The shipped checkers: every registered policy and recommender passes them; broken ones fail, and say why."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from simrec.agents.items import ItemProfiles
from simrec.agents.mind import Mind, build_store
from simrec.agents.policies.base import (
    POLICIES,
    BasePolicy,
    Decisions,
    PageBatch,
    PolicyOutput,
    build_policy,
    policy_class,
)
from simrec.agents.policies.choice import ChoicePolicy
from simrec.config.schema import MemoryConfig
from simrec.core.rng import child_rng
from simrec.llm.base import CallSettings
from simrec.llm.fake import ScriptedBackend
from simrec.recommenders.base import RECOMMENDERS
from simrec.recommenders.popular import MostPopularRecommender
from simrec.testing import check_policy, check_recommender, tiny_scenario, tiny_world
from simrec.world.build import World
from tests.agents.test_llm_policy import script
from tests.helpers import ROOT
from tests.plugins.llmpolicy import AskingPolicy
from tests.plugins.toprated import TopRated
from tests.recommenders.test_contract import FAST, _synthetic, build


def llm_parts(world: World) -> tuple[ScriptedBackend, Mind, ItemProfiles]:
    """A scripted backend (tests/agents' script), an in-memory mind and item profiles over ``world``."""
    mem = MemoryConfig(store="memory", reflect_every=4)
    mind = Mind(mem, world, build_store(mem, None, "checkers"))
    return (
        ScriptedBackend(CallSettings(model="scripted"), script),
        mind,
        ItemProfiles(world.catalog),
    )


# -- every registered implementation passes ------------------------------------------
@pytest.mark.parametrize("name", POLICIES.names())
def test_every_registered_policy_passes(name: str) -> None:
    world = tiny_world(0)
    cfg = tiny_scenario(0, [f"policy.name={name}", "policy.llm.llm_users=4"]).policy
    llm, mind, items = llm_parts(world) if policy_class(name).uses_llm else (None, None, None)
    policy = build_policy(cfg, world, child_rng(0, "policy"), llm, mind, items)
    check_policy(policy, world)
    if llm is not None:  # the LLM path was exercised, not only the choice-model fallback
        assert llm.calls and policy.counters()["llm_decisions"] > 0
        assert policy.counters()["llm_fallbacks"] == 0


def test_a_policy_class_and_a_plugin_policy_pass() -> None:
    check_policy(ChoicePolicy, seed=5)
    world = tiny_world(1)
    cfg = tiny_scenario(1, ["policy.name=tests.plugins.llmpolicy:AskingPolicy"]).policy
    llm = ScriptedBackend(CallSettings(model="scripted"), lambda call: json.dumps({"leave": True}))
    policy = AskingPolicy.from_world(cfg, world, child_rng(1, "policy"), llm)
    check_policy(policy, world, seed=1)
    assert len(llm.calls) > 0


@pytest.mark.parametrize("name", RECOMMENDERS.names())
def test_every_registered_recommender_passes(name: str) -> None:
    check_recommender(build(name, FAST.get(name, {})))


@pytest.fixture()
def examples_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    yield
    sys.modules.pop("sklearn_svd", None)


def test_plugin_recommenders_pass(examples_on_path: None) -> None:
    from sklearn_svd import PureSVD

    check_recommender(PureSVD)  # a class: built with the checker's rng
    data = _synthetic()
    check_recommender(PureSVD(factors=8, rng=np.random.default_rng(2)), interactions=data.interactions,
                      catalog=data.catalog, seed=2)  # fmt: skip
    # TopRated shows everyone the same list, watched or not: it passes only when told so
    check_recommender(TopRated(min_ratings=1), check_seen=False)
    with pytest.raises(AssertionError, match="shows user .* an item they have seen"):
        check_recommender(TopRated(min_ratings=1))


def test_checkers_import_without_torch_or_llm_packages() -> None:
    heavy = [
        "torch",
        "llama_cpp",
        "chromadb",
        "sentence_transformers",
        "openai",
        "ollama",
        "langchain_core",
    ]
    code = f"import sys, simrec.testing; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


# -- broken policies fail for the right reason -----------------------------------------
class Shrinks(ChoicePolicy):
    def decide(self, batch: PageBatch) -> Decisions:
        dec = super().decide(batch)
        return dataclasses.replace(dec, clicks=dec.clicks[:, 1:], ratings=dec.ratings[:, 1:])


class RatesUnwatched(ChoicePolicy):
    def decide(self, batch: PageBatch) -> Decisions:
        dec = super().decide(batch)
        dec.clicks[:, 0], dec.ratings[:, 0] = False, 4
        return dec


class FloatClicks(ChoicePolicy):
    def decide(self, batch: PageBatch) -> Decisions:
        dec = super().decide(batch)
        return dataclasses.replace(dec, clicks=dec.clicks.astype(np.float32))


class LosesMood(ChoicePolicy):
    def decide(self, batch: PageBatch) -> Decisions:
        dec = super().decide(batch)
        dec.satisfaction[:] = np.nan
        return dec


class SharesUndecided(ChoicePolicy):
    def decide(self, batch: PageBatch) -> Decisions:
        return dataclasses.replace(super().decide(batch), shares=np.zeros(batch.items.shape, bool))


class WritesIntoBatch(ChoicePolicy):
    def decide(self, batch: PageBatch) -> Decisions:
        batch.fatigue[:] = batch.fatigue + 1.0
        return super().decide(batch)


class ReturnsTuple(ChoicePolicy):
    def decide(self, batch: PageBatch) -> Decisions:  # type: ignore[override]
        dec = super().decide(batch)
        return (dec.clicks, dec.ratings, dec.exits)  # type: ignore[return-value]


class ListOutput(ChoicePolicy):
    def end_step(self, step: int) -> PolicyOutput:
        return []  # type: ignore[return-value]


class FloatCounters(ChoicePolicy):
    def counters(self) -> dict[str, int]:
        return {"pages": 1.5}  # type: ignore[dict-item]


class ShortMask(ChoicePolicy):
    def llm_users(self) -> np.ndarray:
        return np.ones(3, bool)


class Unseeded(BasePolicy):
    """Watches at random, from a generator that ignores the seed."""

    def decide(self, batch: PageBatch) -> Decisions:
        n, k = batch.items.shape
        clicks = np.random.default_rng().random((n, k)) < 0.5
        zeros = np.zeros(n, np.float32)
        return Decisions(clicks, np.zeros((n, k), np.int8), np.zeros(n, bool), zeros, zeros)


class DecideOnly:
    name = "decide_only"

    def decide(self, batch: PageBatch) -> Decisions:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("cls", "error", "reason"),
    [
        (
            Shrinks,
            AssertionError,
            r"Decisions\.clicks on a page for one user has shape \(1, 4\), expected \(1, 5\)",
        ),
        (RatesUnwatched, AssertionError, "rating without a watch"),
        (FloatClicks, AssertionError, r"Decisions\.clicks .* has dtype float32, expected bool"),
        (LosesMood, AssertionError, r"Decisions\.satisfaction .* is not finite"),
        (SharesUndecided, AssertionError, "one of Decisions.shares and share_decided is None"),
        (WritesIntoBatch, AssertionError, r"decide changed batch\.fatigue in place"),
        (ReturnsTuple, TypeError, "decide returned a tuple .*, not Decisions"),
        (ListOutput, TypeError, "end_step returned a list, not PolicyOutput"),
        (FloatCounters, TypeError, r"counters\(\) has 'pages': 1\.5"),
        (ShortMask, AssertionError, r"llm_users\(\) has shape \(3,\), expected \(30,\)"),
        (Unseeded, AssertionError, "two policies built by from_world from one seed differ"),
    ],
)
def test_check_policy_catches_broken_policies(
    cls: type, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=f"^check_policy\\({cls.__name__}\\): {reason}") as caught:
        check_policy(cls)
    assert type(caught.value) is error


def test_check_policy_rejects_what_is_no_policy() -> None:
    with pytest.raises(
        TypeError, match="not a Policy: it lacks uses_llm, uses_mind, connect, llm_users"
    ):
        check_policy(DecideOnly())
    with pytest.raises(TypeError, match="needs an LLM backend or agent minds"):
        check_policy(policy_class("llm"))


# -- broken recommenders fail for the right reason -------------------------------------
class Repeats(MostPopularRecommender):
    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        out = super().recommend(user_ids, k, exclude_seen)
        out[:, 1] = out[:, 0]
        return out


class OffCatalog(MostPopularRecommender):
    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        return super().recommend(user_ids, k, exclude_seen) + self.n_items


class TooFew(MostPopularRecommender):
    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        return super().recommend(user_ids, k, exclude_seen)[:, 1:]


class FloatScores(MostPopularRecommender):
    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        return super().recommend(user_ids, k, exclude_seen).astype(np.float64)


class ForgetsUpdates(MostPopularRecommender):
    def update(self, events: object) -> None:
        """Ignores the events: watched items come back."""


class GlobalRandom(MostPopularRecommender):
    """Shuffles each page with a generator that ignores the seed."""

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        return np.random.default_rng().permuted(
            super().recommend(user_ids, k, exclude_seen), axis=1
        )


class NoUpdate:
    def fit(self, interactions: object, catalog: object, n_users: int | None = None) -> None: ...

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray: ...


@pytest.mark.parametrize(
    ("cls", "error", "reason"),
    [
        (Repeats, AssertionError, r"recommend\(every user, k\) repeats an item within a row"),
        (
            OffCatalog,
            AssertionError,
            r"recommend\(every user, k\) holds item indices outside 0\.\.39",
        ),
        (
            TooFew,
            AssertionError,
            r"recommend\(every user, k\) has shape \(33, 9\), expected \(33, 10\)",
        ),
        (
            FloatScores,
            AssertionError,
            r"recommend\(every user, k\) has dtype float64, expected an int",
        ),
        (
            ForgetsUpdates,
            AssertionError,
            r"recommend\(every user, k\) after update\(events\) shows user \d+ an item they have seen",
        ),
        (GlobalRandom, AssertionError, "a copy with the same generator state differs on page 1"),
        (NoUpdate, TypeError, "not a Recommender: it lacks update"),
    ],
)
def test_check_recommender_catches_broken_recommenders(
    cls: type, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=f"^check_recommender\\({cls.__name__}\\): {reason}") as caught:
        check_recommender(cls)
    assert type(caught.value) is error


def test_check_recommender_wants_interactions_with_their_catalog() -> None:
    with pytest.raises(
        TypeError, match="interactions and catalog go together. Give both, or neither"
    ):
        check_recommender(MostPopularRecommender, interactions=_synthetic().interactions)
