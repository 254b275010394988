"""``SocialDynamics``: the socialize phase and the social inputs of perceive.

Per step, in the model's order:

1. ``begin_step`` — shares planted for this step (``social.seed_shares``) go out;
   inbox entries older than ``inbox_ttl`` expire.
2. ``perceive`` — each user opening a session gets at most one friend's share in
   the social slot of the first page (the most trusted sharer's, newest first;
   items the user already watched are skipped); ``pull`` gives the friends'-likes
   term of every item on the session's pages.
3. (the pages are decided; policies may decide shares themselves, otherwise
   ``rule_shares`` applies the trait-based rule to liked items)
4. ``socialize`` — likes update the expressed taste profiles and the recent-likes
   window; the outcome of every social-slot item moves trust in its sharer and
   counts strikes; ties with ``unfollow_after`` strikes in a row may be dropped;
   users may follow the original sharer of a re-share they liked and friends of
   friends with similar taste; new shares join or start cascades and reach the
   sharers' followers' inboxes.

All of it is vectorised over users; the only per-step cost that grows with the
graph is one sort of the arc arrays when ties change.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simrec.config.schema import SeedShareConfig, SocialConfig
from simrec.core.arrays import isin, isin_sorted, unique_sorted
from simrec.core.errors import ConfigError
from simrec.core.pairs import PairSet
from simrec.data.types import Interactions
from simrec.social.cascades import CascadeLog
from simrec.social.communities import detect_communities
from simrec.social.graph import SocialGraph
from simrec.social.groups import taste_groups
from simrec.social.influence import RecentLikes, social_pull
from simrec.social.metrics import gini, graph_metrics, modularity

if TYPE_CHECKING:
    from simrec.world.build import World

#: Per-step social metric names (the model's metrics table holds them when dynamics run).
SOCIAL_METRICS = (
    "edges", "follows", "unfollows", "mean_trust", "shares", "social_impressions", "social_clicks",
    "social_likes", "cascades", "cascade_max_size", "cascade_mean_size", "cascade_max_depth",
    "seed_cascade_size", "seed_cascade_depth", "seed_cascade_reach", "social_exposure_gini",
    "taste_assortativity", "homophily", "taste_modularity", "community_modularity", "communities",
    "taste_spread", "neighbour_spread", "echo_chamber",
)  # fmt: skip


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


def _row_means(users: np.ndarray, features: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user mean of ``features`` rows (and how many rows each user had)."""
    counts = np.bincount(users, minlength=n)
    sums = np.stack([np.bincount(users, weights=features[:, j], minlength=n) for j in range(features.shape[1])], axis=1)
    return (sums.reshape(n, -1) / np.maximum(counts, 1)[:, None]).astype(np.float32), counts


class SocialDynamics:
    """The living social graph of a run.

    Args:
        cfg: The ``environment.social`` block.
        world: The world; ``world.graph`` is changed in place as ties form and break.
        rng: The social phase's seeded generator.
        folder: Where finished cascades and their shares go (a run's ``checkpoints/``); ``None``:
            anonymous temporary files.
    """

    def __init__(self, cfg: SocialConfig, world: World, rng: np.random.Generator, folder: Path | None = None) -> None:
        self.cfg = cfg
        self.p = cfg.dynamics
        self.world = world
        self.graph: SocialGraph = world.graph
        self.rng = rng
        n, n_items = world.population.n_users, world.catalog.n_items
        self.n_users, self.n_items = n, n_items
        genres = world.catalog.genres.astype(np.float32)
        if genres.shape[1]:
            self.item_features = genres / np.maximum(genres.sum(axis=1, keepdims=True), 1.0)
        else:
            self.item_features = _unit(world.taste.item_factors)
        train = world.train
        liked = np.isnan(train.rating) | (train.rating >= self.p.like_threshold)
        self.profiles, _ = _row_means(train.user[liked], self.item_features[train.item[liked]], n)
        self.taste_unit = _unit(world.taste.user_factors)
        self.groups = taste_groups(world.taste.user_factors, cfg.metrics.taste_groups, np.random.default_rng(rng.integers(2**63)))
        self.likes = RecentLikes(n, n_items, self.p.influence_window, self.p.influence_decay)
        # A share waits at most inbox_ttl steps and may continue a share that waited as long.
        self.cascades = CascadeLog(folder, horizon=2 * (self.p.inbox_ttl + 1))
        self.exposure = np.zeros(n_items, np.int64)
        self._watched = PairSet(n, n_items, train.user, train.item)
        self._inbox = {k: np.empty(0, t) for k, t in (("user", np.int64), ("share", np.int64), ("step", np.int32))}
        self._delivered = (np.empty(0, np.int64), np.empty(0, np.int64))
        self.new_shares = np.empty(0, np.int64)
        self.counts: dict[str, int] = {}
        self.community: dict[str, float] = {"community_modularity": float("nan"), "communities": float("nan")}

    # -- 1. start of step ---------------------------------------------------------
    def begin_step(self, step: int, popularity: np.ndarray | None = None) -> None:
        """Expire old inbox entries, retire finished cascades and plant this step's seed shares.

        Args:
            step: The step.
            popularity: Interaction counts as the platform sees them (``most_popular`` seeds);
                ``None``: the catalog's training counts.
        """
        self.counts = dict.fromkeys(("follows", "unfollows", "shares", "social_impressions", "social_clicks", "social_likes"), 0)
        keep = self._inbox["step"] > step - 1 - self.p.inbox_ttl
        self._inbox = {k: v[keep] for k, v in self._inbox.items()}
        self.cascades.retire(step)
        self.new_shares = np.empty(0, np.int64)
        for seed in self.cfg.seed_shares:
            if seed.step == step:
                users, item = self._seed(seed, popularity)
                ids = self.cascades.add(step, users, np.full(len(users), item), np.full(len(users), -1), seeded=True)
                self._deliver(step, ids)

    def _seed(self, seed: SeedShareConfig, popularity: np.ndarray | None) -> tuple[np.ndarray, int]:
        cat = self.world.catalog
        if seed.item == "most_popular":
            item = int(np.argmax(cat.popularity if popularity is None else popularity))
        elif seed.item == "random":
            item = int(self.rng.integers(cat.n_items))
        else:
            hit = np.nonzero(cat.item_ids.astype(str) == str(seed.item))[0]
            if not len(hit):
                raise ConfigError(f"social.seed_shares: item id {seed.item!r} is not in the catalog.")
            item = int(hit[0])
        count = min(seed.users, self.n_users)
        if seed.pick == "hubs":
            users = np.argsort(-self.graph.in_degree(), kind="stable")[:count]
        else:
            users = np.sort(self.rng.choice(self.n_users, size=count, replace=False))
        return users.astype(np.int64), item

    # -- 2. perceive ----------------------------------------------------------------
    def perceive(self, users: np.ndarray, slate: np.ndarray, page_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Put one friend's share into each session's social slot.

        Args:
            users: ``[n]`` sorted users opening a session.
            slate: ``[n, K]`` the session's recommended items (changed in place).
            page_size: Items per page (the slot lies on the first page).

        Returns:
            ``origin`` ``[n, K]`` int8 (1 where the item came from a share) and
            ``slot_share`` ``[n]`` (the share shown, -1 for none).
        """
        origin = np.zeros(slate.shape, np.int8)
        slot_share = np.full(len(users), -1, np.int64)
        slot = self.p.slot_position
        self._delivered = (np.empty(0, np.int64), np.empty(0, np.int64))
        inbox = self._inbox
        if slot < 0 or slot >= min(page_size, slate.shape[1]) or not len(inbox["user"]) or not len(users):
            return origin, slot_share
        pick, stale = self._pick(users)
        if not len(pick):
            self._drop_inbox(stale)
            return origin, slot_share
        rec, share = inbox["user"][pick], inbox["share"][pick]
        item = self.cascades.get("item", share).astype(np.int64)
        rows = np.searchsorted(users, rec)
        current = slate[rows]
        same = current == item[:, None]
        has, where = same.any(axis=1), np.argmax(same, axis=1)
        slate[rows[has], where[has]] = current[has, slot]  # the item moves up; what held the slot takes its place
        slate[rows, slot] = item
        origin[rows, slot] = 1
        slot_share[rows] = share
        # Everything pending for the same (user, item) is consumed with it.
        n_items = self.n_items
        taken = rec * n_items + item
        pending = inbox["user"] * n_items + self.cascades.get("item", inbox["share"])
        keep = ~isin(pending, taken)
        keep[stale] = False
        self._inbox = {k: v[keep] for k, v in inbox.items()}
        self._delivered = (rec, share)
        self.cascades.reached(share, rec)
        np.add.at(self.exposure, item, 1)
        self.counts["social_impressions"] += len(rec)
        return origin, slot_share

    def _pick(self, users: np.ndarray, rounds: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """Inbox rows to show: per session user, the most trusted sharer's newest share of an unwatched item.

        Only each user's best entry is checked against what they watched; a watched one
        is dropped and the next tried, up to ``rounds`` times. Entries whose sharer the
        user no longer follows are dropped too.

        Returns:
            ``(picked rows sorted by user, stale rows to drop)``.
        """
        inbox = self._inbox
        cand = np.nonzero(isin_sorted(inbox["user"], users))[0]
        arc = self.graph.arc_index(inbox["user"][cand], self.cascades.get("user", inbox["share"][cand]))
        stale = [cand[arc < 0]]
        cand, arc = cand[arc >= 0], arc[arc >= 0]
        order = np.lexsort((inbox["share"][cand], -inbox["step"][cand], -self.graph.trust[arc], inbox["user"][cand]))
        cand = cand[order]
        user = inbox["user"][cand]
        item = self.cascades.get("item", inbox["share"][cand])
        alive = np.ones(len(cand), bool)
        picks = []
        for _ in range(rounds):
            idx = np.nonzero(alive)[0]
            if not len(idx):
                break
            first = idx[np.concatenate([[True], user[idx][1:] != user[idx][:-1]])]
            seen = self.watched(user[first], item[first])
            picks.append(first[~seen])
            stale.append(cand[first[seen]])
            alive[first] = False
            alive &= ~isin_sorted(user, user[first[~seen]])
        got = np.sort(np.concatenate(picks)) if picks else np.empty(0, np.int64)
        return cand[got], np.concatenate(stale)

    def _drop_inbox(self, rows: np.ndarray) -> None:
        if len(rows):
            keep = np.ones(len(self._inbox["user"]), bool)
            keep[rows] = False
            self._inbox = {k: v[keep] for k, v in self._inbox.items()}

    @property
    def delivered_users(self) -> np.ndarray:
        """Users who got a share in their social slot this step (sorted), as :meth:`socialize` expects."""
        return self._delivered[0]

    def pull(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``[n, k]`` friends'-likes pull on ``items`` (see :mod:`simrec.social.influence`)."""
        return social_pull(self.graph, self.likes, users, items)

    def watched(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each user already watched each item (training data or this run)."""
        return self._watched.contains(users, items)

    # -- 3. shares by rule ----------------------------------------------------------------
    def rule_shares(self, users: np.ndarray, ratings: np.ndarray, decided: np.ndarray | None = None) -> np.ndarray:
        """``[n, k]`` shares of liked items: chance ``share_rate`` × 2·conformity (×1.5 for 5 stars).

        Rows where ``decided`` is True (a policy decided itself) share nothing here.
        """
        liked = ratings >= self.p.like_threshold
        p = self.p.share_rate * 2.0 * self.world.population.conformity[users][:, None]
        p = np.clip(p * np.where(ratings == 5, 1.5, 1.0), 0.0, 1.0)
        share = liked & (self.rng.random(ratings.shape) < p)
        if decided is not None:
            share &= ~decided[:, None]
        return share

    # -- 4. socialize ------------------------------------------------------------------
    def socialize(
        self, step: int, users: np.ndarray, inter: Interactions, shares: tuple[np.ndarray, np.ndarray],
        slot_clicked: np.ndarray, slot_stars: np.ndarray,
    ) -> None:  # fmt: skip
        """Likes, trust, unfollow/follow and shares of one step.

        Args:
            step: The step.
            users: Users who had a session.
            inter: The step's watches (``rating`` NaN when unrated).
            shares: ``(users, items)`` shared this step.
            slot_clicked: Per delivered share (the order of :meth:`perceive`'s delivery), watched or not.
            slot_stars: Per delivered share, the stars given (0 = unrated).
        """
        p = self.p
        liked = ~np.isnan(inter.rating) & (inter.rating >= p.like_threshold)
        lu, li = inter.user[liked].astype(np.int64), inter.item[liked].astype(np.int64)
        self.likes.push(lu, li)
        if len(lu):
            mean, cnt = _row_means(lu, self.item_features[li], self.n_users)
            has = cnt > 0
            self.profiles[has] = (1 - p.profile_rate) * self.profiles[has] + p.profile_rate * mean[has]
        self._watched.add(inter.user, inter.item)
        follow_src, follow_dst = self._slot_outcomes(slot_clicked, slot_stars)
        fs, fd = self._friends_of_friends(users)
        follow_src, follow_dst = np.concatenate([follow_src, fs]), np.concatenate([follow_dst, fd])
        ok = (follow_src != follow_dst) & ~self.graph.has_arc(follow_src, follow_dst)
        sim = np.einsum("nd,nd->n", self.taste_unit[follow_src], self.taste_unit[follow_dst])
        ok &= sim >= p.follow_similarity
        self.counts["follows"] += self.graph.add(follow_src[ok], follow_dst[ok], p.trust_init)
        su, si = (np.asarray(a, np.int64) for a in shares)
        rec, share = self._delivered
        parents = np.full(len(su), -1, np.int64)
        if len(rec) and len(su):
            # A share of the item that reached the user through the slot continues that cascade.
            got = rec * self.n_items + self.cascades.get("item", share)
            order = np.argsort(got)
            q = su * self.n_items + si
            pos = np.minimum(np.searchsorted(got[order], q), len(got) - 1)
            hit = got[order][pos] == q
            parents[hit] = share[order][pos[hit]]
        ids = self.cascades.add(step, su, si, parents)
        self.counts["shares"] += len(ids)
        self._deliver(step, ids)

    def _slot_outcomes(self, clicked: np.ndarray, stars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Trust, strikes and unfollows from what users did with shares; returns upstream follows."""
        p, g = self.p, self.graph
        rec, share = self._delivered
        empty = (np.empty(0, np.int64), np.empty(0, np.int64))
        if not len(rec):
            return empty
        clicked = np.asarray(clicked, bool)
        stars = np.asarray(stars)
        liked = stars >= p.like_threshold
        disliked = clicked & (stars > 0) & (stars <= p.dislike_threshold)
        skipped = ~clicked
        self.counts["social_clicks"] += int(clicked.sum())
        self.counts["social_likes"] += int(liked.sum())
        sharer = self.cascades.get("user", share).astype(np.int64)
        arc = g.arc_index(rec, sharer)
        on = arc >= 0
        a, lk, dk, sk = arc[on], liked[on], disliked[on], skipped[on]
        t = g.trust[a]
        t = np.where(lk, t + p.trust_up * (1 - t), t)
        t = np.where(dk, t - p.trust_down * t, t)
        t = np.where(sk, t - p.trust_skip * t, t)
        g.trust[a] = t.astype(np.float32)
        g.strikes[a] = np.where(lk, 0, g.strikes[a] + (dk | sk)).astype(np.int16)
        worn = unique_sorted(a[(dk | sk) & (g.strikes[a] >= p.unfollow_after)])
        drop = worn[self.rng.random(len(worn)) < p.unfollow_rate]
        parent = self.cascades.get("parent", share)
        up_ok = liked & (parent >= 0)
        up_ok[up_ok] &= self.rng.random(int(up_ok.sum())) < p.follow_upstream
        upstream = self.cascades.get("user", parent[up_ok]).astype(np.int64)
        src = rec[up_ok]
        self.counts["unfollows"] += g.remove(drop)
        return src, upstream

    def _friends_of_friends(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Session users who look around: a random followee's random followee."""
        g = self.graph
        u = users[self.rng.random(len(users)) < self.p.follow_rate].astype(np.int64)
        if not len(u) or g.n_arcs == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        deg = g.out_degree()
        u = u[deg[u] > 0]
        g._index()
        ptr = g._out_ptr
        f = g.dst[ptr[u] + (self.rng.random(len(u)) * deg[u]).astype(np.int64)].astype(np.int64)
        has = deg[f] > 0
        u, f = u[has], f[has]
        c = g.dst[ptr[f] + (self.rng.random(len(f)) * deg[f]).astype(np.int64)].astype(np.int64)
        return u, c

    def _deliver(self, step: int, ids: np.ndarray) -> None:
        """Shares reach every follower's inbox."""
        self.new_shares = np.concatenate([self.new_shares, ids])
        if not len(ids) or self.graph.n_arcs == 0:
            return
        sharers = self.cascades.get("user", ids).astype(np.int64)
        row, arcs = self.graph.follower_arcs(sharers)
        recipients = self.graph.src[arcs].astype(np.int64)
        self._inbox = {
            "user": np.concatenate([self._inbox["user"], recipients]),
            "share": np.concatenate([self._inbox["share"], ids[row]]),
            "step": np.concatenate([self._inbox["step"], np.full(len(row), step, np.int32)]),
        }

    # -- metrics and views -------------------------------------------------------------
    def recipients(self, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(share, follower)`` pairs for ``shares`` (who each share reached)."""
        row, arcs = self.graph.follower_arcs(self.cascades.get("user", shares).astype(np.int64))
        return shares[row], self.graph.src[arcs].astype(np.int64)

    def friend_lines(self, user: int, titles: np.ndarray, limit: int = 2) -> list[str]:
        """What up to ``limit`` of the most trusted followees liked last (for prompts)."""
        _, arcs = self.graph.following_arcs(np.array([user]))
        arcs = arcs[np.argsort(-self.graph.trust[arcs], kind="stable")]
        lines = []
        for a in arcs:
            f = int(self.graph.dst[a])
            item = int(self.likes.last_like[f])
            if item >= 0:
                lines.append(f"Friend {f} liked {titles[item]}")
                if len(lines) == limit:
                    break
        return lines

    def metric_names(self) -> tuple[str, ...]:
        """The metric columns this run has (``seed_cascade_*`` only with ``seed_shares``)."""
        if self.cfg.seed_shares:
            return SOCIAL_METRICS
        return tuple(k for k in SOCIAL_METRICS if not k.startswith("seed_"))

    def metrics(self, step: int, final: bool = False) -> dict[str, float]:
        """This step's social metrics (graph metrics every ``metrics.every`` steps, else NaN)."""
        m_cfg = self.cfg.metrics
        row: dict[str, float] = dict.fromkeys(SOCIAL_METRICS, float("nan"))
        row.update(self.counts)
        row.update(self.cascades.stats())
        row["edges"] = self.graph.n_edges
        row["mean_trust"] = float(self.graph.trust.mean()) if self.graph.n_arcs else float("nan")
        row["social_exposure_gini"] = gini(self.exposure)
        if m_cfg.every and step % m_cfg.every == 0 or final:
            row.update(graph_metrics(self.graph, self.profiles, self.groups))
        every = m_cfg.community_every
        if (every and step % every == 0) or final:
            labels = detect_communities(self.graph, seed=int(step), method=m_cfg.community_method)
            self.community = {
                "community_modularity": modularity(self.graph, labels),
                "communities": float(len(np.unique(labels))),
            }
            row.update(self.community)
        return {k: row[k] for k in self.metric_names()}
