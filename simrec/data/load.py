"""Turn an environment's ``data`` block into a :class:`Dataset`."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from simrec.config.schema import FileData, MovieLensData, RatingScaleConfig, SyntheticData
from simrec.core.errors import ConfigError
from simrec.data.scale import WHOLE_STARS, RatingScale, check_ratings
from simrec.data.types import Dataset

log = logging.getLogger(__name__)


def configured_scale(cfg: SyntheticData | MovieLensData | FileData) -> RatingScale | None:
    """The rating scale ``environment.data.rating_scale`` sets, or ``None`` for ``auto``."""
    rs = cfg.rating_scale
    if not isinstance(rs, RatingScaleConfig):
        return None
    try:
        return RatingScale(rs.min, rs.max, rs.step)
    except ValueError as exc:
        raise ConfigError(f"environment.data.rating_scale: {exc}") from exc


def load_dataset(
    cfg: SyntheticData | MovieLensData | FileData, rng: np.random.Generator
) -> Dataset:
    """Load (or generate) the data set described by ``cfg``, then apply user filters.

    The data set carries its rating scale (:attr:`Dataset.scale`): the one
    ``cfg.rating_scale`` sets (every rating must be on it), else the one the
    source declares (MovieLens), infers (files) or uses (synthetic: whole stars).

    Args:
        cfg: The ``environment.data`` block.
        rng: Seeded source for synthetic generation and user subsampling.

    Raises:
        DataError: if a rating is off the scale (naming how many), or a file's scale
            cannot be inferred.
    """
    explicit = configured_scale(cfg)
    if isinstance(cfg, SyntheticData):
        if cfg.max_users is not None or cfg.min_user_interactions > 1:
            raise ConfigError(
                "environment.data: max_users and min_user_interactions do not apply to a synthetic "
                "world; set n_users and interactions_per_user instead."
            )
        from simrec.data.synthetic import generate_synthetic, load_archetypes

        archetypes = load_archetypes(cfg.archetypes) if cfg.archetypes else None
        return generate_synthetic(
            cfg.n_users,
            cfg.n_items,
            cfg.n_genres,
            cfg.dim,
            cfg.interactions_per_user,
            rng,
            archetypes,
            rating_scale=explicit or WHOLE_STARS,
        )
    if isinstance(cfg, MovieLensData):
        from simrec.data.movielens import load_movielens

        ds = load_movielens(
            cfg.variant, path=cfg.path, cache_dir=cfg.cache_dir, download=cfg.download
        )
    else:
        from simrec.data.files import load_interactions_file

        ds = load_interactions_file(
            cfg.path,
            user_col=cfg.user_col,
            item_col=cfg.item_col,
            rating_col=cfg.rating_col,
            timestamp_col=cfg.timestamp_col,
            items_path=cfg.items_path,
            item_id_col=cfg.item_id_col,
            title_col=cfg.title_col,
            genres_col=cfg.genres_col,
            genres_sep=cfg.genres_sep,
            rating_scale=explicit,
        )
    if explicit is not None and explicit != ds.scale:
        check_ratings(
            ds.interactions.rating, explicit, f"{ds.name} (environment.data.rating_scale)"
        )
        ds = replace(ds, scale=explicit)
    log.info("%s: ratings on %s", ds.name, ds.scale.label)
    from simrec.data.split import filter_min_interactions, subsample_users

    if cfg.min_user_interactions > 1:
        ds = filter_min_interactions(ds, cfg.min_user_interactions)
    if cfg.max_users is not None and cfg.max_users < ds.n_users:
        ds = subsample_users(ds, cfg.max_users, rng)
    return ds
