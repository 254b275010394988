"""Cost of a living social graph (issue: social-graph dynamics).

100,000 synthetic users in a Barabási–Albert friendship graph (m = 5, about
500,000 ties), 10,000 items, pages of 10, most-popular recommender, choice
policy, sharing on. Per step it prints the time of the ``socialize`` phase
(shares by rule, slot outcomes, trust, unfollow/follow, cascades, delivery to
followers' inboxes), of ``perceive`` (social slot and friends'-likes pull) and
of the social metrics (graph metrics every step; community detection only at
the end), with shares and the edges changed (follows + unfollows).

Usage: python benchmarks/social.py [--users 100000] [--items 10000] [--steps 5] [--m 5]
"""

from __future__ import annotations

import argparse
import time

from simrec.agents.policies.base import build_policy
from simrec.config import load_scenario
from simrec.core.rng import child_rng
from simrec.env.model import SimModel
from simrec.recommenders.base import build_recommender
from simrec.social.communities import detect_communities
from simrec.world.build import build_world


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--m", type=int, default=5)
    args = ap.parse_args()
    cfg = load_scenario(
        data={
            "name": "bench_social",
            "seed": 1,
            "environment": {
                "data": {"source": "synthetic", "n_users": args.users, "n_items": args.items, "n_genres": 16,
                         "split": {"kind": "none"}},
                "page_size": 10,
                "pages_per_session": 5,
                "social": {"builder": "barabasi_albert", "m": args.m,
                           "metrics": {"every": 1, "community_every": 0, "graphml": False}},
            },  # fmt: skip
            "recommender": {"name": "most_popular"},
            "run": {"steps": args.steps, "export": []},
        }
    )
    t = time.perf_counter()
    world = build_world(cfg)
    build_s = time.perf_counter() - t
    rec = build_recommender("most_popular", {}, child_rng(1, "recommender"))
    rec.fit(world.train, world.catalog, n_users=world.population.n_users)
    policy = build_policy(cfg.policy, world, child_rng(1, "policy"))
    t = time.perf_counter()
    model = SimModel(world, cfg, rec, policy, create_agents=False)
    setup_s = time.perf_counter() - t
    print(f"{args.users:,} users, {args.items:,} items, Barabási–Albert m={args.m}: "
          f"{world.graph.n_edges:,} ties ({world.graph.n_arcs:,} arcs); share_rate "
          f"{cfg.environment.social.dynamics.share_rate}, choice policy, most_popular")  # fmt: skip
    print(f"build world (incl. graph) {build_s:6.2f} s; social state setup {setup_s:5.2f} s")
    print(f"{'step':>4} {'sessions':>9} {'shares':>8} {'slot':>7} {'follows':>8} {'unfollows':>9} "
          f"{'edges':>9} {'socialize s':>11} {'perceive s':>10} {'metrics s':>9} {'step s':>7}")  # fmt: skip
    worst = 0.0
    for _ in range(args.steps):
        before = dict(model.timings)
        t = time.perf_counter()
        model.step()
        step_s = time.perf_counter() - t
        d = {k: model.timings.get(k, 0.0) - before.get(k, 0.0) for k in ("socialize", "perceive", "collect")}
        m = model.step_metrics
        worst = max(worst, d["socialize"])
        print(f"{model.steps:>4} {int(m['sessions']):>9,} {int(m['shares']):>8,} {int(m['social_impressions']):>7,} "
              f"{int(m['follows']):>8,} {int(m['unfollows']):>9,} {int(m['edges']):>9,} {d['socialize']:>11.3f} "
              f"{d['perceive']:>10.3f} {d['collect']:>9.3f} {step_s:>7.2f}")  # fmt: skip
    print(f"slowest socialize phase: {worst:.3f} s per step (target < 2 s)")
    t = time.perf_counter()
    labels = detect_communities(world.graph, seed=0)
    print(f"community detection (auto: label propagation at this size): {time.perf_counter() - t:.2f} s, "
          f"{len(set(labels.tolist())):,} communities")


if __name__ == "__main__":
    main()
