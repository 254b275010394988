"""Personas: a compact self-description of each user for LLM prompts.

A persona is derived only from what the simulator knows of a user from
*training* data — genre affinities, top-rated training items, demographics,
traits and rating habits (plus the planted archetype of synthetic worlds) —
never from held-out interactions. Its :attr:`Persona.text` is short (about
40-70 tokens) because it sits in the system message of every LLM call a user makes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simrec.agents.untrusted import clean_untrusted, quote_untrusted

if TYPE_CHECKING:
    from simrec.world.build import World

# Genre columns that say nothing about taste.
_NO_GENRE = {"unknown", "(no genres listed)", ""}

# MovieLens 1M stores an age-group code, not an age (its README).
_ML1M_AGES = {
    1: "under 18",
    18: "18-24",
    25: "25-34",
    35: "35-44",
    45: "45-49",
    50: "50-55",
    56: "56+",
}

# Occupation labels that read badly after "a 30-year-old ..." (MovieLens 100K and 1M).
_OCCUPATIONS = {
    "entertainment": "entertainment worker", "healthcare": "healthcare worker",
    "marketing": "marketing worker", "none": "person without a job", "retired": "retiree",
    "academic/educator": "educator", "clerical/admin": "clerical worker",
    "college/grad student": "college student", "customer service": "customer service worker",
    "doctor/health care": "health care worker", "executive/managerial": "manager",
    "sales/marketing": "salesperson", "self-employed": "self-employed person",
    "technician/engineer": "engineer", "tradesman/craftsman": "craftsperson",
    "unemployed": "unemployed person",
}  # fmt: skip
_SKIP_OCCUPATION = {"other", "", "nan", "none given"}

_TRAILING_PAREN = re.compile(r"\s*\([^()]*\)\s*$")
_GENRE_CHARS = 24
_TITLE_CHARS = 40


@dataclass
class Persona:
    """One user's persona.

    Attributes:
        user: User index.
        liked_genres: Genres the user likes most (strongest first).
        disliked_genres: Genres the user avoids (most avoided first).
        favourites: Titles of the user's highest-rated training items.
        demographics: A phrase like ``"24-year-old male technician"`` ("" if unknown).
        traits: A phrase like ``"rarely follow the crowd and are patient"`` ("" if unremarkable).
        archetype: The planted archetype of a synthetic world (``None`` elsewhere).
    """

    user: int
    liked_genres: list[str]
    disliked_genres: list[str]
    favourites: list[str]
    demographics: str
    traits: str
    archetype: str | None

    @property
    def text(self) -> str:
        """The persona as a compact second-person paragraph (titles quoted, all parts cleaned)."""
        parts = []
        who = self.demographics
        if self.archetype:
            arch = clean_untrusted(self.archetype, 40)
            who = f"{who}, {_article(arch)} {arch}" if who else arch
        if who:
            parts.append(f"You are {_article(who)} {who}.")
        likes = [clean_untrusted(g, _GENRE_CHARS) for g in self.liked_genres]
        dislikes = [clean_untrusted(g, _GENRE_CHARS) for g in self.disliked_genres]
        if likes and dislikes:
            parts.append(f"You love {_join(likes)}; you dislike {_join(dislikes)}.")
        elif likes:
            parts.append(f"You love {_join(likes)}.")
        elif dislikes:
            parts.append(f"You dislike {_join(dislikes)}.")
        if self.favourites:
            titles = (quote_untrusted(_short_title(t), _TITLE_CHARS) for t in self.favourites)
            parts.append("Favourites: " + ", ".join(titles) + ".")
        if self.traits:
            parts.append(f"You {self.traits}.")
        return " ".join(parts)


def _short_title(title: str) -> str:
    """The title without a trailing year and alternative title.

    ``"Shanghai Triad (Yao a yao...) (1995)"`` becomes ``"Shanghai Triad"``: a year
    costs about six tokens (one per digit), and in a persona the name says enough.
    """
    short = _TRAILING_PAREN.sub("", _TRAILING_PAREN.sub("", title))
    return short or title


def _article(phrase: str) -> str:
    """``a`` or ``an`` for the phrase (numbers by how they are spoken)."""
    head = phrase.split("-", 1)[0].split(" ", 1)[0]
    if head.isdigit():
        return "an" if head.startswith("8") or head in ("11", "18") else "a"
    return "an" if head[:1].lower() in "aeiou" else "a"


def _join(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _demographic_phrase(row: dict[str, object], age_groups: bool) -> str:
    """``"24-year-old male technician"`` from a users-table row (parts that are missing are left out)."""
    age, age_after = "", ""
    raw_age = row.get("age")
    if raw_age is not None and not pd.isna(raw_age):
        a = int(raw_age)  # type: ignore[call-overload]
        if age_groups:
            age_after = f" aged {_ML1M_AGES.get(a, str(a))}"
        elif 0 < a < 120:
            age = f"{a}-year-old "
    gender = {"m": "male", "f": "female"}.get(str(row.get("gender", "")).strip().lower(), "")
    occ_raw = row.get("occupation")
    occ = "" if occ_raw is None or pd.isna(occ_raw) else str(occ_raw).strip()
    occ = (
        ""
        if occ.lower() in _SKIP_OCCUPATION
        else _OCCUPATIONS.get(occ, _OCCUPATIONS.get(occ.lower(), occ))
    )
    if occ:
        noun = f"{gender} {occ}" if gender else occ
    elif gender:
        noun = {"male": "man", "female": "woman"}[gender]
    elif age or age_after:
        noun = "person"
    else:
        return ""
    return clean_untrusted(f"{age}{noun}{age_after}", 60)


def _trait_phrase(
    conformity: float,
    diversity: float,
    patience: float,
    rating_mean: float,
    low: float,
    high: float,
) -> str:
    phrases = []
    if conformity >= high:
        phrases.append("like what is popular")
    elif conformity <= low:
        phrases.append("rarely follow the crowd")
    if diversity >= high:
        phrases.append("like trying new things")
    elif diversity <= low:
        phrases.append("prefer the familiar")
    if patience >= high:
        phrases.append("are patient")
    elif patience <= low:
        phrases.append("are impatient")
    if rating_mean >= 4.0:
        phrases.append("rate generously")
    elif rating_mean <= 3.0:
        phrases.append("rate harshly")
    return _join(phrases) if phrases else ""


def _genre_lists(
    world: World,
    users: np.ndarray,
    n_liked: int,
    n_disliked: int,
    like_min: float,
    dislike_max: float,
) -> tuple[list[list[str]], list[list[str]]]:
    names = list(world.catalog.genre_names)
    aff = world.population.genre_affinity[users].astype(np.float64)
    if not names or aff.shape[1] == 0:
        return [[] for _ in users], [[] for _ in users]
    usable = np.array(
        [n.strip().lower() not in _NO_GENRE for n in names]
    ) & world.catalog.genres.any(axis=0)
    # Stable sorts break ties by genre index, so personas are deterministic.
    top = np.argsort(-np.where(usable, aff, -np.inf), axis=1, kind="stable")[:, :n_liked]
    bottom = np.argsort(np.where(usable, aff, np.inf), axis=1, kind="stable")[:, :n_disliked]
    top_ok = np.take_along_axis(aff, top, axis=1) > like_min
    bottom_ok = np.take_along_axis(aff, bottom, axis=1) < dislike_max
    top_ok &= usable[top]
    bottom_ok &= usable[bottom]
    liked = [
        [names[g] for g, ok in zip(t, k, strict=True) if ok]
        for t, k in zip(top, top_ok, strict=True)
    ]
    disliked = [
        [names[g] for g, ok in zip(b, k, strict=True) if ok]
        for b, k in zip(bottom, bottom_ok, strict=True)
    ]
    return liked, disliked


def favourite_items(
    world: World, users: np.ndarray, k: int, min_stars: float = 4.0
) -> list[list[int]]:
    """Each user's ``k`` highest-rated distinct training items (item indices).

    Ratings below ``min_stars`` never count as favourites. Ties go to the lower
    item index; unrated interactions (implicit data) come after rated ones,
    most recent first. Only ``world.train`` is read.
    """
    n_users = world.population.n_users
    chosen = np.zeros(n_users, dtype=bool)
    chosen[users] = True
    tr = world.train
    keep = chosen[tr.user]
    rating = tr.rating[keep].astype(np.float64)
    keep_idx = np.flatnonzero(keep)[np.isnan(rating) | (rating >= min_stars)]
    u, i = tr.user[keep_idx].astype(np.int64), tr.item[keep_idx].astype(np.int64)
    r = tr.rating[keep_idx].astype(np.float64)
    unrated = np.isnan(r)
    recency = np.where(unrated, -tr.timestamp[keep_idx].astype(np.float64), 0.0)
    order = np.lexsort((i, recency, -np.where(unrated, -np.inf, r), u))
    u, i = u[order], i[order]
    # Drop repeated (user, item) pairs, keeping the best-placed one.
    _, first = np.unique(u * world.catalog.n_items + i, return_index=True)
    first.sort()
    u, i = u[first], i[first]
    starts = np.r_[0, np.flatnonzero(np.diff(u)) + 1] if len(u) else np.zeros(0, np.int64)
    rank = np.arange(len(u)) - np.repeat(starts, np.diff(np.r_[starts, len(u)]))
    top = rank < k
    out: dict[int, list[int]] = {}
    for uu, ii in zip(u[top].tolist(), i[top].tolist(), strict=True):
        out.setdefault(uu, []).append(ii)
    return [out.get(int(x), []) for x in users]


def build_personas(
    world: World,
    users: np.ndarray | Sequence[int],
    *,
    n_liked: int = 2,
    n_disliked: int = 1,
    n_favourites: int = 3,
    like_min: float = 0.25,
    dislike_max: float = -0.5,
    trait_low: float = 1 / 3,
    trait_high: float = 2 / 3,
) -> list[Persona]:
    """Personas of ``users`` (user indices), in the order given.

    Args:
        world: The world (only training-derived parts are read).
        users: User indices.
        n_liked: At most this many liked genres (those with affinity above ``like_min``).
        n_disliked: At most this many disliked genres (affinity below ``dislike_max``).
        n_favourites: At most this many favourite titles (rated 4 stars or more).
        like_min: Genre affinity (centred log-lift) a liked genre must exceed.
        dislike_max: Genre affinity a disliked genre must fall below.
        trait_low: Traits at or below this get a "low" phrase.
        trait_high: Traits at or above this get a "high" phrase.

    Raises:
        ValueError: if a user index is out of range.
    """
    pop = world.population
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    if len(users) and (users.min() < 0 or users.max() >= pop.n_users):
        raise ValueError(f"user indices must lie in 0..{pop.n_users - 1}")
    liked, disliked = _genre_lists(world, users, n_liked, n_disliked, like_min, dislike_max)
    favourites = favourite_items(world, users, n_favourites)
    titles = world.catalog.titles
    demo = pop.demographics
    cols = [c for c in ("age", "gender", "occupation") if c in demo.columns]
    rows = demo.iloc[users][cols].to_dict("records") if cols else [{} for _ in users]
    age_groups = world.dataset.name == "ml-1m"
    latent = world.dataset.latent.get("archetype")
    traits = np.stack(
        [pop.conformity[users], pop.diversity[users], pop.patience[users], pop.rating_mean[users]],
        axis=1,
    )
    out = []
    for k, u in enumerate(users.tolist()):
        arch = None if latent is None else str(latent[u])
        c, d, p, r = traits[k].tolist()
        out.append(
            Persona(
                user=u,
                liked_genres=liked[k],
                disliked_genres=disliked[k],
                favourites=[str(titles[i]) for i in favourites[k]],
                demographics=_demographic_phrase(rows[k], age_groups) if cols else "",
                traits=_trait_phrase(c, d, p, r, trait_low, trait_high),
                # the generator labels users outside any archetype "mixed"
                archetype=None if arch in (None, "mixed") else arch,
            )
        )
    return out
