"""Throughput of the core run loop (issue: the core run loop).

Choice-model mode on a synthetic world of 100,000 users and 10,000 items, pages
of 10 items, most-popular recommender (so the figure measures the simulator,
not the recommender). Prints impressions per second over the simulated steps,
peak RSS of the process, and the split of time per phase. Then, separately,
the time MF takes to recommend for all 100,000 users (batched top-k).

Usage: python benchmarks/run_loop.py [--users 100000] [--items 10000] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from simrec.config import load_scenario
from simrec.core.rng import child_rng
from simrec.env.model import PHASES
from simrec.env.runner import run_scenario
from simrec.recommenders.base import build_recommender
from simrec.world.build import build_world

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--skip-mf", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [
            f"environment.data.n_users={args.users}",
            f"environment.data.n_items={args.items}",
            "environment.page_size=10",
            "recommender.name=most_popular",
            f"run.steps={args.steps}",
            f"run.output_dir={tmp}",
            "run.export=[]",
        ]
        cfg = load_scenario(
            data={"name": "bench_run_loop", "seed": 1, "environment": {"from": str(ROOT / "environments/synthetic_large.yaml")}},
            overrides=overrides,
        )
        result = run_scenario(cfg)
        manifest = json.loads((result.run_dir / "manifest.json").read_text())
        rss_sim = peak_rss_mb()

    t = result.totals
    sim_s = result.timings["simulate"]
    print(f"world: {args.users:,} users x {args.items:,} items, page 10, {args.steps} steps, most_popular, choice policy")
    print(f"build world             {result.timings['build_world']:8.2f} s")
    print(f"simulate                {sim_s:8.2f} s  ({args.steps} steps)")
    print(f"sessions                {t['sessions']:>12,}")
    print(f"impressions             {t['impressions']:>12,}")
    print(f"events written          {t['events']:>12,}")
    print(f"impressions / s         {t['impressions'] / sim_s:>12,.0f}   (target >= 200,000)")
    print(f"peak RSS                {rss_sim:10.0f} MB (target < 2048 MB; whole process incl. world build)")
    print("time per phase (s, share of simulate):")
    phases = manifest["phase_timings_s"]
    for p in PHASES:
        print(f"  {p:<10} {phases[p]:8.3f}  {phases[p] / sim_s:6.1%}")
    other = sim_s - sum(phases.values())
    print(f"  {'other':<10} {other:8.3f}  {other / sim_s:6.1%}  (metrics file, progress, glue)")

    if args.skip_mf:
        return
    cfg_mf = load_scenario(
        data={"name": "bench_mf", "seed": 1, "environment": {"from": str(ROOT / "environments/synthetic_large.yaml")}},
        overrides=[f"environment.data.n_users={args.users}", f"environment.data.n_items={args.items}"],
    )
    world = build_world(cfg_mf)
    rec = build_recommender("mf", {"factors": 32, "iterations": 5}, child_rng(1, "recommender"))
    t0 = time.perf_counter()
    rec.fit(world.train, world.catalog, n_users=world.population.n_users)
    fit_s = time.perf_counter() - t0
    users = np.arange(world.population.n_users)
    print(f"MF (implicit ALS, 32 factors, 5 iterations) fit on {len(world.train):,} interactions: {fit_s:.2f} s")
    for k in (10, 50):
        t0 = time.perf_counter()
        recs = rec.recommend(users, k, exclude_seen=True)
        dt = time.perf_counter() - t0
        print(f"MF recommend top-{k:<3} for all {len(users):,} users (seen excluded): {dt:6.2f} s  "
              f"({len(users) / dt:,.0f} users/s), shape {recs.shape}")  # fmt: skip
    print(f"peak RSS after MF       {peak_rss_mb():10.0f} MB")


if __name__ == "__main__":
    main()
