"""Throughput and memory of the core run loop (issues: the core run loop; scale, issue 17).

Choice-model mode on a synthetic world (default 100,000 users and 10,000 items;
``--users 1000000`` for the million-user figures), pages of 10 items, most-popular
recommender (so the figure measures the simulator, not the recommender). For each
``run.log`` setting (``--log``; default all three, each in a fresh process so its
peak RSS is its own) it prints the world build time (building the world in the
preflight plus calibrating and writing it), impressions per second over the
simulated steps *including* writing the log, the rows written, peak RSS of the
process and the split of time per phase. Then, separately, the time MF takes to
recommend for all users (batched top-k).

Usage: python benchmarks/run_loop.py [--users 100000] [--items 10000] [--steps 5]
       [--log events|interactions|aggregates|all] [--skip-mf]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
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
LOGS = ("events", "interactions", "aggregates")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--log", choices=(*LOGS, "all"), default="all")
    ap.add_argument("--skip-mf", action="store_true")
    args = ap.parse_args()
    if args.log == "all":  # one process per setting: each peak RSS is that setting's own
        for log in LOGS:
            cmd = [sys.executable, __file__, "--users", str(args.users), "--items", str(args.items),
                   "--steps", str(args.steps), "--log", log, "--skip-mf"]  # fmt: skip
            subprocess.run(cmd, check=True)
            print()
        if not args.skip_mf:
            mf_figures(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [
            f"environment.data.n_users={args.users}",
            f"environment.data.n_items={args.items}",
            "environment.page_size=10",
            "recommender.name=most_popular",
            f"run.steps={args.steps}",
            f"run.output_dir={tmp}",
            "run.export=[]",
            f"run.log={args.log}",
        ]
        cfg = load_scenario(
            data={"name": "bench_run_loop", "seed": 1, "environment": {"from": str(ROOT / "environments/synthetic_large.yaml")}},
            overrides=overrides,
        )
        result = run_scenario(cfg)
        manifest = json.loads((result.run_dir / "manifest.json").read_text())
        written = sum(p.stat().st_size for p in result.run_dir.rglob("*") if p.is_file())
        rss_sim = peak_rss_mb()

    t = result.totals
    sim_s = result.timings["simulate"]
    build_s = result.timings["preflight"] + result.timings["build_world"]
    print(f"world: {args.users:,} users x {args.items:,} items, page 10, {args.steps} steps, most_popular, "
          f"choice policy, run.log={args.log}")  # fmt: skip
    print(f"build world             {build_s:8.2f} s  (preflight build {result.timings['preflight']:.2f} s + "
          f"calibrate and write {result.timings['build_world']:.2f} s; target < 30 s at 1M users)")  # fmt: skip
    print(f"simulate                {sim_s:8.2f} s  ({args.steps} steps, writing the log included)")
    print(f"sessions                {t['sessions']:>12,}")
    print(f"impressions             {t['impressions']:>12,}")
    print(f"event rows written      {t['events']:>12,}")
    print(f"run folder              {written / 2**20:10.0f} MB")
    print(f"impressions / s         {t['impressions'] / sim_s:>12,.0f}   (target >= 1,000,000 at 1M users)")
    print(f"peak RSS                {rss_sim:10.0f} MB (target < 4096 MB at 1M users; whole process incl. world build)")
    print("time per phase (s, share of simulate):")
    phases = manifest["phase_timings_s"]
    for p in PHASES:
        print(f"  {p:<10} {phases[p]:8.3f}  {phases[p] / sim_s:6.1%}")
    other = sim_s - sum(phases.values())
    print(f"  {'other':<10} {other:8.3f}  {other / sim_s:6.1%}  (metrics file, progress, glue)")
    if not args.skip_mf:
        mf_figures(args)


def mf_figures(args: argparse.Namespace) -> None:
    """Batched MF top-k for every user of the world."""
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
