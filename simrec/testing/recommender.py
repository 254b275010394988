"""``check_recommender``: does a recommender keep the contract that the simulator relies on?"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from simrec.core.rng import child_rng
from simrec.data.types import Interactions
from simrec.recommenders.base import Recommender
from simrec.testing._checks import call, check_array, fail, same, twin
from simrec.testing.worlds import tiny_world
from simrec.world.catalog import Catalog

METHODS = "fit(interactions, catalog, n_users), recommend(users, k, exclude_seen), update(events)"


def check_recommender(
    recommender: Recommender | type,
    *,
    interactions: Interactions | None = None,
    catalog: Catalog | None = None,
    seed: int = 0,
    check_seen: bool = True,
) -> None:
    """Check that ``recommender`` keeps the recommender contract; raise on the first breach.

    Checks the :class:`~simrec.recommenders.base.Recommender` protocol, fits on the
    interactions (default: the tiny world's, plus two cold users and one who has seen
    all but three items) and checks every page: ``recommend(users, k)`` is ``[n, k]`` of
    an integer dtype, item indices in range, no item twice in a row; with ``exclude_seen``
    no seen item where at least ``k`` unseen ones remain; ``update(events)`` is accepted
    and hides the events' items. A deep copy taken before fitting (its generator state
    included) must then give the same pages.

    Args:
        recommender: The recommender (it is refit), or its class, built as ``cls(rng=...)``
            when the constructor takes ``rng`` (as ``build_recommender`` does), else ``cls()``.
        interactions: Training interactions (default: the tiny world's).
        catalog: The catalog they refer to (given with ``interactions``).
        seed: Seeds the default data and the generator handed to a class.
        check_seen: Check that seen items are left out; ``False`` for a recommender that
            shows seen items on purpose (it must still accept ``exclude_seen``).

    Raises:
        TypeError: a method is missing, or the arguments do not fit.
        AssertionError: a page has the wrong shape, dtype or items, or the copy disagreed.
    """
    if isinstance(recommender, type):
        recommender = _build(recommender, seed)
    who = f"check_recommender({type(recommender).__name__})"
    if not isinstance(recommender, Recommender):
        lacks = ", ".join(m for m in ("fit", "recommend", "update") if not hasattr(recommender, m))
        fail(who, f"not a Recommender: it lacks {lacks}", f"write {METHODS}", TypeError)
    if (interactions is None) != (catalog is None):
        fail(who, "interactions and catalog go together", "give both, or neither", TypeError)
    if interactions is None or catalog is None:
        interactions, catalog, n_users = _tiny_data(seed)
    else:
        n_users = int(interactions.user.max()) + 1 if len(interactions) else 0
    try:
        copy = twin(recommender)
    except Exception as exc:  # noqa: BLE001  (a copy is only needed for the last check)
        copy = None
        warnings.warn(f"{who}: no deep copy ({exc}), determinism unchecked.", stacklevel=2)
    data = (interactions, catalog, n_users)
    pages = _exercise(recommender, data, seed, check_seen, who)
    if copy is not None:
        again = _exercise(copy, data, seed, check_seen, who)
        for i, (a, b) in enumerate(zip(pages, again, strict=True)):
            if not same(a, b):
                fix = "draw every random number from the rng the constructor receives"
                fail(who, f"a copy with the same generator state differs on page {i + 1}", fix)


def _exercise(
    rec: Recommender, data: tuple[Interactions, Catalog, int], seed: int, check_seen: bool, who: str
) -> list[np.ndarray]:
    """Fit, recommend, update, recommend again; every page checked. Returns the pages."""
    interactions, catalog, n_users = data
    n_items = catalog.n_items
    k = min(10, n_items)
    seen = np.zeros((n_users, n_items), bool)
    seen[interactions.user, interactions.item] = True
    call(who, "fit(interactions, catalog, n_users)", rec.fit, *data[:2], n_users=n_users)
    users = np.arange(n_users, dtype=np.int64)
    first = _page(who, "recommend(every user, k)", rec, users, k, n_items, True)
    some = np.array([3, 1, 1, 0], np.int64) % max(n_users, 1)
    label = "recommend([3, 1, 1, 0], k, exclude_seen=False)"
    loose = _page(who, label, rec, some, k, n_items, False)
    if check_seen:
        _check_unseen(who, "recommend(every user, k)", first, seen, k)
    rows = np.arange(0, n_users, 3)
    stars = child_rng(seed, "testing", "stars").integers(1, 6, 2 * len(rows))
    events = Interactions.from_arrays(np.repeat(rows, 2), first[rows, :2].ravel(), stars)
    call(who, "update(events)", rec.update, events)
    seen[events.user, events.item] = True
    after = _page(who, "recommend(every user, k) after update", rec, users, k, n_items, True)
    if check_seen:
        _check_unseen(who, "recommend(every user, k) after update(events)", after, seen, k)
    return [first, loose, after]


def _page(
    who: str, what: str, rec: Recommender, users: np.ndarray, k: int, n_items: int, exclude: bool
) -> np.ndarray:
    """``rec.recommend(users, k, exclude_seen=exclude)``, checked."""
    out = call(who, what, rec.recommend, users, k, exclude_seen=exclude)
    fix = f"recommend returns [len(user_ids), k] int item indices 0..{n_items - 1}, best first"
    out = check_array(who, what, np.asarray(out), (len(users), k), "iu", fix)
    if len(out) and (out.min() < 0 or out.max() >= n_items):
        fail(who, f"{what} holds item indices outside 0..{n_items - 1}", fix)
    dup = np.nonzero((np.diff(np.sort(out, axis=1), axis=1) == 0).any(axis=1))[0]
    if len(dup):
        row = out[dup[0]].tolist()
        fail(who, f"{what} repeats an item within a row ({row})", "a page holds k distinct items")
    return out


def _check_unseen(who: str, what: str, out: np.ndarray, seen: np.ndarray, k: int) -> None:
    """Users with at least ``k`` unseen items get only unseen ones."""
    roomy = np.nonzero(seen.shape[1] - seen.sum(axis=1) >= k)[0]
    hit = np.take_along_axis(seen[roomy], out[roomy], axis=1).any(axis=1)
    if hit.any():
        user = int(roomy[np.argmax(hit)])
        fix = (
            "with exclude_seen=True leave out items of the training data and of update() events"
            " (BaseRecommender does it), or pass check_seen=False if showing them is intended"
        )
        fail(who, f"{what} shows user {user} an item they have seen", fix)


def _tiny_data(seed: int) -> tuple[Interactions, Catalog, int]:
    """The tiny world's training data, plus a user who has seen all but 3 items and 2 cold users."""
    world = tiny_world(seed)
    n, n_items, train = world.population.n_users, world.catalog.n_items, world.train
    greedy = np.delete(np.arange(n_items), [2, 5, 7])
    after = (int(train.timestamp.max()) if len(train) else 0) + 1 + np.arange(len(greedy))
    extra = Interactions.from_arrays(np.full(len(greedy), n), greedy, np.full(len(after), 4), after)
    return Interactions.concat([train, extra]), world.catalog, n + 3


def _build(cls: type, seed: int) -> Recommender:
    try:
        takes_rng = "rng" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        takes_rng = False
    try:
        return cls(rng=child_rng(seed, "recommender")) if takes_rng else cls()
    except TypeError as exc:
        who = f"check_recommender({cls.__name__})"
        raise TypeError(f"{who}: cannot build it bare ({exc}); pass an instance") from exc
