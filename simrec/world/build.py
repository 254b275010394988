"""``build_world``: scenario config + seed → catalog, population, taste, graph, splits."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from simrec.config.schema import ScenarioConfig, SyntheticData, TasteConfig
from simrec.core.rng import child_rng
from simrec.data.load import load_dataset
from simrec.data.types import Dataset, Interactions
from simrec.social.builders import BuildContext, build_graph
from simrec.social.graph import SocialGraph
from simrec.world.attacks import AttackPlan
from simrec.world.catalog import Catalog
from simrec.world.population import TRAITS, Population, build_population
from simrec.world.taste import (
    RatingModel,
    TasteModel,
    fit_ease_interest,
    fit_taste,
    taste_from_latent,
)

if TYPE_CHECKING:
    from simrec.world.calibration import Calibration

log = logging.getLogger(__name__)


@dataclass
class World:
    """Everything a run starts from.

    Attributes:
        dataset: The loaded data set.
        train: Real interactions agents and recommenders learn from.
        heldout: Real interactions held out for evaluation (may be empty).
        catalog: Public item data.
        population: Per-user arrays.
        taste: Hidden taste model (never shown to a recommender).
        graph: The social graph.
        calibration: Choice-model parameters fitted to real behaviour
            (``agents.calibration``), or ``None``; set by
            :func:`simrec.fidelity.calibrate.calibrate_world`, never by ``build_world``.
        attacks: The run's attacks and noise (the ``robustness:`` block), or ``None``;
            set by :func:`simrec.attacks.plan.attack_world`, never by ``build_world``.
    """

    dataset: Dataset
    train: Interactions
    heldout: Interactions
    catalog: Catalog
    population: Population
    taste: TasteModel
    graph: SocialGraph
    calibration: Calibration | None = None
    attacks: AttackPlan | None = None


def split_interactions(cfg: ScenarioConfig, inter: Interactions, rng: np.random.Generator) -> tuple[Interactions, Interactions]:
    """Split real interactions into (train, held-out) as the data block says.

    With ``split.max_train``, training is then down-sampled per user (see
    :func:`simrec.data.split.downsample_train`); held-out stays as split.
    """
    from simrec.data.split import downsample_train, split_random, split_temporal

    split = cfg.environment.data.split
    if split.kind == "none" or split.holdout_fraction == 0:
        train, heldout = inter, Interactions.empty()
    elif split.kind == "random":
        s = split_random(inter, split.holdout_fraction, rng, min_train=split.min_train)
        train, heldout = s.train, s.heldout
    else:
        s = split_temporal(inter, split.holdout_fraction, min_train=split.min_train)
        train, heldout = s.train, s.heldout
    if split.max_train is not None:
        train = downsample_train(train, split.max_train, rng, split.cold_share)
    return train, heldout


def _trait_priors(dataset: Dataset) -> dict[str, np.ndarray] | None:
    """Per-user Beta parameters of each trait from synthetic archetypes, if any."""
    prior = dataset.latent.get("trait_priors")
    if prior is None:
        return None
    return {t: prior[:, i, :] for i, t in enumerate(TRAITS)}


# Training rows the (row-wise) rating model scores at once: bounds the [rows, factors] gathers.
_SCORE_BLOCK = 1 << 16


def _train_scores(taste: TasteModel, train: Interactions) -> np.ndarray:
    """The rating model's score of every training interaction (``float32``).

    The biased-MF model scores row by row, so it is called on blocks of rows (the
    same result, without gathering ``[n_train, factors]`` arrays); other models
    score the whole table at once.
    """
    n = len(train)
    if not isinstance(taste.rating, RatingModel) or n <= _SCORE_BLOCK:
        return taste.rating.predict(train.user, train.item)
    out = np.empty(n, np.float32)
    for s in range(0, n, _SCORE_BLOCK):
        rows = slice(s, s + _SCORE_BLOCK)
        out[rows] = taste.rating.predict(train.user[rows], train.item[rows])
    return out


def build_world(cfg: ScenarioConfig, seed: int | None = None) -> World:
    """Build the world of a scenario: data in, data out.

    The world is pure data; calibration (``agents.calibration``) is a separate
    step, :func:`simrec.fidelity.calibrate.calibrate_world`, that the runner,
    the Gymnasium environment and ``simrec fidelity`` call on the built world.

    Args:
        cfg: The validated scenario.
        seed: Root seed (default: ``cfg.seed``).
    """
    seed = cfg.seed if seed is None else seed
    dataset = load_dataset(cfg.environment.data, child_rng(seed, "world", "data"))
    train, heldout = split_interactions(cfg, dataset.interactions, child_rng(seed, "world", "split"))
    world = assemble_world(cfg, dataset, train, heldout, seed)
    log.info(
        "world: %d users, %d items, %d train / %d held-out interactions, %d edges",
        dataset.n_users, dataset.n_items, len(train), len(heldout), world.graph.n_edges,
    )  # fmt: skip
    return world


def assemble_world(
    cfg: ScenarioConfig,
    dataset: Dataset,
    train: Interactions,
    heldout: Interactions,
    seed: int,
    taste_cfg: TasteConfig | None = None,
    social: bool = True,
) -> World:
    """Taste, population, catalog and graph of ``dataset`` given a train / held-out split.

    Args:
        cfg: The scenario.
        dataset: The loaded data set.
        train: Interactions the world learns from.
        heldout: Interactions kept for evaluation.
        seed: Root seed.
        taste_cfg: Taste settings (default ``cfg.agents.taste``).
        social: Build the social graph (else an empty one).
    """
    taste_cfg = taste_cfg or cfg.agents.taste
    use_latent = taste_cfg.source == "auto" and isinstance(cfg.environment.data, SyntheticData) and bool(dataset.latent)
    if use_latent:
        taste = taste_from_latent(dataset)
    else:
        taste = fit_taste(train, dataset, taste_cfg, child_rng(seed, "world", "taste"))
    if taste_cfg.ease_reg is not None:
        taste = replace(taste, ease=fit_ease_interest(train, dataset, taste_cfg.ease_reg))
    score = _train_scores(taste, train)
    population = build_population(
        dataset, train, score, cfg.agents.traits, child_rng(seed, "world", "traits"), _trait_priors(dataset)
    )
    catalog = Catalog.from_dataset(dataset, train)
    if cfg.agents.item_names == "neutral":
        catalog = catalog.neutral()
    if social and cfg.environment.social.builder == "none":
        # What the "none" builder yields, without a networkx graph of n_users nodes.
        graph = SocialGraph.empty(dataset.n_users, directed=cfg.environment.social.directed)
    elif social:
        graph = build_graph(
            cfg.environment.social, dataset.n_users, child_rng(seed, "world", "social"),
            BuildContext(user_ids=population.user_ids, taste=taste.user_factors),
        )  # fmt: skip
    else:
        graph = SocialGraph.empty(dataset.n_users)
    return World(dataset, train, heldout, catalog, population, taste, graph)
