"""Soak: 10,000 users × 100 steps in choice mode, a living social graph, MF retrained every 10 steps.

Samples the process's resident memory after every step and prints it every 10 steps,
with the growth from step 10 to the end (target: under 10 %).

Usage: python benchmarks/soak.py [--users 10000] [--steps 100] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil

from simrec.config import load_scenario
from simrec.env.runner import run_scenario

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--set", nargs="*", default=[], dest="overrides", help="more key=value overrides")
    args = ap.parse_args()
    proc = psutil.Process()
    rss: list[float] = []

    def sample(info) -> None:  # noqa: ANN001
        if info.page is None:
            rss.append(proc.memory_info().rss / 2**20)
            if info.step % 10 == 0:
                print(f"step {info.step:4d}: RSS {rss[-1]:8.1f} MiB, {info.events:,} events", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_scenario(ROOT / "scenarios" / "quickstart.yaml", [
            "policy.name=choice", f"environment.data.n_users={args.users}", "environment.data.n_items=3000",
            "environment.social.builder=watts_strogatz", "environment.social.k=6",
            "environment.social.dynamics.share_rate=0.2", "recommender.retrain_every=10",
            f"run.steps={args.steps}", f"run.output_dir={tmp}", "run.report=false", "run.export=[]",
            *args.overrides,
        ])  # fmt: skip
        t = time.perf_counter()
        run_scenario(cfg, progress=sample)
        wall = time.perf_counter() - t
    base = rss[min(9, len(rss) - 1)]
    print(f"{args.users:,} users × {args.steps} steps in {wall:,.0f} s; RSS at step 10 {base:.1f} MiB, "
          f"at the end {rss[-1]:.1f} MiB, peak {max(rss):.1f} MiB: growth after step 10 {rss[-1] / base - 1:+.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
