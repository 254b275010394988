"""Turn an environment's ``data`` block into a :class:`Dataset`."""

from __future__ import annotations

import numpy as np

from simrec.config.schema import FileData, MovieLensData, SyntheticData
from simrec.core.errors import ConfigError
from simrec.data.types import Dataset


def load_dataset(
    cfg: SyntheticData | MovieLensData | FileData, rng: np.random.Generator
) -> Dataset:
    """Load (or generate) the data set described by ``cfg``, then apply user filters.

    Args:
        cfg: The ``environment.data`` block.
        rng: Seeded source for synthetic generation and user subsampling.
    """
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
        )
    from simrec.data.split import filter_min_interactions, subsample_users

    if cfg.min_user_interactions > 1:
        ds = filter_min_interactions(ds, cfg.min_user_interactions)
    if cfg.max_users is not None and cfg.max_users < ds.n_users:
        ds = subsample_users(ds, cfg.max_users, rng)
    return ds
