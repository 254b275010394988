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
    w = rng.gamma(base[which])
    w /= w.sum(axis=1, keepdims=True)
    return w, which


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


# Uniform draws are located on the exposure CDF through a table of equal buckets, about 64
# per item (at most 2**_GUIDE_BITS); only draws whose bucket holds a CDF step are searched for.
_GUIDE_BITS = 20
# Candidate cells (users x candidates) scored and ranked at once: bounds the working set.
_BLOCK_CELLS = 1 << 15
# Interaction rows handled at once where a per-row computation gathers user and item rows.
_ROW_BLOCK = 1 << 15


class _CdfSearch:
    """``np.searchsorted(cdf, x, side="right")`` for ``x`` in ``[0, 1)``, mostly by table look-up.

    Exactly equal to ``searchsorted``: the bucket ``k = floor(x * K)`` (``K`` a power of two,
    so exact) bounds the answer between the counts of CDF values ``<= k / K`` and
    ``< (k + 1) / K``; where they are equal that is the answer, and the few draws whose
    bucket holds a CDF step are searched for.
    """

    def __init__(self, cdf: np.ndarray) -> None:
        if len(cdf) >= 1 << 31:
            raise ValueError("the CDF table holds at most 2**31 - 1 entries")
        self.bits = min(_GUIDE_BITS, max(8, (64 * len(cdf)).bit_length()))
        n_buckets = 1 << self.bits
        edges = np.arange(n_buckets + 1, dtype=np.float64) / n_buckets
        lo = np.searchsorted(cdf, edges[:-1], side="right")
        hi = np.searchsorted(cdf, edges[1:], side="left")
        self.cdf = cdf
        # The count below the bucket, its top bit set where the bucket holds a step.
        self.table = lo.astype(np.uint32) | ((hi != lo).astype(np.uint32) << 31)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Positions of ``x`` (any shape, values in ``[0, 1)``), as ``int32``."""
        bucket = x * (1 << self.bits)
        res = np.take(self.table, bucket.astype(np.intp))
        del bucket
        flat = res.reshape(-1)
        amb = np.flatnonzero(flat >= 1 << 31)
        res &= np.uint32((1 << 31) - 1)
        if amb.size:
            flat[amb] = np.searchsorted(self.cdf, x.reshape(-1)[amb], side="right")
        return res.view(np.int32)


def _dup_mask(cand: np.ndarray, n_items: int) -> np.ndarray:
    """Where a row of ``cand`` repeats an item already seen earlier in that row.

    Sorts each row by (item, column) as one packed integer, which is the order a
    stable sort by item gives, and flags each repeat of the previous item.
    """
    m, n_cols = cand.shape
    col_bits = max(n_cols - 1, 1).bit_length()
    wide = max(n_items - 1, 1).bit_length() + col_bits > 31
    key = cand.astype(np.int64 if wide else np.int32) << col_bits
    key |= np.arange(n_cols, dtype=key.dtype)
    key.sort(axis=1)
    item = key >> col_bits
    dup = np.zeros(key.shape, dtype=bool)
    dup[:, 1:] = item[:, 1:] == item[:, :-1]
    out = np.empty_like(dup)
    out[np.arange(m)[:, None], key & ((1 << col_bits) - 1)] = dup
    return out


def _top_rows(neg: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(neg, axis=1, kind="stable")[:, :k]`` where it matters, by a faster sort.

    Equal to the stable sort on every position holding a finite value: the unstable
    sort orders distinct values the same way, and the rows where two finite values
    among the first ``k + 1`` are tied are sorted stably.
    """
    top = np.argsort(neg, axis=1)
    head = np.take_along_axis(neg, top[:, : k + 1], axis=1)
    tied = ((head[:, 1:] == head[:, :-1]) & np.isfinite(head[:, 1:])).any(axis=1)
    top = top[:, :k]
    if tied.any():
        top[tied] = np.argsort(neg[tied], axis=1, kind="stable")[:, :k]
    return top


def _sample_interactions(
    rng: np.random.Generator,
    user_f: np.ndarray,
    item_f: np.ndarray,
    buzz: np.ndarray,
    counts: np.ndarray,
    chunk: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user picks ``counts[u]`` distinct items: popularity-biased candidates, taste-ranked.

    Returns ``int32`` (user, item) rows; each user's rows are contiguous (users in
    order of their count, items best first).
    """
    n_users, n_items = len(user_f), len(item_f)
    exposure = np.exp(buzz - buzz.max())
    search = _CdfSearch(np.cumsum(exposure / exposure.sum()))
    # Chunks of users with similar counts keep the candidate matrix small.
    by_count = np.argsort(counts, kind="stable")
    users, items = [], []
    for start in range(0, n_users, chunk):
        members = by_count[start : start + chunk]
        m = len(members)
        max_n = int(counts[members].max())
        n_cand = min(n_items, max(4 * max_n, 32))
        draws = rng.random((m, n_cand))
        noise = rng.gumbel(size=(m, n_cand))
        # Each block of rows is drawn on, scored and ranked on its own (the same arithmetic per row).
        step = max(1, _BLOCK_CELLS // n_cand)
        for b in range(0, m, step):
            rows_b = members[b : b + step]
            cand_b = search(draws[b : b + step])
            np.minimum(cand_b, n_items - 1, out=cand_b)
            neg = noise[b : b + step] * 0.7
            neg += np.einsum("md,mcd->mc", user_f[rows_b], np.take(item_f, cand_b, axis=0))
            # Duplicate candidates (all but the first of an item) go to the bottom.
            np.negative(neg, out=neg)
            neg[_dup_mask(cand_b, n_items)] = np.inf
            top = _top_rows(neg, max_n)
            chosen = np.take_along_axis(cand_b, top, axis=1)
            valid = np.take_along_axis(neg, top, axis=1) < np.inf
            keep = (np.arange(max_n)[None, :] < counts[rows_b, None]) & valid
            users.append(np.repeat(rows_b.astype(np.int32), keep.sum(axis=1)))
            items.append(chosen[keep])
    return np.concatenate(users), np.concatenate(items)


def _sort_by_user_time(
    u: np.ndarray, ts: np.ndarray, ts_span: int, *columns: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Rows sorted as ``np.lexsort((ts, u))`` orders them: ``u``, ``ts`` and ``columns`` in that order.

    For rows grouped by user (each user's rows contiguous) with ``0 <= ts < ts_span``,
    every row becomes one unique 64-bit key (user, time, rank within the user's rows)
    whose plain sort is exactly the stable lexsort; the keys are built and read back
    in blocks of rows. Other inputs go through ``np.lexsort``.

    Returns:
        ``(u, ts, *columns)``, each reordered (``ts`` as ``int64`` on the key path).
    """
    n = len(u)
    if n == 0:
        return (u, ts, *columns)
    first = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    starts_of = np.sort(u[first])
    lengths = np.diff(np.r_[first, n])
    u_bits = max(int(u.max()), 1).bit_length()
    t_bits = max(ts_span - 1, 1).bit_length()
    r_bits = max(int(lengths.max()) - 1, 1).bit_length()
    if (starts_of[1:] == starts_of[:-1]).any() or u_bits + t_bits + r_bits > 63:
        order = np.lexsort((ts, u))
        return (u[order], ts[order], *(c[order] for c in columns))
    del starts_of, lengths
    key = np.empty(n, np.int64)
    seen = 0  # user blocks started before the current row block
    for s in range(0, n, _ROW_BLOCK):
        ub = u[s : s + _ROW_BLOCK]
        flags = np.empty(len(ub), np.int64)
        flags[0] = s == 0 or u[s] != u[s - 1]
        flags[1:] = ub[1:] != ub[:-1]
        block = np.cumsum(flags)
        block += seen - 1
        seen = int(block[-1]) + 1
        kb = ub.astype(np.int64) << (t_bits + r_bits)
        kb |= ts[s : s + _ROW_BLOCK].astype(np.int64) << r_bits
        kb |= np.arange(s, s + len(ub)) - first[block]
        key[s : s + _ROW_BLOCK] = kb
    key.sort()
    start_of = np.empty(int(u.max()) + 1, np.int64)
    start_of[u[first]] = first
    out_u = np.empty(n, u.dtype)
    out_cols = [np.empty(n, c.dtype) for c in columns]
    for s in range(0, n, _ROW_BLOCK):
        kb = key[s : s + _ROW_BLOCK]
        ub = kb >> (t_bits + r_bits)
        order = np.take(start_of, ub)
        order += kb & ((1 << r_bits) - 1)
        out_u[s : s + _ROW_BLOCK] = ub
        for c, out in zip(columns, out_cols, strict=True):
            out[s : s + _ROW_BLOCK] = np.take(c, order)
        kb >>= r_bits
        kb &= (1 << t_bits) - 1
    return (out_u, key, *out_cols)


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
    user_f = weights @ centroids
    del weights
    noise = rng.normal(size=(n_users, dim))
    noise *= 0.25
    noise /= np.sqrt(dim)
    user_f += noise
    del noise
    user_f *= 2.0
    counts = np.maximum(
        1, np.round(rng.lognormal(np.log(interactions_per_user) - 0.32, 0.8, n_users))
    ).astype(np.int64)
    counts = np.minimum(counts, max(1, min(n_items // 2, int(15 * interactions_per_user))))
    user_f32, item_f32 = user_f.astype(np.float32), item_f.astype(np.float32)
    u, i = _sample_interactions(rng, user_f32, item_f32, buzz, counts)

    user_bias = rng.normal(size=n_users) * 0.35
    item_bias = 0.35 * buzz + rng.normal(size=n_items) * 0.25
    scale = 0.8
    global_mean = 3.55
    n = len(u)
    # The planted score, in blocks of rows (the same arithmetic per row, without [n, dim] gathers).
    noisy = np.empty(n)
    for s in range(0, n, _ROW_BLOCK):
        uu, ii = u[s : s + _ROW_BLOCK], i[s : s + _ROW_BLOCK]
        dot = np.einsum("nd,nd->n", np.take(user_f, uu, axis=0), np.take(item_f, ii, axis=0))
        noisy[s : s + _ROW_BLOCK] = (
            global_mean + np.take(user_bias, uu) + np.take(item_bias, ii) + scale * dot
        )
    del user_f, item_f  # the float32 copies are the planted truth kept
    noise = rng.normal(size=n)
    noise *= 0.45
    noisy += noise
    del noise
    # Map to the scale's levels (1..5) so the global distribution follows RATING_PROBS.
    cuts = np.quantile(noisy, np.cumsum(spread_prior(rating_scale, RATING_PROBS))[:-1])
    rating = np.empty(n, np.float32)
    for s in range(0, n, _ROW_BLOCK):
        rating[s : s + _ROW_BLOCK] = rating_scale.levels[
            np.searchsorted(cuts, noisy[s : s + _ROW_BLOCK], side="right")
        ]
    del noisy
    ts_span = 365 * 86400
    offset = rng.integers(0, ts_span, size=n).astype(np.int32)  # seconds into the year

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
    trait_priors = priors.astype(np.float32)[np.maximum(which, 0)]
    # Rows sorted by user, then time (stable): what np.lexsort((timestamp, u)) gives.
    u, offset, i, rating = _sort_by_user_time(u, offset, ts_span, i, rating)
    timestamp = offset.astype(np.int64, copy=False)
    timestamp += 1_600_000_000
    inter = Interactions(u, i, rating, timestamp)
    labels = np.asarray([*arch_names, "mixed"], dtype=object)  # which == -1: "mixed"
    latent = {
        "user_factors": user_f32,
        "item_factors": item_f32,
        "user_bias": user_bias.astype(np.float32),
        "item_bias": item_bias.astype(np.float32),
        "global_mean": np.float32(global_mean),
        "rating_scale": np.float32(scale),
        "trait_priors": trait_priors,
        "archetype": labels[which],
    }
    ds = Dataset("synthetic", inter, items, users, genres, names, latent, scale=rating_scale)
    return ds.validate(source="synthetic generator")
