"""A seeded synthetic world: catalog with genres and text, users with latent tastes.

The generator plants a ground truth (latent factors, biases) and samples each
user's training interactions from it, popularity-biased as on real platforms,
so a world built from it can either use the planted truth or re-derive taste
from the interactions like it would for real data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from simrec.core.errors import ConfigError
from simrec.core.resources import resource_path
from simrec.data.scale import WHOLE_STARS, RatingScale, spread_prior
from simrec.data.types import Dataset, Interactions

GENRE_NAMES = (
    "Action", "Comedy", "Drama", "Sci-Fi", "Romance", "Thriller", "Documentary", "Animation",
    "Horror", "Fantasy", "Mystery", "Crime", "Adventure", "Music", "War", "History",
)  # fmt: skip
_ADJ = (
    "Silent", "Hidden", "Last", "Golden", "Broken", "Distant", "Electric", "Quiet", "Crimson", "Lost",
    "Midnight", "Endless", "Hollow", "Burning", "Secret", "Frozen", "Wild", "Paper", "Iron", "Velvet",
)  # fmt: skip
_NOUN = (
    "Harbor", "Garden", "Signal", "Frontier", "Kingdom", "River", "Mirror", "Orchard", "Station",
    "Empire", "Lantern", "Voyage", "Circus", "Archive", "Summit", "Tide", "Machine", "Letter",
    "Island", "Crown", "Shadow", "Engine", "Valley", "Choir",
)  # fmt: skip
_THEMES = (
    "a family secret", "an unlikely friendship", "a heist gone wrong", "first love", "a lost city",
    "a rogue machine", "a small-town scandal", "the end of the world", "a rivalry", "coming home",
    "a stolen identity", "a last chance", "an impossible journey", "a forgotten war", "ambition",
)  # fmt: skip

# Global rating distribution planted in synthetic worlds (close to MovieLens 100K's).
RATING_PROBS = np.array([0.06, 0.11, 0.27, 0.34, 0.22])


def genre_names(n: int) -> list[str]:
    """The first ``n`` synthetic genre names (numbered beyond the built-in list)."""
    return [GENRE_NAMES[g] if g < len(GENRE_NAMES) else f"Genre {g + 1}" for g in range(n)]


def default_archetypes_path() -> Path:
    """The shipped persona archetypes (package data ``simrec/resources/agents/archetypes``)."""
    return resource_path("agents", "archetypes", "default.yaml")


def load_archetypes(path: Path | str | None = None) -> list[dict[str, Any]]:
    """Read persona archetypes from YAML.

    Args:
        path: The file; default: the shipped ones (:func:`default_archetypes_path`).

    Raises:
        ConfigError: if the file is missing or an archetype lacks a name or a positive share.
    """
    path = default_archetypes_path() if path is None else Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Archetypes file not found: {path}. Point environment.data.archetypes at a YAML file."
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    arch = data.get("archetypes")
    if not isinstance(arch, list) or not arch:
        raise ConfigError(f"{path}: expected a non-empty 'archetypes' list.")
    for a in arch:
        if not isinstance(a, dict) or "name" not in a or float(a.get("share", 0)) <= 0:
            raise ConfigError(
                f"{path}: every archetype needs a name and a positive share (got {a!r})."
            )
    return arch


def _item_genres(rng: np.random.Generator, n_items: int, n_genres: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_genres + 1) ** 0.6
    primary = rng.choice(n_genres, size=n_items, p=weights / weights.sum())
    genres = np.zeros((n_items, n_genres), dtype=bool)
    genres[np.arange(n_items), primary] = True
    for prob in (0.5, 0.2):
        extra = rng.choice(n_genres, size=n_items, p=weights / weights.sum())
        genres[np.arange(n_items), extra] |= rng.random(n_items) < prob
    return genres


def _user_genre_weights(
    rng: np.random.Generator,
    n_users: int,
    names: list[str],
    archetypes: list[dict[str, Any]] | None,
) -> tuple[np.ndarray, np.ndarray]:
    g = len(names)
    if not archetypes:
        w = rng.dirichlet(np.full(g, 0.3), size=n_users)
        return w, np.full(n_users, -1)
    shares = np.array([float(a["share"]) for a in archetypes])
    which = rng.choice(len(archetypes), size=n_users, p=shares / shares.sum())
    index = {n: i for i, n in enumerate(names)}
    base = np.full((len(archetypes), g), 0.3)
    for a_i, a in enumerate(archetypes):
        for name in a.get("likes", []):
            if name in index:
                base[a_i, index[name]] = 3.0
        for name in a.get("dislikes", []):
            if name in index:
                base[a_i, index[name]] = 0.05
    alpha = base[which]
    w = rng.gamma(alpha)
    return w / w.sum(axis=1, keepdims=True), which


def _article(word: str) -> str:
    return "An" if word[:1] in "aeiou" else "A"


def _titles(rng: np.random.Generator, n_items: int) -> list[str]:
    adj = rng.integers(len(_ADJ), size=n_items)
    noun = rng.integers(len(_NOUN), size=n_items)
    seen: dict[str, int] = {}
    titles = []
    for a, b in zip(adj, noun, strict=True):
        t = f"The {_ADJ[a]} {_NOUN[b]}"
        seen[t] = seen.get(t, 0) + 1
        titles.append(t if seen[t] == 1 else f"{t} {seen[t]}")
    return titles


def _sample_interactions(
    rng: np.random.Generator,
    user_f: np.ndarray,
    item_f: np.ndarray,
    buzz: np.ndarray,
    counts: np.ndarray,
    chunk: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user picks ``counts[u]`` distinct items: popularity-biased candidates, taste-ranked."""
    n_users, n_items = len(user_f), len(item_f)
    exposure = np.exp(buzz - buzz.max())
    cdf = np.cumsum(exposure / exposure.sum())
    # Chunks of users with similar counts keep the candidate matrix small.
    by_count = np.argsort(counts, kind="stable")
    users, items = [], []
    for start in range(0, n_users, chunk):
        members = by_count[start : start + chunk]
        m = len(members)
        max_n = int(counts[members].max())
        n_cand = min(n_items, max(4 * max_n, 32))
        cand = np.searchsorted(cdf, rng.random((m, n_cand)), side="right").clip(0, n_items - 1)
        score = (
            np.einsum("md,mcd->mc", user_f[members], item_f[cand])
            + rng.gumbel(size=(m, n_cand)) * 0.7
        )
        # Drop duplicate candidates: sort by item, flag repeats, push them to the bottom.
        order = np.argsort(cand, axis=1, kind="stable")
        sc = np.take_along_axis(cand, order, axis=1)
        dup = np.zeros_like(sc, dtype=bool)
        dup[:, 1:] = sc[:, 1:] == sc[:, :-1]
        dup_orig = np.empty_like(dup)
        np.put_along_axis(dup_orig, order, dup, axis=1)
        score[dup_orig] = -np.inf
        top = np.argsort(-score, axis=1, kind="stable")[:, :max_n]
        chosen = np.take_along_axis(cand, top, axis=1)
        valid = np.take_along_axis(score, top, axis=1) > -np.inf
        keep = (np.arange(max_n)[None, :] < counts[members, None]) & valid
        rows = np.nonzero(keep)
        users.append(members[rows[0]])
        items.append(chosen[keep])
    return np.concatenate(users).astype(np.int32), np.concatenate(items).astype(np.int32)


def generate_synthetic(
    n_users: int,
    n_items: int,
    n_genres: int,
    dim: int,
    interactions_per_user: float,
    rng: np.random.Generator,
    archetypes: list[dict[str, Any]] | None = None,
    rating_scale: RatingScale = WHOLE_STARS,
) -> Dataset:
    """Generate a synthetic world.

    Args:
        n_users: Number of users.
        n_items: Number of items.
        n_genres: Number of genres (topics).
        dim: Latent taste dimensions.
        interactions_per_user: Mean training interactions per user (heavy-tailed).
        rng: The generator's seeded random source.
        archetypes: Optional persona archetypes (shares, liked/disliked genres).
        rating_scale: The rating scale to rate on (default whole stars 1–5); the planted
            global distribution is :data:`RATING_PROBS` spread over its levels
            (:func:`~simrec.data.scale.spread_prior`).

    Returns:
        A :class:`Dataset` whose ``latent`` holds the planted truth
        (``user_factors``, ``item_factors``, ``user_bias``, ``item_bias``,
        ``global_mean``, ``rating_scale``, ``trait_priors`` — ``[n_users, 4, 2]`` Beta
        parameters of activity, conformity, diversity, patience).
    """
    names = genre_names(n_genres)
    centroids = rng.normal(size=(n_genres, dim)) / np.sqrt(dim)
    genres = _item_genres(rng, n_items, n_genres)
    item_f = genres @ centroids / genres.sum(axis=1, keepdims=True) + rng.normal(
        size=(n_items, dim)
    ) * 0.35 / np.sqrt(dim)
    item_f *= 2.0
    buzz = rng.normal(size=n_items) * 1.1
    weights, which = _user_genre_weights(rng, n_users, names, archetypes)
    user_f = weights @ centroids + rng.normal(size=(n_users, dim)) * 0.25 / np.sqrt(dim)
    user_f *= 2.0
    counts = np.maximum(
        1, np.round(rng.lognormal(np.log(interactions_per_user) - 0.32, 0.8, n_users))
    ).astype(np.int64)
    counts = np.minimum(counts, max(1, min(n_items // 2, int(15 * interactions_per_user))))
    u, i = _sample_interactions(
        rng, user_f.astype(np.float32), item_f.astype(np.float32), buzz, counts
    )

    user_bias = rng.normal(size=n_users) * 0.35
    item_bias = 0.35 * buzz + rng.normal(size=n_items) * 0.25
    scale = 0.8
    global_mean = 3.55
    score = (
        global_mean
        + user_bias[u]
        + item_bias[i]
        + scale * np.einsum("nd,nd->n", user_f[u], item_f[i])
    )
    noisy = score + rng.normal(size=len(u)) * 0.45
    # Map to the scale's levels (1..5) so the global distribution follows RATING_PROBS.
    cuts = np.quantile(noisy, np.cumsum(spread_prior(rating_scale, RATING_PROBS))[:-1])
    rating = rating_scale.levels[np.searchsorted(cuts, noisy, side="right")].astype(np.float32)
    timestamp = (1_600_000_000 + rng.integers(0, 365 * 86400, size=len(u))).astype(np.int64)

    titles = _titles(rng, n_items)
    themes = rng.integers(len(_THEMES), size=n_items)
    name_arr = np.asarray(names, dtype=object)
    texts = [
        f"{t}. {_article(kind := '/'.join(name_arr[row]).lower())} {kind} story about {_THEMES[th]}."
        for t, row, th in zip(titles, genres, themes, strict=True)
    ]
    items = pd.DataFrame({"item_id": np.arange(1, n_items + 1), "title": titles, "text": texts})
    arch_names = [a["name"] for a in archetypes] if archetypes else []
    # The archetype is part of the hidden truth, not a public profile field.
    users = pd.DataFrame({"user_id": np.arange(1, n_users + 1)})
    trait_order = ("activity", "conformity", "diversity", "patience")
    priors = np.full((len(archetypes) if archetypes else 1, 4, 2), 2.0)
    for a_i, a in enumerate(archetypes or []):
        for t_i, t in enumerate(trait_order):
            ab = (a.get("traits") or {}).get(t)
            if ab is not None:
                if len(ab) != 2 or min(ab) <= 0:
                    raise ConfigError(
                        f"archetype '{a['name']}': trait {t} needs two positive Beta parameters."
                    )
                priors[a_i, t_i] = ab
    trait_priors = priors[np.maximum(which, 0)]
    order = np.lexsort((timestamp, u))
    inter = Interactions.from_arrays(u[order], i[order], rating[order], timestamp[order])
    latent = {
        "user_factors": user_f.astype(np.float32),
        "item_factors": item_f.astype(np.float32),
        "user_bias": user_bias.astype(np.float32),
        "item_bias": item_bias.astype(np.float32),
        "global_mean": np.float32(global_mean),
        "rating_scale": np.float32(scale),
        "trait_priors": trait_priors.astype(np.float32),
        "archetype": np.asarray(
            [arch_names[w] if w >= 0 else "mixed" for w in which], dtype=object
        ),
    }
    ds = Dataset("synthetic", inter, items, users, genres, names, latent, scale=rating_scale)
    return ds.validate(source="synthetic generator")
